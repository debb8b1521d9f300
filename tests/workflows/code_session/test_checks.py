"""Snapshots of what a caller can observe, comparing them, and timing statistics."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from workflows.code_session.checks import (
    compare_calls,
    first_difference,
    render,
    stable_records,
)
from workflows.code_session.measure import Speedup, Timing, format_seconds
from workflows.code_session.patching import Recorder
from workflows.code_session.snapshot import Snapshot, Unrecordable


class Plain:
    def __init__(self, x):
        self.x = x


class Viewed:
    """Like a networkx graph: state in a private dict, a cached view that points back."""

    def __init__(self, edges):
        self._adj = {}
        for u, v in edges:
            self._adj.setdefault(u, {})[v] = {}
            self._adj.setdefault(v, {})[u] = {}

    @functools.cached_property
    def degree(self):
        return DegreeView(self)


class DegreeView:
    def __init__(self, owner):
        self._owner = owner
        self._adj = owner._adj

    def __getitem__(self, node):
        return len(self._adj[node])


def snap(value, *ignore):
    return Snapshot(ignore).take(value, "args[0]")


def diff(a, b, *ignore):
    return first_difference(snap(a, *ignore), snap(b, *ignore), "args[0]")


def test_values_compare_like_a_caller_sees_them():
    assert diff([1, (2, 3)], [1, (2, 3)]) is None
    assert diff([1, 2], (1, 2)) is not None
    assert diff(1, 1.0) is not None
    assert diff(math.nan, math.nan) is None
    assert diff({"a": [math.nan]}, {"a": [math.nan]}) is None
    assert diff({"a": 1, "b": 2}, {"b": 2, "a": 1})[0] == "args[0].keys()", (
        "dict order is observable"
    )
    assert diff(Plain([1]), Plain([1])) is None
    assert diff(Plain(1), Plain(2)) == ("args[0].x", "1", "2")
    assert diff({3, 1}, {1, 3}) is None


def test_floats_agree_within_the_documented_tolerance():
    assert diff(0.1 + 0.2, 0.3) is None
    assert diff([1.0, 2.0], [1.0, 2.0 + 1e-6]) == ("args[0][1]", "2.0", "2.000001")


def test_a_cyclic_object_is_recorded_and_its_cached_views_are_ignored():
    graph = Viewed([(1, 2), (2, 3)])
    assert graph.degree[2] == 2  # fills the cached view, which points back at the graph
    untouched = Viewed([(1, 2), (2, 3)])
    assert "degree" in vars(graph) and "degree" not in vars(untouched)
    assert diff(graph, untouched) is None

    class Loop:
        pass

    a, b = Loop(), Loop()
    a.me, b.me = a, b
    a.n, b.n = 1, 2
    assert diff(a, b) == ("args[0].n", "1", "2")


def test_the_first_differing_path_and_both_values_are_named_without_addresses():
    left, right = Viewed([(1, 2), (2, 3)]), Viewed([(1, 2), (3, 2)])
    right._adj[3][2]["weight"] = 5
    where, original, candidate = diff(left, right)
    assert (where, original, candidate) == ("args[0]._adj[3][2]['weight']", "no such key", "5")
    where, original, candidate = diff([Plain(1)], [Plain([2])])
    assert where == "args[0][0].x" and "0x" not in original + candidate
    assert " at 0x" in repr(Plain(1)), "the reprs alone would show only addresses"


def test_private_views_and_user_listed_attributes_are_ignored():
    class Holder:
        def __init__(self, data, note):
            self._data = data
            self._view = DegreeView(self)
            self.note = note

    a = Holder.__new__(Holder)
    a._adj, a._data, a.note = {1: {}}, [1], "x"
    a._view = DegreeView(a)
    b = Holder.__new__(Holder)
    b._adj, b._data, b.note = {1: {}}, [1], "y"
    assert diff(a, b)[0] == "args[0].note"
    assert diff(a, b, "note") is None
    assert diff(a, b, "Holder.note") is None


def test_numpy_arrays_compare_by_dtype_shape_and_values():
    a = np.arange(6).reshape(2, 3)
    assert diff(a, a.copy()) is None
    assert diff(a, a.astype(float))[0] == "args[0].dtype"
    assert diff(a, a.reshape(3, 2))[0] == "args[0].shape"
    b = a.copy()
    b[1, 2] = 9
    assert diff(a, b) == ("args[0][1][2]", "5", "9")
    assert diff(np.array([0.1 + 0.2]), np.array([0.3])) is None
    assert diff(np.float64(1.5), 1.5) is not None, "a numpy scalar is not a float"


def test_unrecordable_values_name_their_path():
    with (
        open(__file__) as handle,
        pytest.raises(Unrecordable, match=r"args\[0\]\[1\] is an iterator"),
    ):
        snap([1, handle])


def test_a_recorder_replays_generators_and_keys_calls_by_scope():
    recorder = Recorder(limit=10)
    seen = []

    def consume(values, scale=1):
        seen.append(type(values).__name__)
        return [v * scale for v in values]

    wrapped = recorder.wrap(consume, "consume")
    recorder.set_scope("test_a")
    assert wrapped((x for x in range(3)), scale=2) == [0, 2, 4]
    assert wrapped(iter([5])) == [5]
    recorder.set_scope("test_b")
    assert wrapped(np.arange(2)) == [0, 1]
    assert seen == ["generator", "list_iterator", "ndarray"]
    keys = [r["key"] for r in recorder.records]
    assert keys == ["test_a#0", "test_a#1", "test_b#0"]
    first = recorder.records[0]
    assert first["before"]["args"][0]["items"] == [0, 1, 2]
    assert first["call"] == "consume(generator yielding [0, 1, 2], scale=2)"

    def lazy(n):
        yield from range(n)
        raise KeyError("end")

    wrapped = recorder.wrap(lazy, "lazy")
    replayed = wrapped(2)
    assert next(replayed) == 0 and next(replayed) == 1
    with pytest.raises(KeyError):
        next(replayed)
    assert recorder.records[-1]["outcome"]["returned"]["raises"] == "KeyError"


def _calls(fn, *inputs):
    recorder = Recorder(limit=10)
    wrapped = recorder.wrap(fn, "f")
    for value in inputs:
        try:
            wrapped(value)
        except Exception:
            pass
    return recorder.records


def test_compare_calls_reports_results_exceptions_and_argument_changes():
    def original(xs):
        if xs is None:
            raise TypeError("no")
        xs.sort()
        return sum(xs)

    def same(xs):
        if xs is None:
            raise TypeError("other message")
        xs[:] = sorted(xs)
        return sum(xs)

    def different(xs):
        if xs is None:
            raise ValueError("no")
        return sum(xs)

    inputs = ([2, 1], None)
    expected = _calls(original, *inputs)
    assert compare_calls(expected, _calls(same, [2, 1], None))["ok"]
    result = compare_calls(expected, _calls(different, [2, 1], None), limit=5)
    assert result["compared"] == 2 and not result["ok"]
    assert "it left args[0][0] as 2 where the original left 1" in result["mismatches"][0]
    assert (
        "the original raised TypeError but this version raised ValueError"
        in result["mismatches"][1]
    )
    other_inputs = compare_calls(expected, _calls(same, [3, 1], None))
    assert other_inputs["inputs_changed"] == 1 and other_inputs["compared"] == 1


def test_stable_records_drop_calls_the_original_does_not_repeat():
    counter = iter(range(100))

    def noisy(x):
        return x + next(counter) if x == 0 else x

    first, second = _calls(noisy, 0, 1), _calls(noisy, 0, 1)
    kept, unstable = stable_records(first, second)
    assert [r["key"] for r in kept] == ["import#1"] and len(unstable) == 1


def test_render_is_python_like():
    assert render(snap({"a": (1,), "b": {2}})) == "{'a': (1,), 'b': {2}}"
    assert render(snap(Plain([1]))) == "Plain(x=[1])"


def test_timing_statistics_and_speedup_range():
    base = Timing.from_samples([1.0, 1.1, 0.9, 1.0, 1.2], loops=1)
    fast = Timing.from_samples([0.1, 0.1, 0.12, 0.09, 0.1], loops=10)
    assert base.median == 1.0 and base.q1 <= base.median <= base.q3
    speedup = Speedup.from_ratios([base.median / t for t in (0.1, 0.1, 0.12, 0.09, 0.1)])
    assert speedup.low <= speedup.value == 10.0 <= speedup.high and speedup.rounds == 5
    assert fast.loops == 10
    assert format_seconds(0.0123) == "12.3 ms" and format_seconds(2e-7) == "200 ns"
