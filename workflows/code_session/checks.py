"""Correctness checks run inside a sandbox process: the tests, and the differential check.

The differential check replays the inputs recorded from the original function
(during the tests and the benchmark) and compares what the candidate returns,
raises, and does to its arguments with what the original did.
"""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable
from typing import Any

from workflows.code_session.patching import exception_name

MAX_REPR = 160


def short_repr(value: Any, limit: int = MAX_REPR) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<unrepresentable {type(value).__name__}: {exc}>"
    return text if len(text) <= limit else text[: limit - 15] + f"... ({len(text)} chars)"


def same_value(a: Any, b: Any) -> bool:
    """Equal in the way a caller would notice: same types, equal values, NaN equals NaN.

    Objects without their own ``__eq__`` are compared by type and attributes, so a
    fresh but identical object is not a difference.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a.keys()) == list(b.keys()) and all(same_value(a[k], b[k]) for k in a)
    if type(a).__eq__ is object.__eq__ and hasattr(a, "__dict__"):
        return same_value(vars(a), vars(b))
    try:
        return bool(a == b)
    except Exception:
        return False


def differential_check(fn: Callable, records: list[bytes], name: str, limit: int = 3) -> dict:
    """Call ``fn`` on each recorded input; stop after ``limit`` differences from the original.

    ``failing`` lists the indices of the records that differed.
    """
    mismatches = []
    failing = []
    for index, blob in enumerate(records):
        record = pickle.loads(blob)
        args, kwargs = copy.deepcopy((record["args"], record["kwargs"]))
        shown = _call_text(name, record["args"], record["kwargs"])
        try:
            result = fn(*args, **kwargs)
            outcome: tuple = ("return", result)
        except Exception as exc:
            outcome = ("raise", exception_name(exc), str(exc))
        difference = _difference(record["outcome"], outcome)
        if difference is None and not same_value(record["after"], (args, kwargs)):
            difference = (
                "it left its arguments as "
                f"{short_repr((args, kwargs))} where the original left {short_repr(record['after'])}"
            )
        if difference is not None:
            failing.append(index)
            mismatches.append(f"on {shown}: {difference}")
            if len(mismatches) >= limit:
                break
    return {
        "checked": len(records),
        "mismatches": mismatches,
        "failing": failing,
        "ok": not mismatches,
    }


def _call_text(name: str, args: tuple, kwargs: dict) -> str:
    parts = [short_repr(a, 80) for a in args] + [
        f"{k}={short_repr(v, 80)}" for k, v in kwargs.items()
    ]
    return f"{name}({', '.join(parts)})"


def _difference(expected: tuple, actual: tuple) -> str | None:
    if expected[0] == "return" and actual[0] == "return":
        if same_value(expected[1], actual[1]):
            return None
        return f"the original returned {short_repr(expected[1])} but this version returned {short_repr(actual[1])}"
    if expected[0] == "raise" and actual[0] == "raise":
        if expected[1] == actual[1]:
            return None
        return f"the original raised {expected[1]} but this version raised {actual[1]}: {actual[2]}"
    if expected[0] == "raise":
        return (
            f"the original raised {expected[1]} but this version returned {short_repr(actual[1])}"
        )
    return f"the original returned {short_repr(expected[1])} but this version raised {actual[1]}: {actual[2]}"


class _TestCollector:
    """A pytest plugin counting outcomes and keeping the first failures' short reports."""

    def __init__(self, keep: int = 3):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.errors = 0
        self.failures: list[str] = []
        self.keep = keep

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.passed and report.when == "call":
            self.passed += 1
        elif report.skipped:
            self.skipped += 1
        elif report.failed:
            if report.when == "call":
                self.failed += 1
            else:
                self.errors += 1
            self._remember(report)

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.errors += 1
            self._remember(report)

    def _remember(self, report: Any) -> None:
        if len(self.failures) < self.keep:
            text = str(getattr(report, "longreprtext", "") or report.longrepr)
            self.failures.append(f"{report.nodeid}:\n{_tail(text, 1200)}")


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def run_tests(test_args: list[str]) -> dict:
    """Run pytest in this process on ``test_args``; counts, failures and whether all passed."""
    import pytest

    collector = _TestCollector()
    code = pytest.main(
        [*test_args, "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--no-header"],
        plugins=[collector],
    )
    total = collector.passed + collector.failed + collector.errors
    return {
        "exit_code": int(code),
        "passed": collector.passed,
        "failed": collector.failed,
        "errors": collector.errors,
        "skipped": collector.skipped,
        "failures": collector.failures,
        "ok": int(code) == 0 and total > 0,
        "collected_nothing": total == 0,
    }
