"""Version-stable hashing of task arguments.

Values are turned into a canonical byte encoding (type tag + content) that does not depend
on the process or dict ordering, then hashed with SHA-1 (as Jug's 40-hex task hashes).  The
encoding is versioned (:data:`ENCODING_VERSION`): a change to it changes every hash, on purpose.

Fast paths keep large arguments cheap: numpy arrays hash their dtype, shape and raw bytes;
lists and tuples of plain scalars are packed in C (``array``) or go through one C-level
``json.dumps`` call instead of a Python loop.  Inside a :func:`hash_session` (one bulk pass
over the tasks, during which no user code runs that could mutate arguments) the encoding of
a large list is computed once per list object, however many tasks share it.

Objects may define ``__jug_hash__()`` returning ``str`` or ``bytes``.  Functions that their
module and name designate are hashed by that name (like the task function itself); other
functions (lambdas, closures, functions defined in functions) by their code, defaults,
closure values and the globals they use -- a class among those by its content -- so two
different callables never share a hash.  Record dtypes count by their full description;
subclasses of built-ins and of ``ndarray`` by their class, their built-in content and the
state they add (a mask, an order, a default factory, ``__dict__``, ``__slots__``).  Other
objects fall back to their class name plus ``__getstate__``/``__dict__``, or, last, a
pickle with a pinned protocol.  What cannot be hashed faithfully (a lock, an open file, a
structure that contains itself, state kept by a class written in C) raises
:class:`UnhashableError`.  The whole rule is written down in the README ("Hashes").
"""

from __future__ import annotations

import collections
import enum
import functools
import hashlib
import io
import json
import marshal
import pickle
import struct
import sys
import threading
import types
from array import array
from contextlib import contextmanager
from typing import Any, Iterator

ENCODING_VERSION = b"jug-hash/1"
_PICKLE_PROTOCOL = 4  # pinned: the default protocol changes between Python versions

_PLAIN = (int, float, str, bool, type(None))
_PLAIN_SET = frozenset(_PLAIN)
_INT_ONLY = {int}
_FLOAT_ONLY = {float}
_LEN = struct.Struct(">Q")
_json_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode

#: lists/tuples at least this long have their scan and encoding cached in a session
CACHE_MIN_LEN = 1000
#: the most bytes of encodings a session keeps (beyond it, older entries are dropped)
CACHE_BUDGET = 256 << 20


class UnhashableError(ValueError):
    """A value cannot be hashed faithfully; ``reason`` says why, ``advice`` what to do."""

    def __init__(self, reason: str, advice: str = "") -> None:
        self.reason = reason
        self.advice = advice
        super().__init__(reason + (f"; {advice}" if advice else ""))


class _Session:
    """Per-bulk-pass cache: id -> (object kept alive, value), for large lists and tuples.

    Holding the object keeps its id from being reused by another object; the cache lives
    only while jug's own code hashes (no user code runs that could mutate the lists).
    """

    __slots__ = ("kinds", "encodings", "size", "classes")

    def __init__(self) -> None:
        self.kinds: dict[int, tuple[Any, frozenset]] = {}
        self.encodings: dict[int, tuple[Any, tuple]] = {}
        self.classes: dict[int, tuple[type, str]] = {}  # class_digest of classes
        self.size = 0

    def remember(self, o: Any, enc: tuple) -> None:
        n = len(enc[1])
        while self.encodings and self.size + n > CACHE_BUDGET:
            _, (_, old) = self.encodings.popitem()
            self.size -= len(old[1])
        if n <= CACHE_BUDGET:
            self.encodings[id(o)] = (o, enc)
            self.size += n


class _Local(threading.local):
    """Per-thread session state: ``depth`` > 0 inside a session; the cache is made on first use."""

    def __init__(self) -> None:
        self.depth = 0
        self.session: _Session | None = None
        self.classes: set[int] = set()  # classes whose content is being hashed


_local = _Local()


@contextmanager
def hash_session() -> Iterator[None]:
    """Scope in which each large list/tuple is scanned and encoded once (nested: no-op).

    Open it around a bulk pass that hashes many tasks and runs no user code in between;
    leaving it drops the cache, so a list mutated afterwards is hashed afresh.
    """
    _local.depth += 1
    try:
        yield
    finally:
        _local.depth -= 1
        if not _local.depth:
            _local.session = None


def scalar_kinds(seq: Any) -> frozenset:
    """The set of element types of a list/tuple (cached per object inside a session)."""
    if len(seq) < CACHE_MIN_LEN:
        return frozenset(map(type, seq))
    session = _session()
    if session is None:
        return frozenset(map(type, seq))
    hit = session.kinds.get(id(seq))
    if hit is not None and hit[0] is seq:
        return hit[1]
    kinds = frozenset(map(type, seq))
    session.kinds[id(seq)] = (seq, kinds)
    return kinds


def new_hasher() -> Any:
    """A fresh hash object, seeded with the encoding version."""
    h = hashlib.sha1()
    h.update(ENCODING_VERSION)
    return h


def _packed(code: str, seq: Any) -> memoryview:
    """Little-endian machine representation of a homogeneous int64/float64 sequence."""
    arr = array(code, seq)
    if sys.byteorder != "little":
        arr.byteswap()
    return memoryview(arr).cast("B")


_SIGN = bytes(0xFF if b >= 0x80 else 0 for b in range(256))  # high byte -> sign-extension byte
_MARSHAL_SLOTS = {int: (b"i", 4), float: (b"g", 8)}  # marshal v2 type code, payload bytes


def _marshal_packed(seq: Any) -> tuple[bytes, Any] | None:
    """The ``Q``/``D`` encoding of a long list of only ints (in int32) or only floats, or None.

    One C pass instead of a type scan plus a packing pass: ``marshal`` (version 2: no
    back-references, so canonical) checks exact types itself -- a bool, an int subclass or
    anything else has another record size or code -- and if every record has the int/float
    size and type code, the records are exactly those values.  Their little-endian payloads
    are moved into the int64/float64 layout of :func:`_packed`, so the hash is the same.
    """
    first = type(seq[0])
    slot = _MARSHAL_SLOTS.get(first)
    if slot is None or type(seq[-1]) is not first or type(seq[len(seq) // 2]) is not first:
        return None
    try:
        data = marshal.dumps(seq, 2)
    except ValueError:  # unmarshallable element, or too deeply nested
        return None
    code, width = slot
    n, step = len(seq), width + 1
    if len(data) != 5 + step * n or data[5::step] != code * n:
        return None
    np = sys.modules.get("numpy")
    if np is not None:  # only if already imported: importing it costs more than it saves
        kind = np.dtype([("t", "u1"), ("v", "<i4" if width == 4 else "<f8")])
        values = np.frombuffer(data, kind, offset=5)["v"]
        out = values.astype("<i8") if width == 4 else values.copy()
        return (b"Q" if width == 4 else b"D"), out.view(np.uint8).data
    packed = bytearray(8 * n)
    plane = b""
    for k in range(width):
        plane = data[6 + k::step]
        packed[k::8] = plane
    if width == 8:
        return b"D", packed
    sign = plane.translate(_SIGN)  # the high bytes' signs extend int32 to int64
    if b"\xff" in sign:  # (the zero-filled high bytes are right for non-negative values)
        for k in range(4, 8):
            packed[k::8] = sign
    return b"Q", packed


def _scalar_parts(seq: Any, kinds: frozenset) -> tuple[bytes, Any] | None:
    """(prefix, body) of the scalar encoding of ``seq``: the bytes are prefix + body."""
    if kinds == _INT_ONLY:
        if len(seq) > 64:
            try:
                return b"Q", _packed("q", seq)
            except OverflowError:
                pass
        return b"I", ",".join(map(str, seq)).encode()
    if kinds == _FLOAT_ONLY and len(seq) > 64:
        return b"D", _packed("d", seq)
    if not kinds <= _PLAIN_SET:
        return None
    try:
        encoded = _json_encode(seq)
    except (ValueError, OverflowError):
        return None
    if "NaN" in encoded and _has_odd_nan(seq):  # JSON writes every NaN as NaN
        return None
    return b"J", encoded.encode()


_DOUBLE = struct.Struct("<d")
_PLAIN_NAN = _DOUBLE.pack(float("nan"))


def _float_text(x: float) -> bytes:
    """``repr(x)``, except for a NaN with another sign or payload than ``float('nan')``'s
    (``math.copysign`` tells them apart): ``nan:`` and its bits."""
    text = repr(x)
    if text == "nan" and _DOUBLE.pack(x) != _PLAIN_NAN:
        text = "nan:" + _DOUBLE.pack(x).hex()
    return text.encode()


def _has_odd_nan(seq: Any) -> bool:
    """True if ``seq`` holds a NaN that :func:`_float_text` writes with its bits."""
    return any(type(x) is float and x != x and _DOUBLE.pack(x) != _PLAIN_NAN for x in seq)


def json_scalars(seq: Any) -> bytes | None:
    """Encode a list/tuple of plain scalars in one C call, or None if it holds anything else.

    (The hot path of tiny tasks: short argument tuples of numbers and strings.)
    """
    if len(seq) == 1 and type(seq[0]) is int:  # the commonest task of all: f(i)
        return b"I%d" % seq[0]
    kinds = set(map(type, seq))
    if kinds == _INT_ONLY and len(seq) <= 64:
        return b"I" + ",".join(map(str, seq)).encode()
    if not kinds <= _PLAIN_SET:
        return None
    parts = _scalar_parts(seq, frozenset(kinds))
    return None if parts is None else parts[0] + bytes(parts[1])


def _session() -> _Session | None:
    """The open session's cache (made now if needed), or None outside a session."""
    session = _local.session
    if session is None and _local.depth:
        session = _local.session = _Session()
    return session


def _cached_encoding(seq: Any) -> tuple[bool, tuple[bytes, Any] | None]:
    """(found, encoding) of ``seq`` in the session cache."""
    session = _session()
    if session is not None:
        hit = session.encodings.get(id(seq))
        if hit is not None and hit[0] is seq:
            return True, hit[1]
    return False, None


def _remember(seq: Any, parts: tuple[bytes, Any]) -> None:
    session = _session()
    if session is not None and len(seq) >= CACHE_MIN_LEN:
        session.remember(seq, parts)


def _scalar_encoding(seq: Any) -> tuple[bytes, Any] | None:
    """:func:`_scalar_parts` of a list/tuple, cached per object inside a session."""
    found, parts = _cached_encoding(seq)
    if found:
        return parts
    parts = _marshal_packed(seq) if len(seq) > 64 else None
    if parts is None:
        parts = _scalar_parts(seq, scalar_kinds(seq))
    if parts is not None:
        _remember(seq, parts)
    return parts


def only_scalars(seq: Any, plain: frozenset, known: dict | None = None) -> bool:
    """True if every element of list/tuple/set ``seq`` has a type in ``plain``.

    For the dependency scan: a long list of ints or floats is recognised in one pass, and its
    encoding kept for the hashing that follows (in ``known``, and in an open session).
    """
    if type(seq) is list or type(seq) is tuple:
        found, parts = _cached_encoding(seq)
        if found and parts is not None:
            return True
        if len(seq) > 64:
            parts = _marshal_packed(seq)
            if parts is not None:
                _remember(seq, parts)
                if known is not None:
                    known[id(seq)] = (seq, parts)
                return True
    return scalar_kinds(seq) <= plain


def _put(h: Any, tag: bytes, data: bytes | memoryview) -> None:
    h.update(tag)
    h.update(_LEN.pack(len(data)))
    h.update(data)


class _Marker:
    """Stack marker closing the innermost open container: emits ``end``; ``tracked`` markers
    also take the container out of the walk's open set."""

    __slots__ = ("end", "tracked")

    def __init__(self, end: bytes, tracked: bool) -> None:
        self.end = end
        self.tracked = tracked


_END = _Marker(b"]", False)  # closes a list, tuple or dict
_END_TRACKED = _Marker(b"]", True)
_END_SILENT = _Marker(b"", True)  # closes an object or function (nothing in the encoding)
_ZERO = _LEN.pack(0)
#: containers entered before cycle tracking starts: a cycle loops past it, then is caught
_TRACK_AFTER = 1000


class _Walk:
    """The containers being encoded, innermost last: a structure that contains itself is
    reported instead of looping forever.  ``opened`` keeps them alive, so ids stay unique.

    Lists, tuples and dicts are tracked only after :data:`_TRACK_AFTER` of them (small
    arguments, the common case, pay nothing); objects and functions always.
    """

    __slots__ = ("active", "opened")

    def __init__(self) -> None:
        self.active: set[int] = set()
        self.opened: list = []

    def enter(self, o: Any, stack: list, marker: _Marker) -> None:
        i = id(o)
        if i in self.active:
            raise UnhashableError(
                f"it contains itself (a {type(o).__name__} that refers back to itself)",
                "jug cannot hash a self-referencing structure: pass one without the cycle, or "
                "an object whose __jug_hash__() method returns a key for it")
        self.active.add(i)
        self.opened.append(o)
        stack.append(marker)

    def leave(self) -> None:
        self.active.discard(id(self.opened.pop()))


def hash_update(h: Any, obj: Any, known: dict | None = None) -> None:
    """Feed the canonical encoding of ``obj`` into hasher ``h``.

    An explicit stack instead of recursion: deep nesting must not hit the recursion limit.
    ``known`` maps id -> (list, encoding) of lists a dependency scan has just encoded.
    """
    stack: list = [obj]
    walk: _Walk | None = None
    count = 0  # lists, tuples and dicts entered
    while stack:
        o = stack.pop()
        t = type(o)
        if t is str:
            _put(h, b"s", o.encode("utf-8", "surrogatepass"))
        elif t is int:
            _put(h, b"i", str(o).encode())
        elif t is float:
            _put(h, b"f", _float_text(o))
        elif t is bool:
            h.update(b"T" if o else b"F")
        elif o is None:
            h.update(b"N")
        elif t is bytes:
            _put(h, b"b", o)
        elif t is list or t is tuple:
            tag = b"l" if t is list else b"t"
            fast = _known_or_scalar_encoding(o, known) if len(o) > 8 else None
            if fast is not None:
                prefix, body = fast
                h.update(tag + b"j" + _LEN.pack(len(prefix) + len(body)) + prefix)
                h.update(body)
            else:
                count += 1
                walk = _enter(o, stack, walk, count)
                h.update(tag + _ZERO + _LEN.pack(len(o)))
                stack.extend(reversed(o))
        elif t is _Marker:
            h.update(o.end)
            if o.tracked:
                walk.leave()  # type: ignore[union-attr]
        elif t is dict:
            count += 1
            walk = _enter(o, stack, walk, count)
            _hash_dict(h, o, stack)
        elif t is set or t is frozenset:
            _put(h, b"S" if t is set else b"Z", "".join(sorted(hash_one(x) for x in o)).encode())
        else:
            walk = _hash_nonbuiltin(h, o, stack, walk)


def _known_or_scalar_encoding(o: Any, known: dict | None) -> tuple[bytes, Any] | None:
    """The encoding the dependency scan just made of ``o``, else :func:`_scalar_encoding`."""
    hit = known.get(id(o)) if known else None
    return hit[1] if hit is not None and hit[0] is o else _scalar_encoding(o)


def _enter(o: Any, stack: list, walk: _Walk | None, count: int) -> _Walk | None:
    """Open container ``o`` (the ``count``-th): push its end marker, tracked past the limit."""
    if count > _TRACK_AFTER:
        walk = walk or _Walk()
        walk.enter(o, stack, _END_TRACKED)
    else:
        stack.append(_END)
    return walk


def _hash_dict(h: Any, o: dict, stack: list) -> None:
    """Header of a dict, its keys' hashes in sorted order, its values pushed to follow."""
    h.update(b"d" + _ZERO + _LEN.pack(len(o)))
    for k, v in sorted(((hash_one(k), v) for k, v in o.items()), key=lambda kv: kv[0]):
        h.update(k.encode())
        stack.append(v)


def _hash_nonbuiltin(h: Any, o: Any, stack: list, walk: _Walk | None) -> _Walk | None:
    """Objects with ``__jug_hash__`` (Tasks, CustomHash...), else :func:`_hash_other`."""
    jh = getattr(o, "__jug_hash__", None)
    if jh is not None and not isinstance(o, type):
        v = jh()
        _put(h, b"J", v.encode() if isinstance(v, str) else bytes(v))
        return walk
    walk = walk or _Walk()
    _hash_other(h, o, stack, walk)
    return walk


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"


def is_named(obj: Any) -> bool:
    """True if ``obj``'s module and qualified name lead back to this very object (so the name
    identifies it: a lambda, a closure or a shadowed function is not named)."""
    qualname = getattr(obj, "__qualname__", None)
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    if module is None or not isinstance(qualname, str) or "<" in qualname:
        return False
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            return False
    return (target is obj or getattr(target, "__func__", None) is obj
            or getattr(target, "__wrapped__", None) is obj)


def _hash_other(h: Any, o: Any, stack: list, walk: _Walk) -> None:
    """Encode everything that is not a builtin container or scalar (nor has __jug_hash__)."""
    if _hash_numpy(h, o, stack, walk):
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
    if type(o) is _ClassContent:
        _hash_class_content(h, o.cls)
        return
    if _hash_code_or_function(h, o, stack, walk):
        return
    if isinstance(o, _BUILTIN_BASES) and type(o) not in _BASE_CONTENT:  # (complex and
        _hash_builtin_subclass(h, o, stack)  # bytearray themselves are pickled below)
        return
    _hash_object(h, o, stack, walk)


# -- subclasses of built-ins and of numpy types: the type, the built-in content, the rest --

_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: the class was made by a class statement (or alike)


def _tuple_content(o: tuple) -> tuple:
    return tuple(tuple.__iter__(o))


#: each built-in base and how to read a subclass instance's built-in content without going
#: through methods the subclass may override (``str(o)`` would call its ``__str__``)
_BASE_CONTENT: dict[type, Any] = {
    str: str.__str__, int: int.__index__, float: float.__float__,
    complex: lambda o: complex(complex.real.__get__(o), complex.imag.__get__(o)),
    bytes: lambda o: bytes(memoryview(o)), bytearray: lambda o: bytearray(memoryview(o)),
    list: list.copy, tuple: _tuple_content, dict: lambda o: dict(dict.items(o)),
    set: lambda o: set(set.__iter__(o)), frozenset: lambda o: frozenset(frozenset.__iter__(o)),
}
_BUILTIN_BASES = tuple(_BASE_CONTENT)
#: C classes derived from built-ins whose state jug reads itself (the order, the factory),
#: or whose state is all in the built-in (IsoCalendarDate is a tuple with names)
_KNOWN_C_SUBCLASSES = frozenset(("collections.OrderedDict", "collections.defaultdict",
                                 "datetime.IsoCalendarDate"))


class _Unset:
    """Stands for a ``__slots__`` attribute that has no value."""

    def __jug_hash__(self) -> bytes:
        return b"unset-slot"


def instance_state(o: Any) -> dict:
    """What a class statement can add to an instance: its ``__dict__`` and ``__slots__``.

    Empty for an instance with neither (a namedtuple, a Counter without attributes), so
    those keep the encoding of type plus built-in content they always had.
    """
    state: dict = {}
    attrs = getattr(o, "__dict__", None)
    if attrs:
        state["__dict__"] = dict(attrs)
    slots = {}
    for klass in type(o).__mro__:
        names = klass.__dict__.get("__slots__", ())
        for name in (names,) if isinstance(names, str) else names:
            if name in ("__dict__", "__weakref__"):
                continue
            if name.startswith("__") and not name.endswith("__"):  # private: name-mangled
                name = f"_{klass.__name__.lstrip('_')}{name}"
            try:
                slots[f"{_qualname(klass)}.{name}"] = klass.__dict__[name].__get__(o)
            except (AttributeError, KeyError):
                slots[f"{_qualname(klass)}.{name}"] = _Unset()
    if slots:
        state["__slots__"] = slots
    return state


def check_state_visible(cls: type, base: type) -> None:
    """Refuse an instance of ``cls`` if a class between it and ``base`` keeps state in C.

    A class statement can add only ``__dict__`` and ``__slots__`` (which jug reads); a class
    written in C (not a heap type) may hold fields jug cannot see, so two different values
    could share a hash.
    """
    for klass in cls.__mro__:
        if klass.__flags__ & _HEAPTYPE or klass in base.__mro__ \
                or _qualname(klass) in _KNOWN_C_SUBCLASSES:
            continue
        where = "is" if klass is cls else f"derives from {_qualname(klass)},"
        raise UnhashableError(
            f"a {_qualname(cls)} object {where} a class written in C whose state jug cannot "
            "read (two different values could share a hash)",
            "pass plain data (a tuple, a dict, a numpy array), or give the class a "
            "__jug_hash__() method")


def _hash_typed(h: Any, cls: type, content: Any, extra: dict, stack: list) -> None:
    """``U`` + class name + content (as for every subclass before extra state was hashed), or
    ``V`` + class name + (content, extra state) when there is extra state."""
    if extra:
        _put(h, b"V", _qualname(cls).encode())
        stack.append((content, extra))
    else:
        _put(h, b"U", _qualname(cls).encode())
        stack.append(content)


def _hash_builtin_subclass(h: Any, o: Any, stack: list) -> None:
    """A subclass of a built-in: its class, its built-in content and everything it adds."""
    cls = type(o)
    base = next(b for b in _BUILTIN_BASES if isinstance(o, b))
    content = _BASE_CONTENT[base](o)
    if isinstance(o, enum.Enum):  # a member: its class and value say which (IntEnum, StrEnum)
        _hash_typed(h, cls, content, {}, stack)
        return
    extra: dict = {}
    if hasattr(cls, "n_sequence_fields"):  # a C struct sequence (os.stat_result): its
        extra["fields"] = o.__reduce__()[1][1]  # fields beyond the tuple (st_mtime_ns...)
    else:
        check_state_visible(cls, base)
    if isinstance(o, collections.OrderedDict):  # its order is part of its value (==, iter)
        content = list(collections.OrderedDict.items(o))
    if isinstance(o, collections.defaultdict):
        extra["default_factory"] = o.default_factory
    extra.update(instance_state(o))
    _hash_typed(h, cls, content, extra, stack)


# -- numpy --

def dtype_key(dt: Any) -> str:
    """The full description of a numpy dtype: ``dtype.str`` for a plain one (as before); for a
    structured one its scalar type, size, alignment and each field's name, offset, title
    and dtype (nested); for a subarray its base and shape.  (``dtype.str`` of any 16-byte
    record is ``|V16``.)"""
    if dt.fields is None and dt.subdtype is None:
        return dt.str
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        return f"({dtype_key(base)}){shape}"
    fields = []
    for name in dt.names:
        sub, offset, *title = dt.fields[name]
        fields.append(f"{name!r}@{offset}{title!r}:{dtype_key(sub)}")
    aligned = "aligned;" if dt.isalignedstruct else ""
    return f"{{{_qualname(dt.type)};{dt.itemsize};{aligned}{','.join(fields)}}}"


_PACKED: dict = {}  # record dtype -> the same fields without gaps (None: it has none)


def _packed_record(np: Any, dt: Any) -> Any:
    """``dt`` without its padding, or None if it has none: the bytes between fields are
    not part of the value (a copy does not keep them, ``np.empty`` leaves garbage), so a
    record with gaps is hashed through a gap-free copy of its fields (the dtype's full
    description, offsets included, is hashed beside it)."""
    try:
        return _PACKED[dt]
    except KeyError:
        pass
    packed = _gap_free(np, dt)
    _PACKED[dt] = None if packed == dt and packed.itemsize == dt.itemsize else packed
    return _PACKED[dt]


def _gap_free(np: Any, dt: Any) -> Any:
    if dt.subdtype is not None:
        return np.dtype((_gap_free(np, dt.subdtype[0]), dt.subdtype[1]))
    if dt.fields is None:
        return dt
    return np.dtype([(name, _gap_free(np, dt.fields[name][0])) for name in dt.names])


def _by_elements(dt: Any) -> bool:
    """True if an array's bytes are not its content: objects (pointers), variable strings."""
    return dt.hasobject or dt.kind == "T"


def _hash_numpy(h: Any, o: Any, stack: list, walk: _Walk) -> bool:
    """numpy arrays and scalars (and their subclasses); False if ``o`` is none of them."""
    np = sys.modules.get("numpy")
    if np is None:
        return False
    if isinstance(o, np.ndarray):
        if type(o) is np.ndarray:
            _hash_array(h, np, o, stack, walk)
        else:
            _hash_array_subclass(h, np, o, stack)
        return True
    if isinstance(o, np.generic) and not isinstance(o, np.object_):
        dt = o.dtype
        if type(o) is not dt.type:  # a subclass of a numpy scalar type
            check_state_visible(type(o), dt.type)
            _hash_typed(h, type(o), dt.type(o), instance_state(o), stack)
        elif _by_elements(dt):  # a record with object fields: its fields, not pointers
            _put(h, b"H", dtype_key(dt).encode())
            stack.append(o.item())
        else:
            packed = _packed_record(np, dt) if dt.fields is not None else None
            _put(h, b"G", dtype_key(dt).encode())
            _put(h, b"g", o.tobytes() if packed is None else np.asarray(o).astype(packed).tobytes())
        return True
    return False


def _hash_array(h: Any, np: Any, o: Any, stack: list, walk: _Walk) -> None:
    """A plain ndarray: dtype, shape and bytes; or, for objects, dtype, shape and elements."""
    if _by_elements(o.dtype):
        walk.enter(o, stack, _END_SILENT)  # an object array may hold itself
        _put(h, b"E", f"{dtype_key(o.dtype)}|{o.shape}".encode())
        stack.append(o.tolist())
        return
    _put(h, b"A", f"{dtype_key(o.dtype)}|{o.shape}".encode())
    packed = _packed_record(np, o.dtype) if o.dtype.fields is not None else None
    arr = np.ascontiguousarray(o) if packed is None else o.astype(packed, order="C")
    _put(h, b"a", arr.reshape(-1).view(np.uint8).data if arr.nbytes else b"")


#: the instance attributes of numpy's own ndarray subclasses that are bookkeeping, not
#: value (a masked array's value attributes are read explicitly; a memmap's say where the
#: bytes live)
_MASKED_BOOKKEEPING = ("_mask", "_fill_value", "_hardmask", "_sharedmask", "_isfield",
                       "_baseclass", "_optinfo", "_basedict")
_MEMMAP_BOOKKEEPING = ("_mmap", "filename", "offset", "mode")
_MATRIX_BOOKKEEPING = ("_getitem",)


def _array_bookkeeping(np: Any, ma: Any, o: Any) -> tuple:
    if ma is not None and isinstance(o, ma.MaskedArray):
        return _MASKED_BOOKKEEPING
    if isinstance(o, np.memmap):
        return _MEMMAP_BOOKKEEPING
    return _MATRIX_BOOKKEEPING if isinstance(o, np.matrix) else ()


def _hash_array_subclass(h: Any, np: Any, o: Any, stack: list) -> None:
    """An ndarray subclass: its class, its array content and its state.

    A masked array's state is its mask (``nomask`` and an all-False mask differ: ``a.mask``
    tells them apart), its effective fill value (``filled()`` uses it) and whether the mask
    is hard; its content is its data viewed as its base class (so a masked matrix stays a
    matrix).  Other subclasses add their ``__dict__``/``__slots__``.
    """
    cls = type(o)
    check_state_visible(cls, np.ndarray)
    extra = instance_state(o)
    ma = sys.modules.get("numpy.ma")
    attrs = dict(extra.pop("__dict__", {}))
    for name in _array_bookkeeping(np, ma, o):
        attrs.pop(name, None)
    if attrs:
        extra["__dict__"] = attrs
    if ma is not None and isinstance(o, ma.MaskedArray):
        extra["masked"] = (o._mask, o.view().fill_value, bool(o._hardmask))
        content = o.data
    else:
        content = o.view(np.ndarray)
    _hash_typed(h, cls, content, extra, stack)


def _hash_code_or_function(h: Any, o: Any, stack: list, walk: _Walk) -> bool:
    """Functions, classes and code objects; False if ``o`` is none of them."""
    if isinstance(o, types.CodeType):
        _put(h, b"K", o.co_code)
        stack.append((o.co_consts, o.co_names, o.co_varnames, o.co_freevars, o.co_argcount,
                      o.co_posonlyargcount, o.co_kwonlyargcount, o.co_flags))
        return True
    if not (callable(o) and hasattr(o, "__qualname__") and hasattr(o, "__module__")):
        return False
    if is_named(o) or not isinstance(o, (types.FunctionType, type)):
        _put(h, b"C", _qualname(o).encode())
        return True
    if isinstance(o, type):
        raise UnhashableError(
            f"class {o.__qualname__} is defined inside a function, so its name does not "
            "identify it", "define the class at module level")
    if id(o) in walk.active:  # a recursive function refers to itself: a back reference
        h.update(b"R")
        return True
    walk.enter(o, stack, _END_SILENT)
    _put(h, b"F", _qualname(o).encode())
    closure = tuple(_by_content(_cell_value(c)) for c in (o.__closure__ or ()))
    defaults = tuple(map(_by_content, o.__defaults__)) if o.__defaults__ else o.__defaults__
    kwdefaults = {k: _by_content(v) for k, v in o.__kwdefaults__.items()} \
        if o.__kwdefaults__ else o.__kwdefaults__
    stack.append((o.__code__, defaults, kwdefaults, closure, _used_globals(o)))
    return True


class _ClassContent:
    """A class that a lambda or closure uses (a global, a closure value, a default): it reads
    the class's attributes (``Config.SCALE``), so the class is hashed by its content."""

    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        self.cls = cls


def _by_content(v: Any) -> Any:
    """``v``, or a class written in Python wrapped to be hashed by its content."""
    if isinstance(v, type) and v.__flags__ & _HEAPTYPE:
        return _ClassContent(v)
    return v


def _hash_class_content(h: Any, cls: type) -> None:
    _put(h, b"Y", f"{_qualname(cls)}:{class_digest(cls)}".encode())


def class_digest(cls: type) -> str:
    """The hash of a class's content: for each class of its MRO written in Python, every
    attribute but ``__dunder__`` ones, sorted by name; functions as functions are hashed
    (by name when their name leads back to them), classes by content, an attribute jug
    cannot hash by its class name.  ``R`` for a class already being hashed (a cycle).

    Cached inside a :func:`hash_session` (no user code runs there that could change a class)
    when computed from the top, so a cycle cannot make the cached value depend on order.
    """
    key = id(cls)
    session = _session()
    hit = session.classes.get(key) if session is not None else None
    if hit is not None and hit[0] is cls:
        return hit[1]
    if key in _local.classes:
        return "R"
    top = not _local.classes
    _local.classes.add(key)
    try:
        h = new_hasher()
        for klass in cls.__mro__:
            _put(h, b"c", _qualname(klass).encode())
            if klass.__flags__ & _HEAPTYPE:
                for name in sorted(klass.__dict__):
                    if not (name.startswith("__") and name.endswith("__")) \
                            and name != "_abc_impl":  # ABC bookkeeping
                        _put(h, b"n", f"{name}={_attribute_digest(klass.__dict__[name])}".encode())
        digest = h.hexdigest()
    finally:
        _local.classes.discard(key)
    if top and session is not None:
        session.classes[key] = (cls, digest)
    return digest


def _attribute_digest(v: Any) -> str:
    """The hash of one class attribute (see :func:`class_digest`)."""
    if isinstance(v, (staticmethod, classmethod)):
        v = v.__func__
    elif isinstance(v, property):
        v = (v.fget, v.fset, v.fdel)
    try:
        return hash_one(_by_content(v))
    except UnhashableError:  # a lock, a logger...: jug cannot read it, nor can it be data
        return "type:" + _qualname(type(v))


class _EmptyCell:
    """Stands for a closure cell that has no value yet."""

    def __jug_hash__(self) -> bytes:
        return b"empty-cell"


def _cell_value(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return _EmptyCell()


def _used_globals(f: types.FunctionType) -> dict:
    """The module globals ``f``'s code (and code nested in it) refers to, modules by name."""
    names: set[str] = set()
    codes = [f.__code__]
    while codes:
        c = codes.pop()
        names.update(c.co_names)
        codes.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    g = f.__globals__
    out: dict = {}
    for n in names:
        if n in g:
            v = g[n]
            out[n] = ("module", v.__name__) if isinstance(v, types.ModuleType) else _by_content(v)
    return out


def _hash_object(h: Any, o: Any, stack: list, walk: _Walk) -> None:
    """Other objects: class name and state, or a pickle; UnhashableError if neither works."""
    if isinstance(o, (io.IOBase, types.GeneratorType, threading.Thread)):
        raise UnhashableError(f"a {type(o).__qualname__} object has no stable content to hash",
                              "pass what it is made from (a file name, the data) instead")
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
        walk.enter(o, stack, _END_SILENT)
        _put(h, b"O", _qualname(type(o)).encode())
        stack.append(state)
        return
    try:
        data = pickle.dumps(o, protocol=_PICKLE_PROTOCOL)
    except Exception as e:
        raise UnhashableError(
            f"a {_qualname(type(o))} object cannot be hashed ({e})",
            "pass plain data instead, or wrap it in jug.utils.CustomHash / give its class a "
            "__jug_hash__() method") from None
    _put(h, b"P", data)


def hash_one(obj: Any) -> str:
    """The hex hash of one object (a helper for ``CustomHash`` functions)."""
    h = new_hasher()
    hash_update(h, obj)
    return h.hexdigest()
