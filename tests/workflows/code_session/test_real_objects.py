"""Sessions on library-style code: networkx graphs with cached views, decorators, generators, arrays."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workflows.code_session.project import quick_workload
from workflows.code_session import Evaluator, parse_target

GRAPHS = '''"""Graph and sequence helpers in the style of networkx's own code."""

import networkx as nx
from networkx.utils import not_implemented_for


@not_implemented_for("directed")
@nx._dispatchable(name="te_test_degree_total")
def degree_total(G):
    """Twice the number of edges, counted node by node."""
    total = 0
    for node in G:
        total += G.degree[node]
    return total


def total(values):
    """The sum of an iterable, one item at a time."""
    result = 0
    for value in values:
        result += value
    return result


def doubled(array):
    """A copy of a numpy array with every element doubled."""
    out = array.copy()
    for i in range(len(out)):
        out[i] = out[i] * 2
    return out
'''

TESTS = """import networkx as nx
import numpy as np
import pytest

from graphs import degree_total, doubled, total


def test_degree_total_of_a_path():
    assert degree_total(nx.path_graph(4)) == 6


def test_directed_graphs_are_refused():
    with pytest.raises(nx.NetworkXNotImplemented):
        degree_total(nx.DiGraph([(1, 2)]))


def test_total_of_a_list():
    assert total([1, 2, 3]) == 6


def test_doubled():
    assert doubled(np.array([1, 2])).tolist() == [2, 4]
"""

FEWER_VIEWS = '''def degree_total(G):
    """Twice the number of edges, from the adjacency dict (touches no cached view)."""
    return sum(len(neighbours) for neighbours in G._adj.values())
'''

MARKS_NODES = """def degree_total(G):
    total = 0
    for node in G:
        total += G.degree[node]
    G.nodes[0]["seen"] = True
    return total
"""

TWICE_OVER = '''def total(values):
    """Fast for lists; wrong for a generator, which the second pass finds empty."""
    count = sum(1 for _ in values)
    return sum(values) if count else 0
'''

FLOAT_COPY = """def doubled(array):
    return array * 2.0
"""

GRAPH_SETUP = "import networkx as nx; G = nx.gnm_random_graph(120, 400, seed=1)"


def _project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "graphs.py").write_text(GRAPHS, encoding="utf-8")
    (root / "tests" / "test_graphs.py").write_text(TESTS, encoding="utf-8")
    return root


def _measured(root: Path, spec: str, bench: str, setup: str):
    """The evaluator of ``spec`` in ``root``, the file's text and the measured baseline."""
    session = root / f"session-{spec.rsplit(':', 1)[-1]}"
    session.mkdir()
    workload = quick_workload(bench=bench, setup=setup, timeout_s=60.0)
    evaluator = Evaluator(parse_target(spec, root), workload, session, root)
    text = (root / "graphs.py").read_text()
    return evaluator, text, evaluator.baseline(text)


@pytest.fixture(scope="module")
def graph_baseline(tmp_path_factory):
    root = _project(tmp_path_factory.mktemp("graphs") / "proj")
    evaluator, text, baseline = _measured(
        root, "graphs.py::degree_total", "degree_total(G)", GRAPH_SETUP
    )
    return evaluator, baseline, text


def test_a_graph_with_cached_views_that_point_back_is_a_valid_baseline(graph_baseline):
    _, baseline, _ = graph_baseline
    assert baseline.tests["ok"] and baseline.tests["passed"] == 4
    # the path graph and the directed graph from the tests, and the benchmark's graph
    assert baseline.records["kept"] == 3 and baseline.records["skipped"] == 0
    assert baseline.warnings == []


def test_a_correct_version_touching_fewer_cached_views_passes(graph_baseline):
    evaluator, baseline, text = graph_baseline
    verdict = evaluator.evaluate(text, FEWER_VIEWS, baseline, "def degree_total(G)")
    assert verdict.passed, verdict.reason
    assert verdict.diff["compared"] == 3 and verdict.speedup is not None


def test_a_changed_graph_is_named_by_its_path(graph_baseline):
    evaluator, baseline, text = graph_baseline
    verdict = evaluator.evaluate(text, MARKS_NODES, baseline, "def degree_total(G)")
    assert verdict.failed_at == "differential check"
    assert "it left args[0]._node[0]['seen'] as True where the original left no such key" in (
        verdict.reason
    )
    assert "0x" not in verdict.reason


def test_the_line_profile_is_of_the_decorated_function_s_own_body(graph_baseline):
    _, baseline, _ = graph_baseline
    texts = [row["text"] for row in baseline.line_profile]
    assert "total += G.degree[node]" in texts
    assert all(row["text"] for row in baseline.line_profile)


def test_a_generator_argument_is_recorded_and_replayed(tmp_path):
    evaluator, text, baseline = _measured(
        _project(tmp_path / "proj"),
        "graphs.py::total",
        "total(x for x in data)",
        "data = list(range(2000))",
    )
    assert baseline.records["kept"] == 2 and baseline.warnings == []
    verdict = evaluator.evaluate(text, TWICE_OVER, baseline, "def total(values)")
    assert verdict.tests["ok"], "the tests pass only lists"
    assert verdict.failed_at == "differential check"
    assert "total(generator yielding [0, 1, 2" in verdict.reason
    assert "the original returned 1999000 but this version returned 0" in verdict.reason


def test_an_array_argument_is_compared_by_dtype(tmp_path):
    evaluator, text, baseline = _measured(
        _project(tmp_path / "proj"),
        "graphs.py::doubled",
        "doubled(data)",
        "import numpy as np; data = np.arange(500)",
    )
    assert baseline.records["kept"] == 2
    assert not any("non-deterministic" in w for w in baseline.warnings)
    verdict = evaluator.evaluate(text, FLOAT_COPY, baseline, "def doubled(array)")
    assert verdict.failed_at == "differential check"
    assert "result.dtype: the original has 'int64', this version has 'float64'" in verdict.reason
