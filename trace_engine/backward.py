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
from trace_engine.graph import paused_gc, topological_order
from trace_engine.nodes import Node, Parameter, check_is_node

FEEDBACK_TYPES = (str, int, float, bool, dict, list, tuple)

_with_feedback: weakref.WeakSet[Node] = weakref.WeakSet()
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
        _with_feedback.add(node)


def nodes_with_feedback() -> list[Node]:
    """Every live node holding feedback, oldest first."""
    with _lock:
        found = list(_with_feedback)
    return sorted((n for n in found if n._feedback), key=lambda n: n._serial)


def zero_feedback(nodes: Iterable[Node] | None = None) -> None:
    """Clear feedback from ``nodes``, or from every node when none are given."""
    with _lock:
        targets = list(_with_feedback) if nodes is None else list(nodes)
        for n in targets:
            n._feedback = ()
            _with_feedback.discard(n)


class FeedbackGraph:
    """The nodes on paths from ``parameters`` to ``outputs`` with feedback.

    ``nodes`` is in topological order (inputs before the nodes computed from them).
    Nodes feeding into these that are not themselves on a path (constants, other
    inputs) are reachable as their parents.
    """

    def __init__(self, nodes: list[Node], parameters: list[Parameter], outputs: list[Node]):
        self.nodes = nodes
        self.parameters = parameters
        self.outputs = outputs
        self._position: dict[int, int] | None = None
        self._children: dict[int, list[Node]] | None = None

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, node: object) -> bool:
        return id(node) in self._positions()

    @property
    def feedback(self) -> dict[Node, list[Any]]:
        """Feedback of each output, in output order."""
        return {o: list(o._feedback) for o in self.outputs}

    def _positions(self) -> dict[int, int]:
        if self._position is None:
            self._position = {id(n): i for i, n in enumerate(self.nodes)}
        return self._position

    def _child_map(self) -> dict[int, list[Node]]:
        if self._children is None:
            position = self._positions()
            children: dict[int, list[Node]] = {}
            for n in self.nodes:
                for p in n._parents:
                    if id(p) in position:
                        children.setdefault(id(p), []).append(n)
            self._children = children
        return self._children

    def subgraph(self, parameter: Parameter) -> FeedbackGraph:
        """The part of this graph downstream of one parameter."""
        with paused_gc():
            return self._subgraph(parameter)

    def _subgraph(self, parameter: Parameter) -> FeedbackGraph:
        position = self._positions()
        if id(parameter) not in position:
            return FeedbackGraph([], [], [])
        children = self._child_map()
        seen = {id(parameter)}
        found = [parameter]
        stack = [parameter]
        while stack:
            for child in children.get(id(stack.pop()), ()):
                if id(child) not in seen:
                    seen.add(id(child))
                    found.append(child)
                    stack.append(child)
        found.sort(key=lambda n: position[id(n)])
        outputs = [o for o in self.outputs if id(o) in seen]
        return FeedbackGraph(found, [parameter], outputs)


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
    wanted = {id(p) for p in parameters}
    order = topological_order(outputs)
    on_path: set[int] = set()
    for n in order:
        key = id(n)
        if key in wanted:
            on_path.add(key)
            continue
        for p in n._parents:
            if id(p) in on_path:
                on_path.add(key)
                break
    nodes = [n for n in order if id(n) in on_path]
    used = [p for p in nodes if id(p) in wanted]
    reached = [o for o in outputs if id(o) in on_path and o._feedback]
    return FeedbackGraph(nodes, used, reached)
