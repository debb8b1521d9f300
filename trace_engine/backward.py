"""Feedback: attach it to outputs, then find what it says about each parameter.

The reference implementation propagates a copy of the graph summary through every
node, which grows quadratically. Here one pass over the ancestors of the outputs
(O(V + E)) finds every node that lies on a path from a parameter to an output
with feedback; a single parameter's subgraph is then read off in time linear in
its own size.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from trace_engine.errors import GraphError
from trace_engine.graph import paused_gc, topological_order, traversal_lock
from trace_engine.nodes import Node, Parameter, check_is_node

FEEDBACK_TYPES = (str, int, float, bool, dict, list, tuple)

# Nodes holding feedback, as plain weak references keyed by id(): a node's plain
# weak reference is shared with its parents' child links, so registering it
# allocates nothing for the garbage collector; dead entries are pruned in bulk.
_with_feedback: dict[int, weakref.ref[Node]] = {}
_prune_at = 1024
_lock = threading.Lock()


def attach_feedback(node: Node, feedback: Any) -> None:
    """Attach ``feedback`` to ``node``; a node may receive several."""
    check_is_node(node, "backward()")
    if not isinstance(feedback, FEEDBACK_TYPES):
        raise TypeError(
            "feedback must be text, a number, or a dict/list of them; "
            f"got {type(feedback).__name__}"
        )
    if node.is_leaf and not node.trainable:
        raise GraphError(
            f"node {node.name!r} is not the output of any traced operation, so no parameter "
            "can receive its feedback; call backward() on a node computed from parameters"
        )
    node._feedback = (*node._feedback, feedback)
    with _lock:
        _with_feedback[id(node)] = weakref.ref(node)
        if len(_with_feedback) >= _prune_at:
            _prune_dead()


def _prune_dead() -> None:
    global _prune_at
    for key in [k for k, ref in _with_feedback.items() if ref() is None]:
        del _with_feedback[key]
    _prune_at = max(1024, 2 * len(_with_feedback))


def _live_with_feedback() -> list[Node]:
    return [n for n in (ref() for ref in _with_feedback.values()) if n is not None]


def nodes_with_feedback() -> list[Node]:
    """Every live node holding feedback, oldest first."""
    with _lock:
        found = _live_with_feedback()
    return sorted((n for n in found if n._feedback), key=lambda n: n._serial)


def zero_feedback(nodes: Iterable[Node] | None = None) -> None:
    """Clear feedback from ``nodes``, or from every node when none are given."""
    with _lock:
        targets = _live_with_feedback() if nodes is None else list(nodes)
        for n in targets:
            n._feedback = ()
            ref = _with_feedback.get(id(n))
            if ref is not None and ref() is n:
                del _with_feedback[id(n)]
        if nodes is None:
            _with_feedback.clear()


class FeedbackGraph:
    """The nodes on paths from ``parameters`` to ``outputs`` with feedback.

    ``nodes`` is in topological order (inputs before the nodes computed from them).
    Nodes feeding into these that are not themselves on a path (constants, other
    inputs) are reachable as their parents.
    """

    __slots__ = ("nodes", "parameters", "outputs", "_placed_at", "_links", "_ids")

    def __init__(
        self,
        nodes: list[Node],
        parameters: list[Parameter],
        outputs: list[Node],
        *,
        _placed_at: int | None = None,
    ):
        self.nodes = nodes
        self.parameters = parameters
        self.outputs = outputs
        self._placed_at = _placed_at
        self._links: _PositionLinks | None = None
        self._ids: set[int] | None = None

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, node: object) -> bool:
        if self._ids is None:
            self._ids = {id(n) for n in self.nodes}
        return id(node) in self._ids

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
                for child in children[stack.pop()]:
                    if child not in seen:
                        seen.add(child)
                        stack.append(child)
            nodes = self.nodes
            found = [nodes[i] for i in sorted(seen)]
            reached = sorted(links.outputs[i] for i in seen if i in links.outputs)
            return FeedbackGraph(found, [parameter], [self.outputs[i] for i in reached])

    def _position_links(self) -> _PositionLinks:
        if self._links is None:
            with traversal_lock:
                self._links = _PositionLinks(self._place_nodes(), self)
        return self._links

    def _place_nodes(self) -> int:
        """Write each node's position onto it (``Node._place``), unless the stamps
        this graph wrote are still the latest; return the first stamp."""
        if self._placed_at is None or self._placed_at != _latest_placement:
            self._placed_at = _reserve_places(len(self.nodes))
            for place, n in enumerate(self.nodes, self._placed_at):
                n._place = place
        return self._placed_at


class _PositionLinks:
    """A graph's edges by node position, built once from each node's parents: a
    subgraph walk then touches small ints only, never a large id() table."""

    def __init__(self, first: int, graph: FeedbackGraph):
        self.nodes = graph.nodes
        self.first = first
        size = len(graph.nodes)
        self.children: list[list[int]] = [[] for _ in range(size)]
        for position, n in enumerate(graph.nodes):
            for parent in n._parents:
                at = parent._place - first
                if 0 <= at < size:
                    self.children[at].append(position)
        self.outputs = {o._place - first: i for i, o in enumerate(graph.outputs)}
        self._positions: dict[int, int] | None = None

    def position_of(self, n: Node) -> int | None:
        """``n``'s position, read from its stamp when that still names it, else
        from an id() table built the first time a stamp has been overwritten."""
        at = n._place - self.first
        if 0 <= at < len(self.nodes) and self.nodes[at] is n:
            return at
        if self._positions is None:
            self._positions = {id(m): i for i, m in enumerate(self.nodes)}
        return self._positions.get(id(n))


# Positions are stamped on nodes from ever-increasing ranges, so a stamp can never
# be mistaken for one of another graph; only the latest graph's stamps are read.
_next_place = 0
_latest_placement: int | None = None


def _reserve_places(count: int) -> int:
    """A fresh range of ``count`` stamps; call with ``traversal_lock`` held."""
    global _next_place, _latest_placement
    first = _next_place
    _next_place += count
    _latest_placement = first
    return first


def feedback_graph(
    parameters: Sequence[Parameter], outputs: Sequence[Node] | None = None
) -> FeedbackGraph:
    """Find the nodes linking ``parameters`` to ``outputs`` (default: every node with feedback)."""
    for p in parameters:
        if not isinstance(p, Parameter):
            raise GraphError(f"expected parameters, got {type(p).__name__}: {p!r:.80}")
    outputs = nodes_with_feedback() if outputs is None else list(outputs)
    with paused_gc():
        return _paths(parameters, outputs)


def _paths(parameters: Sequence[Parameter], outputs: list[Node]) -> FeedbackGraph:
    """One pass in topological order: a node is on a path when it is a wanted
    parameter or has a parent on a path; positions are stamped as nodes are kept."""
    nodes: list[Node] = []
    used: list[Parameter] = []
    with traversal_lock:
        order = topological_order(outputs)
        first = _reserve_places(len(order))
        wanted = object()
        for p in parameters:
            p._visit = wanted
        for n in order:
            if n._visit is wanted:
                used.append(n)
            else:
                for p in n._parents:
                    if p._place >= first:
                        break
                else:
                    continue
            n._place = first + len(nodes)
            nodes.append(n)
        reached = [o for o in outputs if o._place >= first and o._feedback]
    return FeedbackGraph(nodes, used, reached, _placed_at=first)
