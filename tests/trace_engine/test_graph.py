import json
import subprocess
import sys

import pytest

from trace_engine import (
    ExecutionError,
    GraphError,
    bundle,
    from_json,
    node,
    to_dot,
    to_json,
    to_networkx,
)
from trace_engine import graph as graph_module


def _trace():
    x = node(2, trainable=True, name="gx")
    out = x * 3 + 1
    out.backward("aim for 10")

    @bundle()
    def explode(v):
        raise ValueError("kaboom")

    try:
        explode(out)
    except ExecutionError as exc:
        return out, exc.exception_node
    raise AssertionError("expected an error")


def test_networkx_export_has_attributes_and_labelled_edges():
    out, _ = _trace()
    g = to_networkx(out)
    assert g.nodes[out.name]["kind"] == "operation"
    assert g.nodes[out.name]["feedback"] == ["aim for 10"]
    param = [n for n, d in g.nodes(data=True) if d["kind"] == "parameter"]
    assert len(param) == 1 and g.nodes[param[0]]["value"] == 2
    assert any(d["arg"] == "x" for _, _, d in g.edges(data=True))


def test_dot_marks_parameters_and_errors_distinctly():
    _, err = _trace()
    dot = to_dot(err)
    assert dot.startswith("digraph trace {")
    param_line = next(line for line in dot.splitlines() if line.strip().startswith('"gx'))
    error_line = next(line for line in dot.splitlines() if line.strip().startswith(f'"{err.name}"'))
    assert "box" in param_line and "octagon" in error_line and "kaboom" in error_line


def test_json_round_trip_preserves_structure():
    _, err = _trace()
    text = to_json(err)
    saved = from_json(text)
    assert to_dot(saved) == to_dot(err)
    assert saved[err.name]["kind"] == "error"
    assert "ValueError" in saved[err.name]["traceback"]
    assert to_networkx(saved).number_of_edges() == to_networkx(err).number_of_edges()


def test_unserializable_values_are_kept_as_repr():
    made = node({1, 2}).union({3})
    record = json.loads(to_json(made))["nodes"][-1]
    assert record["value"] == {"repr": "{1, 2, 3}"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("nope", "invalid JSON"),
        ('{"format": "other"}', "expected format"),
        ('{"format": "trace-engine/graph", "nodes": [{"name": "a"}]}', "malformed"),
        (
            '{"format": "trace-engine/graph", "nodes": [{"name": "a", "kind": "operation", "inputs": [["x", "ghost"]]}]}',
            "unknown input 'ghost'",
        ),
    ],
)
def test_from_json_rejects_bad_input(text, message):
    with pytest.raises(GraphError, match=message):
        from_json(text)


def test_svg_without_dot_program_says_how_to_fix(monkeypatch):
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    with pytest.raises(GraphError, match="Graphviz"):
        graph_module.render_svg(node(1) + 1)


@pytest.mark.skipif(graph_module.shutil.which("dot") is None, reason="Graphviz not installed")
def test_svg_with_dot_program():
    assert "<svg" in graph_module.render_svg(node(1) + 1)


def test_cli_graph_renders_saved_trace(tmp_path):
    out, _ = _trace()
    path = tmp_path / "trace.json"
    path.write_text(to_json(out))
    run = subprocess.run(
        [sys.executable, "-m", "workflows.cli", "graph", str(path)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == to_dot(from_json(path.read_text()))
    dot_file = tmp_path / "out.dot"
    run = subprocess.run(
        [sys.executable, "-m", "workflows.cli", "graph", str(path), "-o", str(dot_file)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and dot_file.read_text().startswith("digraph")


def test_cli_graph_bad_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    run = subprocess.run(
        [sys.executable, "-m", "workflows.cli", "graph", str(bad)], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "not a saved trace" in run.stderr and "Traceback" not in run.stderr
