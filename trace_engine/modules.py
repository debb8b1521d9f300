"""Modules: objects whose parameters can be listed, saved and restored.

A :class:`Module` finds its parameters in its attributes (nested modules, lists,
tuples, sets and dicts included, parameters used as dict keys too), in trainable
bundles stored as attributes, and in its trainable bundled methods, each instance
with its own copy of the method's code. Attributes whose names start with one
underscore count like any other (as in Trace); dunder names and the attributes
trace-engine itself keeps on instances (``_trace_engine_*``) do not.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from trace_engine.bundle import Bundle
from trace_engine.code import CodeParameter
from trace_engine.errors import InvalidUpdate, StateError
from trace_engine.files import atomic_write_json, read_state_json
from trace_engine.nodes import Parameter

FORMAT = "trace-engine/module-state"


class Module:
    """Base class for traced programs with trainable parts."""

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs, each parameter once, in attribute order."""
        return [(".".join(path), p) for path, p in _unique(self)]

    def parameters(self) -> list[Parameter]:
        return [p for _, p in _unique(self)]

    def parameters_dict(self) -> dict[str, Any]:
        """Parameters by attribute name, nested: a sub-module or container gives a
        dict of its own; a trainable method or bundle gives its code parameter."""
        tree: dict[str, Any] = {}
        for path, param in _unique(self):
            if path[-1] == _CODE and len(path) > 1:
                path = path[:-1]
            level = tree
            for key in path[:-1]:
                level = level.setdefault(key, {})
            level[path[-1]] = param
        return tree

    def state_dict(self) -> dict[str, Any]:
        """Parameter values by dotted name (code parameters as source)."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Set every parameter from ``state``; all values are validated before any is set.

        A list for a parameter that holds a tuple is read as a tuple (JSON has no
        tuples); a parameter whose value is already equal is left untouched."""
        if not isinstance(state, dict):
            raise StateError(
                f"state must be a dict of parameter values, got {type(state).__name__}"
            )
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        if missing or unexpected:
            raise StateError(
                f"state does not fit {type(self).__qualname__}: "
                + "; ".join(
                    part
                    for part in (
                        f"missing {', '.join(missing)}" if missing else "",
                        f"unexpected {', '.join(unexpected)}" if unexpected else "",
                    )
                    if part
                )
            )
        try:
            checked = {
                name: params[name].validate(_as_held(params[name].data, value))
                for name, value in state.items()
            }
        except InvalidUpdate as exc:
            raise StateError(f"state for {type(self).__qualname__} was refused: {exc}") from exc
        for name, value in checked.items():
            if value != params[name].data or type(value) is not type(params[name].data):
                params[name].set(value)

    def save(self, path: str | os.PathLike) -> None:
        """Write the parameters as human-readable JSON, atomically."""
        values = {}
        for name, p in self.named_parameters():
            kind = "code" if isinstance(p, CodeParameter) else "value"
            values[name] = {
                "kind": kind,
                "type": type(p.data).__name__,
                "value": _to_json(name, p.data),
            }
        atomic_write_json(
            path, {"format": FORMAT, "module": _class_path(type(self)), "parameters": values}
        )

    def load(self, path: str | os.PathLike) -> None:
        """Restore parameters saved by :meth:`save` from the same kind of module."""
        saved = read_state_json(path, FORMAT, "a trace-engine module state file")
        if saved.get("module") != _class_path(type(self)):
            raise StateError(
                f"{path} holds the state of {saved.get('module')}, not of {_class_path(type(self))}"
            )
        self.load_state_dict(
            {name: _from_json(entry) for name, entry in saved["parameters"].items()}
        )


def model(cls: type) -> type:
    """Class decorator: make ``cls`` a :class:`Module` without changing its name."""
    if not isinstance(cls, type):
        raise TypeError(f"@model decorates a class, got {type(cls).__name__}")
    if issubclass(cls, Module):
        return cls
    return type(
        cls.__name__,
        (cls, Module),
        {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__},
    )


def _as_held(current: Any, value: Any) -> Any:
    """``value`` as a tuple where the parameter holds one and JSON gave a list."""
    return tuple(value) if isinstance(current, tuple) and isinstance(value, list) else value


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


_CODE = "__code"
_RESERVED = "_trace_engine_"


def _unique(module: Module) -> list[tuple[tuple[str, ...], Parameter]]:
    seen: set[int] = set()
    out = []
    for path, param in _walk(module, (), set()):
        if id(param) not in seen:
            seen.add(id(param))
            out.append((path, param))
    return out


def _walk(
    value: Any, path: tuple[str, ...], visiting: set[int]
) -> Iterator[tuple[tuple[str, ...], Parameter]]:
    if isinstance(value, Parameter):
        yield path, value
        return
    if id(value) in visiting:
        return
    if isinstance(value, Module):
        visiting = visiting | {id(value)}
        for attr, item in vars(value).items():
            if attr.startswith(("__", _RESERVED)):
                continue
            if isinstance(item, Bundle):
                if item.parameter is not None:
                    yield (*path, attr, _CODE), item.parameter
                continue
            yield from _walk(item, (*path, attr), visiting)
        resolved: set[str] = set()
        for cls in type(value).__mro__:
            for attr, item in vars(cls).items():
                if attr in resolved:
                    continue  # overridden by a class earlier in the MRO
                resolved.add(attr)
                if isinstance(item, Bundle) and item.trainable:
                    yield (*path, attr, _CODE), item.code_parameter(value)
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, (*path, str(i)), visiting)
    elif isinstance(value, (set, frozenset)):
        for item in value:
            if isinstance(item, Parameter):
                yield (*path, item.name), item
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, Parameter):
                yield (*path, f"key:{key.name}"), key
            yield from _walk(item, (*path, str(key)), visiting)


def _to_json(name: str, value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise StateError(
            f"parameter {name!r} holds a {type(value).__name__}, which cannot be saved as JSON"
        ) from None
    return value


def _from_json(entry: Any) -> Any:
    if not isinstance(entry, dict) or "value" not in entry:
        raise StateError(f"malformed parameter entry {entry!r:.80}")
    value = entry["value"]
    if entry.get("type") == "tuple" and isinstance(value, list):
        return tuple(value)
    return value
