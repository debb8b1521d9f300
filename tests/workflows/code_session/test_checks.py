"""Comparing values like a caller would, the differential check, and timing statistics."""

from __future__ import annotations

import math
import pickle

from workflows.code_session.checks import differential_check, same_value
from workflows.code_session.measure import Speedup, Timing, format_seconds


class Plain:
    def __init__(self, x):
        self.x = x


def test_same_value_is_strict_about_types_and_lenient_about_nan_and_identity():
    assert same_value([1, (2, 3)], [1, (2, 3)])
    assert not same_value([1, 2], (1, 2))
    assert not same_value(1, 1.0)
    assert same_value(math.nan, math.nan)
    assert same_value({"a": [math.nan]}, {"a": [math.nan]})
    assert not same_value({"a": 1, "b": 2}, {"b": 2, "a": 1}), "dict order is observable"
    assert same_value(Plain([1]), Plain([1])) and not same_value(Plain(1), Plain(2))
    assert same_value({3, 1}, {1, 3})


def _record(args, outcome, after=None):
    return pickle.dumps(
        {"args": args, "kwargs": {}, "outcome": outcome, "after": (after or args, {})}
    )


def test_differential_check_compares_results_exceptions_and_argument_changes():
    records = [
        _record(([1, 2],), ("return", 3)),
        _record((None,), ("raise", "TypeError", "x")),
        _record(([2, 1],), ("return", None), after=([1, 2],)),
    ]

    def good(xs):
        if xs is None:
            raise TypeError("other message")
        if xs == [2, 1]:
            xs.sort()
            return None
        return sum(xs)

    assert differential_check(good, records, "f")["ok"]

    def bad(xs):
        if xs is None:
            raise ValueError("no")
        if xs == [2, 1]:
            return None
        return sum(xs)

    result = differential_check(bad, records, "f")
    assert result["failing"] == [1, 2]
    assert (
        "the original raised TypeError but this version raised ValueError"
        in result["mismatches"][0]
    )
    assert "left its arguments as" in result["mismatches"][1]


def test_timing_statistics_and_speedup_range():
    base = Timing.from_samples([1.0, 1.1, 0.9, 1.0, 1.2], loops=1)
    fast = Timing.from_samples([0.1, 0.1, 0.12, 0.09, 0.1], loops=10)
    assert base.median == 1.0 and base.q1 <= base.median <= base.q3
    speedup = Speedup.between(base, fast)
    assert speedup.low <= speedup.value == 10.0 <= speedup.high
    assert format_seconds(0.0123) == "12.3 ms" and format_seconds(2e-7) == "200 ns"
