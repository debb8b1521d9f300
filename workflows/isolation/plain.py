"""Plain data across a process boundary: exact builtin types as JSON, and back.

What untrusted code returns is judged only after it has crossed into a
process that never ran that code, as a value rebuilt from JSON: a subclass
with its own ``__eq__`` (one that is always true, say) cannot cross, because
types are checked exactly, not with ``isinstance``.
"""

from __future__ import annotations

from typing import Any

from trace_engine.errors import TraceEngineError

MAX_DEPTH = 200


class NotPlainData(TraceEngineError, TypeError):
    """A value that is not made only of builtin data types."""


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-ready data; raises :class:`NotPlainData` for anything else."""
    if depth > MAX_DEPTH:
        raise NotPlainData(f"a value nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if kind is list:
        return [encode(item, depth + 1) for item in value]
    if kind is tuple:
        return {"tuple": [encode(item, depth + 1) for item in value]}
    if kind is dict:
        return {"dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if kind in (set, frozenset):
        return {kind.__name__: [encode(item, depth + 1) for item in value]}
    if kind is bytes:
        return {"bytes": value.hex()}
    if kind is complex:
        return {"complex": [value.real, value.imag]}
    raise NotPlainData(
        f"a value of type {kind.__module__}.{kind.__qualname__}; only None, bool, int, float, "
        "complex, str, bytes, list, tuple, dict, set and frozenset can be checked"
    )


def decode(data: Any) -> Any:
    """The value :func:`encode` was given (rebuilt from builtin types only)."""
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    if len(data) != 1:
        raise ValueError("not encoded plain data: an object with other than one key")
    ((tag, inner),) = data.items()
    if tag == "tuple":
        return tuple(decode(item) for item in inner)
    if tag == "dict":
        return {decode(k): decode(v) for k, v in inner}
    if tag == "set":
        return {decode(item) for item in inner}
    if tag == "frozenset":
        return frozenset(decode(item) for item in inner)
    if tag == "bytes":
        return bytes.fromhex(inner)
    if tag == "complex":
        return complex(*inner)
    raise ValueError(f"not encoded plain data: unknown tag {tag!r}")
