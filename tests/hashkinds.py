"""Classes the hash-rule tests hash (tests/test_hash_rule.py): module-level, so values made of
them can be pickled to another process and hashed there."""

from __future__ import annotations

import collections
import copy

import numpy as np

Pair = collections.namedtuple("Pair", "a b")


class TaggedList(list):
    """A list with an extra attribute (a task can read ``.tag``)."""


class TaggedStr(str):
    """A str with an extra attribute."""


class TaggedSet(set):
    """A set subclass (its content used to be dropped: every instance shared one hash)."""


class SlotList(list):
    """A list whose extra state lives in ``__slots__``."""

    __slots__ = ("unit", "__secret")


class Units(np.ndarray):
    """An ndarray subclass with state: its unit."""

    def __array_finalize__(self, obj: object) -> None:
        self.unit = getattr(obj, "unit", None)

    def __deepcopy__(self, memo: dict) -> Units:
        out = np.ndarray.__deepcopy__(self, memo)
        out.unit = copy.deepcopy(self.unit, memo)
        return out

    def __reduce__(self) -> tuple:  # the unit survives pickling
        return _units, (np.asarray(self), self.unit)


def _units(data: np.ndarray, unit: object) -> Units:
    out = data.view(Units)
    out.unit = unit
    return out


def units(data: object, unit: object) -> Units:
    """An array of ``data`` in ``unit``."""
    return _units(np.asarray(data), unit)


def tagged(cls: type, content: object, tag: object) -> object:
    """An instance of ``cls`` (TaggedList, TaggedStr, TaggedSet) with ``.tag`` set."""
    out = cls(content)
    out.tag = tag
    return out
