"""Version-stable hashing of task arguments.

Values are turned into a canonical byte encoding (type tag + content) that does not depend
on the Python version, the process or dict ordering, then hashed with SHA-1 (as Jug's 40-hex
task hashes).  The encoding is versioned (:data:`ENCODING_VERSION`): a change to it changes
every hash, on purpose.

Fast paths keep large arguments cheap: numpy arrays hash their dtype, shape and raw bytes;
lists and tuples of plain scalars go through one C-level ``json.dumps`` call instead of a
Python loop.  Objects may define ``__jug_hash__()`` returning ``str`` or ``bytes``.
Other objects fall back to their class name plus ``__getstate__``/``__dict__``, or, last,
a pickle with a pinned protocol.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
import struct
import sys
import types
from array import array
from typing import Any

ENCODING_VERSION = b"jug-hash/1"
_PICKLE_PROTOCOL = 4  # pinned: the default protocol changes between Python versions

_PLAIN = (int, float, str, bool, type(None))
_PLAIN_SET = frozenset(_PLAIN)
_INT_ONLY = {int}
_FLOAT_ONLY = {float}


def _packed(code: str, seq: Any) -> bytes:
    """Little-endian machine representation of a homogeneous int64/float64 sequence."""
    arr = array(code, seq)
    if sys.byteorder != "little":
        arr.byteswap()
    return arr.tobytes()
_LEN = struct.Struct(">Q")
_json_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def new_hasher() -> Any:
    """A fresh hash object, seeded with the encoding version."""
    h = hashlib.sha1()
    h.update(ENCODING_VERSION)
    return h


def json_scalars(seq: Any) -> bytes | None:
    """Encode a list/tuple of plain scalars in one C call, or None if it holds anything else."""
    kinds = set(map(type, seq))
    if kinds == _INT_ONLY:
        if len(seq) > 64:
            try:
                return b"Q" + _packed("q", seq)
            except OverflowError:
                pass
        return b"I" + ",".join(map(str, seq)).encode()
    if kinds == _FLOAT_ONLY and len(seq) > 64:
        return b"D" + _packed("d", seq)
    if not kinds <= _PLAIN_SET:
        return None
    try:
        return b"J" + _json_encode(seq).encode()
    except (ValueError, OverflowError):
        return None


def _put(h: Any, tag: bytes, data: bytes | memoryview) -> None:
    h.update(tag)
    h.update(_LEN.pack(len(data)))
    h.update(data)


def hash_update(h: Any, obj: Any) -> None:
    """Feed the canonical encoding of ``obj`` into hasher ``h``."""
    # An explicit stack instead of recursion: deep nesting must not hit the recursion limit.
    stack = [obj]
    while stack:
        o = stack.pop()
        t = type(o)
        if t is str:
            _put(h, b"s", o.encode("utf-8", "surrogatepass"))
        elif t is int:
            _put(h, b"i", str(o).encode())
        elif t is float:
            _put(h, b"f", repr(o).encode())
        elif t is bool:
            h.update(b"T" if o else b"F")
        elif o is None:
            h.update(b"N")
        elif t is bytes:
            _put(h, b"b", o)
        elif t is list or t is tuple:
            tag = b"l" if t is list else b"t"
            fast = json_scalars(o) if len(o) > 8 else None
            if fast is not None:
                _put(h, tag + b"j", fast)
            else:
                _put(h, tag, b"")
                h.update(_LEN.pack(len(o)))
                stack.append(_End)
                stack.extend(reversed(o))
        elif t is dict:
            _put(h, b"d", b"")
            h.update(_LEN.pack(len(o)))
            stack.append(_End)
            for k, v in sorted(((hash_one(k), v) for k, v in o.items()), key=lambda kv: kv[0]):
                h.update(k.encode())
                stack.append(v)
        elif t is set or t is frozenset:
            _put(h, b"S" if t is set else b"Z", "".join(sorted(hash_one(x) for x in o)).encode())
        elif o is _End:
            h.update(b"]")
        else:
            _hash_other(h, o, stack)


class _End:
    """Marker closing a container in the encoding stream."""


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"


def _hash_other(h: Any, o: Any, stack: list) -> None:
    """Encode everything that is not a builtin container or scalar."""
    jh = getattr(o, "__jug_hash__", None)
    if jh is not None and not isinstance(o, type):
        v = jh()
        _put(h, b"J", v.encode() if isinstance(v, str) else bytes(v))
        return
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(o, np.ndarray) and not o.dtype.hasobject:
            _put(h, b"A", f"{o.dtype.str}|{o.shape}".encode())
            arr = np.ascontiguousarray(o)
            _put(h, b"a", memoryview(arr).cast("B") if arr.size else b"")
            return
        if isinstance(o, np.generic) and not isinstance(o, np.object_):
            _put(h, b"G", f"{o.dtype.str}".encode())
            _put(h, b"g", o.tobytes())
            return
    if isinstance(o, functools.partial):
        _put(h, b"p", b"")
        stack.append((o.func, o.args, o.keywords))
        return
    bound_to = getattr(o, "__self__", None)
    if bound_to is not None and isinstance(o, (types.MethodType, types.BuiltinMethodType)) \
            and not isinstance(bound_to, types.ModuleType):
        # a bound method: its name and the object it is bound to
        _put(h, b"M", _qualname(o).encode())
        stack.append(bound_to)
        return
    if callable(o) and hasattr(o, "__qualname__") and hasattr(o, "__module__"):
        _put(h, b"C", _qualname(o).encode())
        return
    if isinstance(o, (str, int, float, bytes, list, tuple, dict)):
        # subclasses of builtins: class name plus the builtin content
        _put(h, b"U", _qualname(type(o)).encode())
        for base in (str, int, float, bytes, list, tuple, dict):
            if isinstance(o, base):
                stack.append(base(o))
                return
    state = None
    getstate = getattr(o, "__getstate__", None)
    if getstate is not None:
        try:
            state = getstate()
        except TypeError:
            state = None
    if state is None:
        state = getattr(o, "__dict__", None)
    if state is not None:
        _put(h, b"O", _qualname(type(o)).encode())
        stack.append(state)
        return
    _put(h, b"P", pickle.dumps(o, protocol=_PICKLE_PROTOCOL))


def hash_one(obj: Any) -> str:
    """The hex hash of one object (a helper for ``CustomHash`` functions)."""
    h = new_hasher()
    hash_update(h, obj)
    return h.hexdigest()
