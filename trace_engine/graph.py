"""Graph queries and export: topological order, networkx, Graphviz DOT, JSON, SVG.

Export works from plain records (one dict per node), so a trace saved as JSON can
be reloaded and rendered later without the program that made it.
"""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from trace_engine.errors import GraphError

if TYPE_CHECKING:
    import networkx

    from trace_engine.nodes import Node

JSON_FORMAT = "trace-engine/graph"
VALUE_LIMIT = 2000


class paused_gc:  # noqa: N801 - used like a function: ``with paused_gc():``
    """Hold off the cyclic garbage collector during one graph pass.

    A pass over a large graph allocates many short-lived containers; each
    allocation burst would otherwise trigger full collections that rescan the
    whole (live) graph and make the pass super-linear. A plain class rather than
    a generator context manager: it is entered once per extracted subgraph, and
    that overhead showed in the per-parameter cost.
    """

    __slots__ = ("_was_enabled",)

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc_info: object) -> None:
        if self._was_enabled:
            gc.enable()


def topological_order(roots: Iterable[Node]) -> list[Node]:
    """``roots`` and all their ancestors, each after its parents (iterative, O(V + E)).

    The visited set belongs to this call, so concurrent passes never interfere.
    Leaves are placed as soon as they are met, without a stack frame of their own."""
    order: list[Node] = []
    visited: set[int] = set()
    add, place, ident = visited.add, order.append, id
    for root in roots:
        if ident(root) in visited:
            continue
        add(ident(root))
        if not root._parents:
            place(root)
            continue
        stack = [(root, iter(root._parents))]
        while stack:
            current, parents = stack[-1]
            for parent in parents:
                key = ident(parent)
                if key not in visited:
                    add(key)
                    if parent._parents:
                        stack.append((parent, iter(parent._parents)))
                        break
                    place(parent)
            else:
                stack.pop()
                place(current)
    return order


class Labels:
    """Unique labels for the nodes of one rendering: a node's name, numbered
    (``name_1``, ``name_2``, ...) from the second node that shares it, in the order
    nodes are first labelled. ``keep`` nodes are labelled first."""

    def __init__(self, keep: Iterable[Node] = ()):
        self._labels: dict[int, str] = {}
        self._taken: set[str] = set()
        self._next: dict[str, int] = {}
        for n in keep:
            self.label(n)

    def label(self, n: Node) -> str:
        """``n``'s label, given now if it has none yet."""
        label = self._labels.get(id(n))
        if label is None:
            base = n.name
            k = self._next.get(base, 0)
            label = base if k == 0 else f"{base}_{k}"
            while label in self._taken:
                k += 1
                label = f"{base}_{k}"
            self._next[base] = k + 1
            self._taken.add(label)
            self._labels[id(n)] = label
        return label

    __getitem__ = label


def unique_labels(nodes: Sequence[Node]) -> list[str]:
    """A unique label for each of ``nodes``, in order (see :class:`Labels`)."""
    labels = Labels()
    return [labels[n] for n in nodes]


def ancestors(roots: Iterable[Node]) -> list[Node]:
    """Every node that ``roots`` were computed from (roots excluded), in topological order."""
    roots = list(roots)
    ids = {id(r) for r in roots}
    return [n for n in topological_order(roots) if id(n) not in ids]


class SavedGraph:
    """A trace as plain records: what ``to_json`` writes and ``from_json`` reads."""

    def __init__(self, records: list[dict[str, Any]]):
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, name: str) -> dict[str, Any]:
        for r in self.records:
            if r["name"] == name:
                return r
        raise KeyError(name)


def _nodes_of(graph: Any) -> list[Node]:
    from trace_engine.backward import FeedbackGraph
    from trace_engine.nodes import Node

    if isinstance(graph, Node):
        return topological_order([graph])
    if isinstance(graph, FeedbackGraph):
        return topological_order(graph.outputs or graph.nodes)
    try:
        items = list(graph)
    except TypeError:
        raise GraphError(
            f"expected a node, nodes or a FeedbackGraph, got {type(graph).__name__}"
        ) from None
    for item in items:
        if not isinstance(item, Node):
            raise GraphError(f"expected nodes, got {type(item).__name__}")
    return topological_order(items)


def _json_value(value: Any) -> Any:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = None
    if text is not None and len(text) <= VALUE_LIMIT:
        return value
    shown = repr(value) if text is None else text
    if len(shown) > VALUE_LIMIT:
        shown = shown[: VALUE_LIMIT // 2] + " ... " + shown[-VALUE_LIMIT // 2 :]
    return {"repr": shown}


def _kind(n: Node) -> str:
    from trace_engine.nodes import ExceptionNode

    if isinstance(n, ExceptionNode):
        return "error"
    if n.trainable:
        return "parameter"
    return "operation" if n._op is not None else "constant"


def _records(graph: Any) -> list[dict[str, Any]]:
    if isinstance(graph, SavedGraph):
        return graph.records
    from trace_engine.nodes import ExceptionNode

    records = []
    order = _nodes_of(graph)
    labels = Labels(n for n in order if n.trainable)
    for n in order:
        record = {
            "name": labels[n],
            "kind": _kind(n),
            "type": type(n._data).__name__,
            "value": _json_value(n._data),
            "description": n.description,
            "op": n.op_name or None,
            "doc": n._op.doc if n._op else None,
            "inputs": [[arg, labels[p]] for arg, p in n.inputs.items()],
            "feedback": [_json_value(f) for f in n._feedback],
        }
        if isinstance(n, ExceptionNode):
            record["value"] = f"{type(n.exception).__name__}: {n.exception}"
            record["traceback"] = n.traceback
            record["failed_line"] = n.failed_line
        records.append(record)
    return records


def to_json(graph: Any) -> str:
    """The trace behind ``graph`` (a node, nodes or a FeedbackGraph) as JSON text."""
    return json.dumps({"format": JSON_FORMAT, "nodes": _records(graph)}, indent=1)


def from_json(text: str) -> SavedGraph:
    """Load a trace written by :func:`to_json`, for inspection and rendering."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GraphError(f"not a saved trace: invalid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
        raise GraphError(f"not a saved trace: expected format {JSON_FORMAT!r}")
    records = data.get("nodes")
    names = set()
    for i, r in enumerate(records if isinstance(records, list) else [None]):
        if not isinstance(r, dict) or not {"name", "kind", "inputs"} <= set(r):
            raise GraphError(f"not a saved trace: node entry {i} is malformed")
        for _arg, parent in r["inputs"]:
            if parent not in names:
                raise GraphError(f"saved trace: {r['name']!r} names unknown input {parent!r}")
        names.add(r["name"])
    return SavedGraph(records)


def to_networkx(graph: Any) -> networkx.DiGraph:
    """A networkx DiGraph: node attributes from the records, edges labelled by argument."""
    import networkx as nx

    g = nx.DiGraph()
    for r in _records(graph):
        g.add_node(r["name"], **{k: v for k, v in r.items() if k not in ("name", "inputs")})
        for arg, parent in r["inputs"]:
            g.add_edge(parent, r["name"], arg=arg)
    return g


_STYLE = {
    "parameter": 'shape=box, style="filled,bold", fillcolor="#cfe8ff"',
    "error": 'shape=octagon, style=filled, fillcolor="#ffc9c9", color="#c00000"',
    "operation": 'shape=ellipse, style=filled, fillcolor="#f2f2f2"',
    "constant": 'shape=note, style=filled, fillcolor="#ffffff"',
}


def _dot_text(text: Any, limit: int = 60) -> str:
    s = text if isinstance(text, str) else json.dumps(text)
    if len(s) > limit:
        s = s[: limit - 3] + "..."
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(graph: Any) -> str:
    """Graphviz text; parameters are blue boxes, errors red octagons."""
    lines = ["digraph trace {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];']
    for r in _records(graph):
        title = r["name"] if not r.get("op") else f"{r['name']} = {r['op']}(...)"
        label = f"{_dot_text(title)}\\n{_dot_text(r.get('value'))}"
        if r.get("feedback"):
            label += f"\\nfeedback: {_dot_text(r['feedback'][-1])}"
        style = _STYLE.get(r["kind"], _STYLE["operation"])
        lines.append(f'  "{_dot_text(r["name"], 200)}" [label="{label}", {style}];')
        for arg, parent in r["inputs"]:
            lines.append(
                f'  "{_dot_text(parent, 200)}" -> "{_dot_text(r["name"], 200)}" [label="{_dot_text(arg)}"];'
            )
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_svg(graph: Any) -> str:
    """SVG text drawn by Graphviz's ``dot`` program."""
    return render(graph, "svg").decode("utf-8")


def render(graph: Any, fmt: str) -> bytes:
    """The graph drawn by Graphviz's ``dot`` program in ``fmt`` (``svg``, ``png``, ...)."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphError(
            f"rendering {fmt.upper()} needs Graphviz's `dot` program, which is not installed "
            "(e.g. `apt-get install graphviz` or `brew install graphviz`); DOT output works without it"
        )
    result = subprocess.run(
        [dot, f"-T{fmt}"], input=to_dot(graph).encode("utf-8"), capture_output=True, timeout=120
    )
    if result.returncode != 0:
        raise GraphError(f"dot failed: {result.stderr.decode('utf-8', 'replace').strip()}")
    return result.stdout
