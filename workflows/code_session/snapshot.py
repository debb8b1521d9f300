"""What a caller can observe of a value, taken as JSON: the form recorded calls are kept in.

A snapshot is plain JSON, so recordings are stored and compared without
pickle, and the comparison can run in the session's own process. The rules
(the same for the original and every candidate):

- ``None``, ``bool``, ``int``, ``float``, ``str`` are kept as they are; every
  other value becomes a tagged object (``{"t": kind, ...}``) naming its type.
- Lists, tuples, dicts, sets and other mappings, sets and sequences are taken
  element by element (dict order kept, set order ignored); numpy arrays keep
  dtype, shape and data.
- Dataclasses and objects with ``__dict__``/``__slots__`` are taken through
  their instance attributes, private ones included (networkx keeps a graph in
  ``_adj``), *except caches*: dunder names (``__networkx_cache__``), attributes
  filled by a ``functools.cached_property`` of the class (``G.adj``,
  ``G.degree``), private attributes whose value is a view of the object (an
  object whose own attributes point back to it or to another of its
  attributes), and
  the names the user lists with ``--ignore-attr`` (``name`` or ``Class.name``).
- Other objects with their own ``__eq__`` and a repr without a memory address
  are taken by that repr; functions, classes and modules by their name.
- A reference back to an enclosing object is kept as ``{"t": "cycle"}``, so a
  graph whose view points back at it is recorded without endless recursion.

Values that cannot be taken (an iterator inside a container, an object whose
repr has only an address, something too large) raise :class:`Unrecordable`,
whose message names the path.
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import enum
import functools
import json
import re
import types
from typing import Any

from trace_engine.errors import TraceEngineError

MAX_VALUES = 200_000
MAX_DEPTH = 150
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_PLAIN = (type(None), bool, int, float, str)
_NAMED = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    type,
)


class Unrecordable(TraceEngineError, ValueError):
    """The value cannot be recorded; the message names where and why."""


def type_name(value: Any) -> str:
    kind = type(value)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


class Materialized:
    """An iterator argument or result, read to the end before the call and replayed afterwards."""

    def __init__(self, kind: str, items: list, error: BaseException | None = None):
        self.kind = kind
        self.items = items
        self.error = error


class Snapshot:
    """Takes snapshots under one ignore list (``name`` or ``Class.name`` entries)."""

    def __init__(
        self, ignore_attrs: tuple[str, ...] | list[str] = (), max_values: int = MAX_VALUES
    ):
        self.ignore = set(ignore_attrs)
        self.max_values = max_values

    def take(self, value: Any, path: str) -> Any:
        """The snapshot of ``value`` (``path`` names it in error messages, e.g. ``args[0]``)."""
        self._count = 0
        self._stack: dict[int, str] = {}
        self._root = path
        return self._take(value, path)

    def _take(self, value: Any, path: str) -> Any:
        self._count += 1
        if self._count > self.max_values:
            raise Unrecordable(
                f"{self._root} is too large to record (more than {self.max_values} values)"
            )
        kind = type(value)
        if kind in _PLAIN:
            return value
        if len(self._stack) > MAX_DEPTH:
            raise Unrecordable(f"{path} is nested more than {MAX_DEPTH} levels deep")
        if id(value) in self._stack:
            return {"t": "cycle", "to": self._stack[id(value)]}
        self._stack[id(value)] = path
        try:
            return self._compound(value, path)
        finally:
            del self._stack[id(value)]

    def _compound(self, value: Any, path: str) -> Any:
        cls = type_name(value)
        if isinstance(value, Materialized):
            items = [self._take(x, f"{path}[{i}]") for i, x in enumerate(value.items)]
            node = {"t": "iter", "cls": value.kind, "items": items}
            if value.error is not None:
                node["raises"] = type_name(value.error)
            return node
        if isinstance(value, enum.Enum):
            return {"t": "enum", "cls": cls, "name": value.name}
        if _is_numpy(value, "ndarray"):
            return self._array(value, path)
        if _is_numpy(value, "generic"):
            return {"t": "scalar", "cls": cls, "v": self._take(value.item(), path)}
        if isinstance(value, (bytes, bytearray)):
            return {"t": "bytes", "cls": cls, "hex": bytes(value).hex()}
        if isinstance(value, complex):
            return {"t": "complex", "cls": cls, "re": value.real, "im": value.imag}
        if isinstance(value, (int, float, str)):
            return {"t": "scalar", "cls": cls, "v": self._take(_plain_base(value), path)}
        if isinstance(value, (*_NAMED, BaseException)):
            return self._named_or_exception(value, cls, path)
        if isinstance(value, (list, tuple)):
            return {"t": "seq", "cls": cls, "items": self._items(value, path)}
        if isinstance(value, abc.Mapping):
            return self._mapping(value, cls, path)
        if isinstance(value, (set, frozenset, abc.Set)):
            items = [self._take(x, f"{path}{{...}}") for x in value]
            items.sort(key=_sort_key)
            return {"t": "set", "cls": cls, "items": items}
        if isinstance(value, abc.Iterator):
            raise Unrecordable(
                f"{path} is an iterator ({cls}) that cannot be read ahead and replayed"
            )
        if dataclasses.is_dataclass(value):
            names = [f.name for f in dataclasses.fields(value)]
            return self._object(value, cls, {n: getattr(value, n) for n in names}, path)
        by_repr = self._by_repr(value, cls)
        if by_repr is not None:
            return by_repr
        state = _instance_state(value)
        if state is not None:
            return self._object(value, cls, state, path)
        raise Unrecordable(f"{path} is a {cls} with no observable state")

    def _items(self, values: Any, path: str) -> list:
        return [self._take(x, f"{path}[{i}]") for i, x in enumerate(values)]

    def _mapping(self, value: abc.Mapping, cls: str, path: str) -> dict:
        items = []
        for key, item in value.items():
            items.append(
                [self._take(key, f"{path}.keys()"), self._take(item, _key_path(path, key))]
            )
        return {"t": "map", "cls": cls, "items": items}

    def _array(self, value: Any, path: str) -> dict:
        if value.dtype.hasobject:
            data = self._take(value.tolist(), path)
        else:
            self._count += int(value.size)
            if self._count > self.max_values:
                raise Unrecordable(f"{path} is too large to record ({value.size} array elements)")
            data = value.tolist()
        return {
            "t": "array",
            "cls": type_name(value),
            "dtype": str(value.dtype),
            "shape": list(value.shape),
            "data": data,
        }

    def _named_or_exception(self, value: Any, cls: str, path: str) -> dict:
        if isinstance(value, BaseException):
            return {"t": "exception", "cls": cls, "args": self._items(value.args, f"{path}.args")}
        module = getattr(value, "__module__", None) or ""
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", "?")
        return {"t": "named", "cls": cls, "name": f"{module}.{name}" if module else name}

    def _by_repr(self, value: Any, cls: str) -> dict | None:
        if type(value).__eq__ is object.__eq__:
            return None
        try:
            text = repr(value)
        except Exception:
            return None
        if ADDRESS.search(text):
            return None
        return {"t": "value", "cls": cls, "repr": text}

    def _object(self, value: Any, cls: str, state: dict[str, Any], path: str) -> dict:
        kept = {
            name: item
            for name, item in state.items()
            if not self._ignored(value, name, item, state)
        }
        attrs = {name: self._take(kept[name], f"{path}.{name}") for name in sorted(kept)}
        return {"t": "obj", "cls": cls, "attrs": attrs}

    def _ignored(self, owner: Any, name: str, item: Any, state: dict[str, Any]) -> bool:
        if name.startswith("__") and name.endswith("__"):
            return True
        kind = type(owner)
        if name in self.ignore or f"{kind.__name__}.{name}" in self.ignore:
            return True
        if isinstance(getattr(kind, name, None), functools.cached_property):
            return True
        return name.startswith("_") and _is_view_of(item, owner, name, state)


def _plain_base(value: Any) -> Any:
    """A subclass instance of int/float/str as the plain builtin value."""
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return base(value)
    return value


def _is_numpy(value: Any, name: str) -> bool:
    numpy = getattr(type(value), "__module__", "").split(".")[0] == "numpy"
    if not numpy:
        return False
    import numpy as np

    return isinstance(value, getattr(np, name))


def _key_path(path: str, key: Any) -> str:
    text = repr(key) if type(key) in _PLAIN else f"<{type_name(key)}>"
    if ADDRESS.search(text):
        text = f"<{type_name(key)}>"
    return f"{path}[{text}]"


def _sort_key(node: Any) -> str:
    return json.dumps(node, sort_keys=True, default=str)


def _instance_state(value: Any) -> dict[str, Any] | None:
    """Instance attributes from ``__dict__`` and ``__slots__``; None when there are neither."""
    state: dict[str, Any] = {}
    found = False
    for klass in type(value).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for slot in slots:
            if slot in ("__dict__", "__weakref__"):
                continue
            found = True
            try:
                state[slot] = object.__getattribute__(value, slot)
            except AttributeError:
                pass
    try:
        attributes = object.__getattribute__(value, "__dict__")
    except AttributeError:
        attributes = None
    if isinstance(attributes, dict):
        found = True
        state.update(attributes)
    return state if found else None


def _is_view_of(item: Any, owner: Any, name: str, state: dict[str, Any]) -> bool:
    """``item`` is a derived view: its own attributes refer to ``owner`` or to another attribute's value."""
    if type(item) in _PLAIN or isinstance(item, (list, tuple, dict, set, frozenset)):
        return False
    inner = _instance_state(item) if not isinstance(item, _NAMED) else None
    if not inner:
        return False
    others = {id(v) for k, v in state.items() if k != name and not isinstance(v, _PLAIN)}
    return any(v is owner or id(v) in others for v in inner.values() if not isinstance(v, _PLAIN))
