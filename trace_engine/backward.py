"""Feedback: attach it to outputs, then find what it says about each parameter.

Feedback lives on the output it was attached to, nowhere else: there is no
process-wide registry, so what one optimizer reads never depends on what else
the process traced. The reference implementation propagates a copy of the graph
summary through every node, which grows quadratically. Here one pass over the
ancestors of the outputs (O(V + E)) finds every node that lies on a path from a
parameter to an output with feedback; a single parameter's subgraph is then read
off in time linear in its own size. Passes keep their marks in their own tables,
so graphs can be built, back-propagated and rendered from several threads at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from trace_engine.errors import GraphError
from trace_engine.graph import paused_gc, topological_order
from trace_engine.nodes import FEEDBACK_TYPES, Node, Parameter, attach_feedback, check_is_node

__all__ = [
    "FEEDBACK_TYPES",
    "FeedbackGraph",
    "attach_feedback",
    "feedback_graph",
    "outputs_with_feedback",
    "zero_feedback",
]


def outputs_with_feedback(parameters: Iterable[Node]) -> list[Node]:
    """The live nodes computed from ``parameters`` (they included) that hold feedback,
    nearest first: the outputs an optimizer of these parameters may read."""
    seen: set[int] = set()
    found: list[Node] = []
    frontier = list(parameters)
    for n in frontier:
        seen.add(id(n))
    while frontier:
        following: list[Node] = []
        for n in frontier:
            if n._feedback:
                found.append(n)
            for child in n.children:
                if id(child) not in seen:
                    seen.add(id(child))
                    following.append(child)
        frontier = following
    return found


def zero_feedback(nodes: Iterable[Node]) -> None:
    """Clear the feedback on ``nodes``."""
    for n in nodes:
        check_is_node(n, "zero_feedback()")
        n._feedback = ()


class FeedbackGraph:
    """The nodes on paths from ``parameters`` to ``outputs`` with feedback.

    ``nodes`` is in topological order (inputs before the nodes computed from them).
    Nodes feeding into these that are not themselves on a path (constants, other
    inputs) are reachable as their parents.
    """

    __slots__ = ("nodes", "parameters", "outputs", "_positions", "_links")

    def __init__(
        self,
        nodes: list[Node],
        parameters: list[Parameter],
        outputs: list[Node],
        *,
        _positions: dict[int, int] | None = None,
    ):
        self.nodes = nodes
        self.parameters = parameters
        self.outputs = outputs
        self._positions = _positions
        self._links: _PositionLinks | None = None

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, node: object) -> bool:
        if self._positions is None:
            self._positions = {id(n): i for i, n in enumerate(self.nodes)}
        return id(node) in self._positions

    @property
    def feedback(self) -> dict[Node, list[Any]]:
        """Feedback of each output, in output order."""
        return {o: list(o._feedback) for o in self.outputs}

    def subgraph(self, parameter: Parameter) -> FeedbackGraph:
        """The part of this graph downstream of one parameter."""
        with paused_gc():
            links = self._position_links()
            start = links.position_of(parameter)
            if start is None:
                return FeedbackGraph([], [], [])
            children = links.children
            seen = {start}
            stack = [start]
            while stack:
                for child in children[stack.pop()] or ():
                    if child not in seen:
                        seen.add(child)
                        stack.append(child)
            nodes = self.nodes
            found = [nodes[i] for i in sorted(seen)]
            reached = sorted(links.outputs[i] for i in seen if i in links.outputs)
            return FeedbackGraph(found, [parameter], [self.outputs[i] for i in reached])

    def _position_links(self) -> _PositionLinks:
        if self._links is None:
            if self._positions is None:
                self._positions = {id(n): i for i, n in enumerate(self.nodes)}
            self._links = _PositionLinks(self, self._positions)
        return self._links


class _PositionLinks:
    """A graph's edges by node position, built once from each node's parents: a
    subgraph walk then touches small ints only."""

    def __init__(self, graph: FeedbackGraph, positions: dict[int, int]):
        self.positions = positions
        children: list[list[int] | None] = [None] * len(graph.nodes)
        get, ident = positions.get, id
        for position, n in enumerate(graph.nodes):
            for parent in n._parents:
                at = get(ident(parent))
                if at is not None:
                    below = children[at]
                    if below is None:
                        children[at] = [position]
                    else:
                        below.append(position)
        self.children = children
        self.outputs = {positions[id(o)]: i for i, o in enumerate(graph.outputs)}

    def position_of(self, n: Node) -> int | None:
        return self.positions.get(id(n))


def feedback_graph(
    parameters: Sequence[Parameter], outputs: Sequence[Node] | None = None
) -> FeedbackGraph:
    """Find the nodes linking ``parameters`` to ``outputs`` (default: the outputs
    computed from these parameters that hold feedback, see :func:`outputs_with_feedback`)."""
    for p in parameters:
        if not isinstance(p, Parameter):
            raise GraphError(f"expected parameters, got {type(p).__name__}: {p!r:.80}")
    outputs = outputs_with_feedback(parameters) if outputs is None else list(outputs)
    with paused_gc():
        return _paths(parameters, outputs)


def _paths(parameters: Sequence[Parameter], outputs: list[Node]) -> FeedbackGraph:
    """One pass in topological order: a node is on a path when it is a wanted
    parameter or has a parent on a path."""
    nodes: list[Node] = []
    used: list[Parameter] = []
    wanted = {id(p) for p in parameters}
    positions: dict[int, int] = {}
    keep, ident = nodes.append, id
    for n in topological_order(outputs):
        key = ident(n)
        if key in wanted:
            used.append(n)
        else:
            for p in n._parents:
                if ident(p) in positions:
                    break
            else:
                continue
        positions[key] = len(nodes)
        keep(n)
    reached = [o for o in outputs if id(o) in positions and o._feedback]
    return FeedbackGraph(nodes, used, reached, _positions=positions)
