"""Constraints on parameter values.

A constraint is shown to the optimizer as text and, when it is machine-checkable,
refuses values that break it (the parameter keeps its old value).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any


class Constraint:
    """Base: ``describe()`` for the prompt, ``violation(value)`` -> reason or ``None``."""

    def describe(self) -> str:
        raise NotImplementedError

    def violation(self, value: Any) -> str | None:
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"


class Text(Constraint):
    """A constraint stated in words only: shown to the optimizer, not checked."""

    def __init__(self, text: str):
        self.text = text

    def describe(self) -> str:
        return self.text


class Range(Constraint):
    """A number in ``[low, high]`` (either bound may be ``None``)."""

    def __init__(self, low: float | None = None, high: float | None = None):
        if low is not None and high is not None and low > high:
            raise ValueError(f"Range: low {low} is above high {high}")
        self.low, self.high = low, high

    def describe(self) -> str:
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"a number in [{low}, {high}]"

    def violation(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {type(value).__name__}"
        if isinstance(value, float) and math.isnan(value):
            return "value is NaN"
        if self.low is not None and value < self.low:
            return f"{value} is below the minimum {self.low}"
        if self.high is not None and value > self.high:
            return f"{value} is above the maximum {self.high}"
        return None


class Choices(Constraint):
    """One of a fixed set of values."""

    def __init__(self, options: Iterable[Any]):
        self.options = list(options)
        if not self.options:
            raise ValueError("Choices needs at least one option")

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)

    def violation(self, value: Any) -> str | None:
        return None if value in self.options else f"{value!r} is not {self.describe()}"


class Check(Constraint):
    """A predicate ``value -> bool``, described by ``text`` or its docstring."""

    def __init__(self, predicate: Callable[[Any], bool], text: str | None = None):
        self.predicate = predicate
        self.text = (
            text
            or (predicate.__doc__ or "").strip()
            or getattr(predicate, "__name__", "custom check")
        )

    def describe(self) -> str:
        return self.text

    def violation(self, value: Any) -> str | None:
        try:
            ok = self.predicate(value)
        except Exception as exc:
            return f"constraint check {self.text!r} raised {type(exc).__name__}: {exc}"
        return None if ok else f"{value!r:.200} fails the constraint: {self.text}"


def as_constraint(value: Any) -> Constraint | None:
    """Accept ``None``, text, a callable or a :class:`Constraint`."""
    if value is None or isinstance(value, Constraint):
        return value
    if isinstance(value, str):
        return Text(value)
    if callable(value):
        return Check(value)
    raise TypeError(
        "constraint must be text, a callable value -> bool, or a Constraint "
        f"(Range, Choices, Check), got {type(value).__name__}"
    )
