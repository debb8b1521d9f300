"""Correctness checks: the tests (run inside a sandbox process) and the differential check.

The differential check compares, call by call, what the original function and
a candidate returned, raised and did to their arguments while the same tests
and benchmark ran. Calls are recorded as JSON snapshots (see
:mod:`workflows.code_session.snapshot`) and compared here, in the session's own
process. Floats (also inside arrays and containers) are equal when both are NaN
or when they agree to a relative tolerance of 1e-9 (absolute 1e-12 near zero),
so a reordered sum is not a difference. A difference is reported at the first
path where the two snapshots part (``args[0]._adj[3]``), with both values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

REL_TOL = 1e-9
ABS_TOL = 1e-12
MAX_REPR = 160


def short_repr(value: Any, limit: int = MAX_REPR) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<unrepresentable {type(value).__name__}: {exc}>"
    return _clip(text, limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 15] + f"... ({len(text)} chars)"


def render(node: Any, limit: int = MAX_REPR) -> str:
    """A snapshot as Python-like text (never a memory address), at most ``limit`` characters."""
    return _clip(_render(node, limit), limit)


def _short(cls: str) -> str:
    return cls.rsplit(".", 1)[-1]


def _render(node: Any, budget: int) -> str:
    if not isinstance(node, dict):
        return repr(node)
    t = node["t"]
    cls = node.get("cls", "")
    if t in ("seq", "iter"):
        inner = ", ".join(_render_many(node["items"], budget))
        if t == "iter":
            tail = f" then raises {node['raises']}" if node.get("raises") else ""
            return f"{_short(cls)} yielding [{inner}]{tail}"
        if cls == "list":
            return f"[{inner}]"
        if cls == "tuple":
            return f"({inner}{',' if len(node['items']) == 1 else ''})"
        return f"{_short(cls)}([{inner}])"
    if t == "map":
        pairs = [f"{_render(k, budget)}: {_render(v, budget)}" for k, v in node["items"][:50]]
        inner = "{" + ", ".join(pairs) + (", ..." if len(node["items"]) > 50 else "") + "}"
        return inner if cls == "dict" else f"{_short(cls)}({inner})"
    if t == "set":
        inner = "{" + ", ".join(_render_many(node["items"], budget)) + "}"
        return inner if cls == "set" else f"{_short(cls)}({inner})"
    if t == "obj":
        attrs = ", ".join(f"{k}={_render(v, budget)}" for k, v in node["attrs"].items())
        return f"{_short(cls)}({attrs})"
    if t == "array":
        return f"array({node['data']!r}, dtype={node['dtype']})"
    if t == "scalar":
        return f"{_short(cls)}({_render(node['v'], budget)})"
    if t == "bytes":
        return repr(bytes.fromhex(node["hex"]))
    if t == "complex":
        return repr(complex(node["re"], node["im"]))
    if t == "enum":
        return f"{_short(cls)}.{node['name']}"
    if t == "value":
        return node["repr"]
    if t == "named":
        return node["name"]
    if t == "exception":
        return f"{_short(cls)}({', '.join(_render_many(node['args'], budget))})"
    if t == "cycle":
        return f"<the object at {node['to']} again>"
    return json.dumps(node)[:budget]


def _render_many(items: list, budget: int) -> list[str]:
    out, used = [], 0
    for item in items:
        text = _render(item, budget)
        used += len(text) + 2
        if used > budget:
            out.append("...")
            break
        out.append(text)
    return out


def _describe_type(node: Any) -> str:
    if isinstance(node, dict):
        return node.get("cls") or node["t"]
    return type(node).__name__


def close_floats(a: float, b: float) -> bool:
    """Equal under the documented tolerance; NaN equals NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def first_difference(expected: Any, actual: Any, path: str) -> tuple[str, str, str] | None:
    """Where two snapshots first differ: ``(path, expected text, actual text)``, or None."""
    if not isinstance(expected, dict) or not isinstance(actual, dict):
        if type(expected) is not type(actual):
            return path, _typed(expected), _typed(actual)
        if isinstance(expected, float):
            return None if close_floats(expected, actual) else (path, repr(expected), repr(actual))
        return None if expected == actual else (path, render(expected), render(actual))
    if expected["t"] != actual["t"] or expected.get("cls") != actual.get("cls"):
        return path, _typed(expected), _typed(actual)
    t = expected["t"]
    if t in ("seq", "iter"):
        found = _sequences(expected["items"], actual["items"], path)
        if found is None and t == "iter" and expected.get("raises") != actual.get("raises"):
            return (
                path,
                f"an iterator that then raises {expected.get('raises') or 'nothing'}",
                f"one that then raises {actual.get('raises') or 'nothing'}",
            )
        return found
    if t == "map":
        return _mappings(expected["items"], actual["items"], path)
    if t == "set":
        return _sets(expected["items"], actual["items"], path)
    if t == "obj":
        return _objects(expected["attrs"], actual["attrs"], path)
    if t == "array":
        for part in ("dtype", "shape"):
            if expected[part] != actual[part]:
                return f"{path}.{part}", repr(expected[part]), repr(actual[part])
        return first_difference(_as_seq(expected["data"]), _as_seq(actual["data"]), path)
    if t == "scalar":
        return first_difference(expected["v"], actual["v"], path)
    if t == "complex":
        same = close_floats(expected["re"], actual["re"]) and close_floats(
            expected["im"], actual["im"]
        )
        return None if same else (path, render(expected), render(actual))
    if t == "exception":
        return _sequences(expected["args"], actual["args"], f"{path}.args")
    return None if expected == actual else (path, render(expected), render(actual))


def _typed(node: Any) -> str:
    return f"{render(node, 100)} (a {_describe_type(node)})"


def _as_seq(data: Any) -> Any:
    if isinstance(data, list):
        return {"t": "seq", "cls": "list", "items": [_as_seq(x) for x in data]}
    return data


def _sequences(expected: list, actual: list, path: str) -> tuple[str, str, str] | None:
    for index, (a, b) in enumerate(zip(expected, actual)):
        found = first_difference(a, b, f"{path}[{index}]")
        if found:
            return found
    if len(expected) != len(actual):
        return (
            f"len({path})",
            f"{len(expected)} items",
            f"{len(actual)} items",
        )
    return None


def _key_text(node: Any) -> str:
    return render(node, 60)


def _mappings(expected: list, actual: list, path: str) -> tuple[str, str, str] | None:
    keys_a = [_sort_key(k) for k, _ in expected]
    keys_b = [_sort_key(k) for k, _ in actual]
    if keys_a != keys_b:
        only_a = [k for (k, _), s in zip(expected, keys_a) if s not in set(keys_b)]
        only_b = [k for (k, _), s in zip(actual, keys_b) if s not in set(keys_a)]
        if only_a:
            return (
                f"{path}[{_key_text(only_a[0])}]",
                render(_value_of(expected, only_a[0])),
                "no such key",
            )
        if only_b:
            return (
                f"{path}[{_key_text(only_b[0])}]",
                "no such key",
                render(_value_of(actual, only_b[0])),
            )
        return (
            f"{path}.keys()",
            "keys in the order "
            + render({"t": "seq", "cls": "list", "items": [k for k, _ in expected]}),
            "the same keys in the order "
            + render({"t": "seq", "cls": "list", "items": [k for k, _ in actual]}),
        )
    for (key, a), (_, b) in zip(expected, actual):
        found = first_difference(a, b, f"{path}[{_key_text(key)}]")
        if found:
            return found
    return None


def _value_of(items: list, key: Any) -> Any:
    return next(v for k, v in items if k is key)


def _sort_key(node: Any) -> str:
    return json.dumps(node, sort_keys=True, default=str)


def _sets(expected: list, actual: list, path: str) -> tuple[str, str, str] | None:
    a = {_sort_key(x): x for x in expected}
    b = {_sort_key(x): x for x in actual}
    if a.keys() == b.keys():
        return None
    only_a = [a[k] for k in a.keys() - b.keys()]
    only_b = [b[k] for k in b.keys() - a.keys()]
    return (
        path,
        "a set with "
        + (
            render({"t": "set", "cls": "set", "items": only_a}) + " that this version lacks"
            if only_a
            else "nothing more"
        ),
        "a set with "
        + (
            render({"t": "set", "cls": "set", "items": only_b}) + " that the original lacks"
            if only_b
            else "nothing more"
        ),
    )


def _objects(expected: dict, actual: dict, path: str) -> tuple[str, str, str] | None:
    for name in sorted(expected.keys() | actual.keys()):
        where = f"{path}.{name}"
        if name not in actual:
            return where, render(expected[name]), "no such attribute"
        if name not in expected:
            return where, "no such attribute", render(actual[name])
        found = first_difference(expected[name], actual[name], where)
        if found:
            return found
    return None


def _call_difference(expected: dict, actual: dict) -> tuple[str, str, str] | None:
    """The first difference between two ``{"args": [...], "kwargs": {...}}`` snapshots."""
    found = _sequences(expected["args"], actual["args"], "args")
    if found:
        return found
    for name in sorted(expected["kwargs"].keys() | actual["kwargs"].keys()):
        a = expected["kwargs"].get(name, "<missing>")
        b = actual["kwargs"].get(name, "<missing>")
        found = first_difference(a, b, f"kwargs[{name!r}]")
        if found:
            return found
    return None


def outcome_difference(expected: dict, actual: dict) -> str | None:
    """How a candidate's outcome (returned or raised) differs from the original's, in words."""
    if "raised" in expected and "raised" in actual:
        if expected["raised"] == actual["raised"]:
            return None
        return (
            f"the original raised {expected['raised']} but this version raised "
            f"{actual['raised']}: {actual['message']}"
        )
    if "raised" in expected:
        return (
            f"the original raised {expected['raised']} but this version returned "
            f"{render(actual['returned'])}"
        )
    if "raised" in actual:
        return (
            f"the original returned {render(expected['returned'])} but this version raised "
            f"{actual['raised']}: {actual['message']}"
        )
    found = first_difference(expected["returned"], actual["returned"], "result")
    if found is None:
        return None
    where, a, b = found
    if where == "result":
        return f"the original returned {a} but this version returned {b}"
    return f"the results differ at {where}: the original has {a}, this version has {b}"


def call_difference(expected: dict, actual: dict) -> str | None:
    """Why ``actual`` (a candidate's recorded call) does not match ``expected``, or None."""
    outcome = outcome_difference(expected["outcome"], actual["outcome"])
    if outcome:
        return outcome
    found = _call_difference(expected["after"], actual["after"])
    if found is None:
        return None
    where, a, b = found
    return f"it left {where} as {b} where the original left {a}"


def same_record(first: dict, second: dict) -> bool:
    """Two recordings of the same call agree (inputs, outcome, argument changes)."""
    if "unrecordable" in first or "unrecordable" in second:
        return False
    return (
        _call_difference(first["before"], second["before"]) is None
        and call_difference(first, second) is None
    )


def stable_records(first: list[dict], second: list[dict]) -> tuple[list[dict], list[dict]]:
    """Records of the first run that the second run repeated exactly, and those it did not."""
    again = {r["key"]: r for r in second}
    kept, unstable = [], []
    for record in first:
        repeated = record["key"] in again and same_record(record, again[record["key"]])
        if "unrecordable" in record or repeated:
            kept.append(record)
        else:
            unstable.append(record)
    return kept, unstable


def compare_calls(expected: list[dict], actual: list[dict], limit: int = 3) -> dict:
    """The differential check: each original call against the candidate's call with the same key.

    A call is compared when both sides recorded it and their inputs were the same;
    ``not_reached`` counts calls the candidate's run did not make (its tests took
    another path), ``inputs_changed`` those whose inputs differed from the baseline run.
    """
    by_key = {r["key"]: r for r in actual}
    mismatches: list[str] = []
    failing: list[str] = []
    compared = not_reached = inputs_changed = unrecordable = 0
    for record in expected:
        if "unrecordable" in record:
            unrecordable += 1
            continue
        other = by_key.get(record["key"])
        if other is None or "unrecordable" in other:
            not_reached += 1
            continue
        if _call_difference(record["before"], other["before"]) is not None:
            inputs_changed += 1
            continue
        compared += 1
        difference = call_difference(record, other)
        if difference is not None and len(mismatches) < limit:
            failing.append(record["key"])
            mismatches.append(f"on {record['call']}: {difference}")
    return {
        "recorded": len(expected),
        "compared": compared,
        "unrecordable": unrecordable,
        "not_reached": not_reached,
        "inputs_changed": inputs_changed,
        "mismatches": mismatches,
        "failing": failing,
        "ok": not mismatches,
    }


def coverage_text(diff: dict) -> str:
    """How much of the differential check ran, in words."""
    verdict = "same as the original" if diff["ok"] else "DIFFERENT from the original"
    text = f"{verdict} on {diff['compared']} of {diff['recorded']} recorded calls"
    left_out = [
        f"{diff[key]} {words}"
        for key, words in (
            ("unrecordable", "could not be recorded"),
            ("not_reached", "not reached"),
            ("inputs_changed", "had other inputs than in the baseline run"),
        )
        if diff.get(key)
    ]
    return text + (f" ({', '.join(left_out)})" if left_out else "")


class _TestCollector:
    """A pytest plugin counting outcomes and keeping the first failures' short reports."""

    def __init__(self, keep: int = 3, on_test: Callable[[str], None] | None = None):
        self.on_test = on_test
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.errors = 0
        self.failures: list[str] = []
        self.keep = keep

    def pytest_runtest_setup(self, item: Any) -> None:
        if self.on_test is not None:
            self.on_test(item.nodeid)

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


def run_tests(test_args: list[str], on_test: Callable[[str], None] | None = None) -> dict:
    """Run pytest in this process on ``test_args``; counts, failures and whether all passed.

    ``on_test(nodeid)`` is called as each test starts (recorded calls are keyed by test).
    """
    import pytest

    collector = _TestCollector(on_test=on_test)
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
