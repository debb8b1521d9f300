"""Nodes: values that remember how they were computed.

A :class:`Node` wraps any Python value. Operating on nodes returns new nodes with
an edge to each input, so running a program leaves behind its graph. A
:class:`Parameter` is a node the optimizer may change.

A node's ``name`` is a label (the name it was given, else its value's type or its
operation's name). Labels need not be unique; renderings (an optimizer's problem,
DOT, JSON) number repeated labels themselves, so nothing here depends on what
else the process has traced.
"""

from __future__ import annotations

import copy
import re
import traceback
import weakref
from collections.abc import Iterator
from typing import Any

from trace_engine import operators as ops
from trace_engine.constraints import Constraint, as_constraint
from trace_engine.context import _mode
from trace_engine.errors import ExecutionError, GraphError, InvalidUpdate

_NOT_WORD = re.compile(r"\W+")
# Slots that tie a node into its graph: a deep copy starts without them.
_LINKS = frozenset({"_parents", "_children", "_op", "_feedback", "_info", "__weakref__"})


def _clean_name(name: str) -> str:
    cleaned = _NOT_WORD.sub("_", name).rstrip("_") or "node"
    return f"n_{cleaned}" if cleaned[0].isdigit() else cleaned


class Node:
    """A value in the traced graph.

    ``data`` is the wrapped value, ``parents`` the nodes it was computed from,
    ``children`` the live nodes computed from it. ``node == value`` compares the
    wrapped data (as in Trace) and returns a plain bool, while ``hash`` stays by
    identity, so sets and dicts of nodes still hold each node once. See
    :mod:`trace_engine.operators` for which operators are traced.
    """

    __slots__ = (
        "_data",
        "name",
        "description",
        "constraint",
        "_parents",
        "_children",
        "_op",
        "_feedback",
        "_info",
        "__weakref__",
    )
    trainable = False

    def __init__(
        self,
        value: Any,
        name: str | None = None,
        description: str | None = None,
        constraint: Constraint | None = None,
        *,
        parents: tuple[Node, ...] = (),
        op: ops.Op | None = None,
    ):
        self._data = value
        self.name = _clean_name(name) if name else type(value).__name__
        self._init_links(parents, op)
        self.description = description
        self.constraint = constraint
        scope = _mode.get().scope
        if scope is not None:
            scope.allow(self)

    def _init_links(self, parents: tuple[Node, ...], op: ops.Op | None) -> None:
        self.description = None
        self.constraint = None
        self._parents = parents
        self._children = None
        self._op = op
        self._feedback = ()
        self._info = None
        for parent in parents:
            parent._add_child(self)

    @classmethod
    def _traced(cls, value: Any, name: str, parents: tuple[Node, ...], op: ops.Op | None) -> Node:
        """Fast constructor for operation results: ``name`` is already a clean label."""
        made = cls.__new__(cls)
        made._data = value
        made.name = name
        made._init_links(parents, op)
        return made

    def _add_child(self, child: Node) -> None:
        # Most nodes have one child: keep its weak reference bare and make a list
        # only for the second, so a long trace allocates fewer objects for the
        # cyclic garbage collector to rescan.
        children = self._children
        if children is None:
            self._children = weakref.ref(child)
            return
        if type(children) is not list:
            self._children = [children, weakref.ref(child)]
            return
        children.append(weakref.ref(child))
        n = len(children)
        if n >= 64 and not n & (n - 1):
            children[:] = [r for r in children if r() is not None]

    @property
    def data(self) -> Any:
        """The wrapped value. Inside a bundle, only nodes passed as inputs may be read."""
        scope = _mode.get().scope
        if scope is not None:
            scope.read(self)
        return self._data

    @property
    def parents(self) -> list[Node]:
        return list(self._parents)

    @property
    def children(self) -> list[Node]:
        links = self._children
        if links is None:
            return []
        if type(links) is not list:
            links = [links]
        return [c for c in (r() for r in links) if c is not None]

    @property
    def op(self) -> ops.Op | None:
        """The operation that produced this node; ``None`` for leaves."""
        return self._op

    @property
    def op_name(self) -> str:
        return self._op.name if self._op else ""

    @property
    def inputs(self) -> dict[str, Node]:
        """Parents keyed by the argument name they were passed as."""
        names = self._op.arg_names if self._op else ()
        return {(names[i] if i < len(names) else f"arg{i}"): p for i, p in enumerate(self._parents)}

    @property
    def info(self) -> dict[str, Any]:
        """Extra facts about how this node was made: for a ``traceable_code`` bundle,
        ``"output"`` is the node its traced body returned; for a bundle that read
        nodes it was not given, ``"external_dependencies"`` lists them."""
        if self._info is None:
            self._info = {}
        return self._info

    @property
    def is_leaf(self) -> bool:
        return not self._parents

    @property
    def parameter_dependencies(self) -> set[Parameter]:
        """The parameters this node was computed from (itself, if it is one), as far
        as this level of the graph shows: parameters used inside a ``traceable_code``
        bundle's body appear in :attr:`expandable_dependencies` instead."""
        from trace_engine.graph import topological_order

        return {n for n in topological_order([self]) if n.trainable}

    @property
    def expandable_dependencies(self) -> set[Node]:
        """Outputs of ``traceable_code`` bundles upstream of this node (itself
        included) whose traced body used parameters that this level does not show."""
        from trace_engine.graph import topological_order

        found = set()
        for n in topological_order([self]):
            inner = n._info.get("output") if n._info else None
            if inner is not None and inner.parameter_dependencies - n.parameter_dependencies:
                found.add(n)
        return found

    @property
    def feedback(self) -> list[Any]:
        """Feedback attached to this node by :meth:`backward`."""
        return list(self._feedback)

    def backward(self, feedback: Any = "") -> None:
        """Attach feedback (text, a number or a structured value) to this output."""
        attach_feedback(self, feedback)

    def zero_feedback(self) -> None:
        self._feedback = ()

    # Copies ------------------------------------------------------------------
    def clone(self) -> Node:
        """A traced copy: a new node with this one as its only parent."""
        return apply(ops.CLONE, self)

    def detach(self) -> Node:
        """An untraced deep copy: same value and label, no parents, no feedback."""
        return copy.deepcopy(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Node:
        cls = type(self)
        made = cls.__new__(cls)
        memo[id(self)] = made
        made._init_links((), None)
        for klass in cls.__mro__:
            for slot in getattr(klass, "__slots__", ()):
                if slot in _LINKS or not hasattr(self, slot):
                    continue
                value = getattr(self, slot)
                setattr(made, slot, copy.deepcopy(value, memo) if slot == "_data" else value)
        return made

    # Plain-value protocols (Python requires these to return plain values).
    def __bool__(self) -> bool:
        return bool(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, item: Any) -> bool:
        return (item._data if isinstance(item, Node) else item) in self._data

    def __str__(self) -> str:
        return str(self._data)

    def __format__(self, spec: str) -> str:
        return format(self._data, spec)

    def __int__(self) -> int:
        return int(self._data)

    def __float__(self) -> float:
        return float(self._data)

    def __index__(self) -> int:
        return self._data.__index__()

    def __repr__(self) -> str:
        text = repr(self._data)
        if len(text) > 80:
            text = text[:77] + "..."
        return f"{type(self).__name__}(name={self.name!r}, data={text})"

    def __eq__(self, other: Any) -> Any:
        return self._data == (other._data if isinstance(other, Node) else other)

    def __ne__(self, other: Any) -> Any:
        return self._data != (other._data if isinstance(other, Node) else other)

    __hash__ = object.__hash__

    # Traced comparisons that Python would otherwise force to plain values.
    def eq(self, other: Any) -> Node:
        """Traced ``self == other`` (``==`` itself gives a plain bool)."""
        return apply(ops.EQ, self, other)

    def neq(self, other: Any) -> Node:
        """Traced ``self != other``."""
        return apply(ops.NE, self, other)

    # Traced operators.
    def __add__(self, other):
        return apply(ops.ADD, self, other)

    def __radd__(self, other):
        return apply(ops.ADD, other, self)

    def __sub__(self, other):
        return apply(ops.SUB, self, other)

    def __rsub__(self, other):
        return apply(ops.SUB, other, self)

    def __mul__(self, other):
        return apply(ops.MUL, self, other)

    def __rmul__(self, other):
        return apply(ops.MUL, other, self)

    def __truediv__(self, other):
        return apply(ops.TRUEDIV, self, other)

    def __rtruediv__(self, other):
        return apply(ops.TRUEDIV, other, self)

    def __floordiv__(self, other):
        return apply(ops.FLOORDIV, self, other)

    def __rfloordiv__(self, other):
        return apply(ops.FLOORDIV, other, self)

    def __mod__(self, other):
        return apply(ops.MOD, self, other)

    def __rmod__(self, other):
        return apply(ops.MOD, other, self)

    def __divmod__(self, other):
        return apply(ops.DIVMOD, self, other)

    def __rdivmod__(self, other):
        return apply(ops.DIVMOD, other, self)

    def __pow__(self, other):
        return apply(ops.POW, self, other)

    def __rpow__(self, other):
        return apply(ops.POW, other, self)

    def __matmul__(self, other):
        return apply(ops.MATMUL, self, other)

    def __rmatmul__(self, other):
        return apply(ops.MATMUL, other, self)

    def __lshift__(self, other):
        return apply(ops.LSHIFT, self, other)

    def __rlshift__(self, other):
        return apply(ops.LSHIFT, other, self)

    def __rshift__(self, other):
        return apply(ops.RSHIFT, self, other)

    def __rrshift__(self, other):
        return apply(ops.RSHIFT, other, self)

    def __and__(self, other):
        return apply(ops.AND, self, other)

    def __rand__(self, other):
        return apply(ops.AND, other, self)

    def __or__(self, other):
        return apply(ops.OR, self, other)

    def __ror__(self, other):
        return apply(ops.OR, other, self)

    def __xor__(self, other):
        return apply(ops.XOR, self, other)

    def __rxor__(self, other):
        return apply(ops.XOR, other, self)

    def __lt__(self, other):
        return apply(ops.LT, self, other)

    def __le__(self, other):
        return apply(ops.LE, self, other)

    def __gt__(self, other):
        return apply(ops.GT, self, other)

    def __ge__(self, other):
        return apply(ops.GE, self, other)

    def __neg__(self):
        return apply(ops.NEG, self)

    def __pos__(self):
        return apply(ops.POS, self)

    def __abs__(self):
        return apply(ops.ABS, self)

    def __invert__(self):
        return apply(ops.INVERT, self)

    def __round__(self, ndigits=None):
        return apply(ops.ROUND, self, ndigits)

    def __trunc__(self):
        return apply(ops.TRUNC, self)

    def __floor__(self):
        return apply(ops.FLOOR, self)

    def __ceil__(self):
        return apply(ops.CEIL, self)

    def __getitem__(self, key):
        return apply(ops.GETITEM, self, key)

    def __setitem__(self, key, value):
        raise TypeError(
            f"node {self.name!r} is immutable: build a new value instead of assigning to it"
        )

    def __iter__(self) -> Iterator[Node]:
        data = self._data
        if isinstance(data, dict):
            return iter(self.keys())
        if isinstance(data, (list, tuple, str)) or hasattr(data, "__array__"):
            return (apply(ops.GETITEM, self, i) for i in range(len(data)))
        # Sets, generators and anything else iterable are listed first (a set in its
        # own order); a value that cannot be iterated raises the catchable
        # ExecutionError that operators raise, e.g. when unpacking a node of None.
        listed = apply(ops.TO_LIST_FROM, self)
        return (apply(ops.GETITEM, listed, i) for i in range(len(listed._data)))

    # Dict views: lists of item nodes, so ``for k, v in node.items()`` and
    # ``{}.update(node)`` work. On other values these call the value's own method.
    def keys(self) -> list[Node]:
        if not isinstance(self._data, dict):
            return self.__getattr__("keys")()
        keys = apply(ops.KEYS, self)
        return [apply(ops.GETITEM, keys, i) for i in range(len(keys._data))]

    def values(self) -> list[Node]:
        if not isinstance(self._data, dict):
            return self.__getattr__("values")()
        values = apply(ops.VALUES, self)
        return [apply(ops.GETITEM, values, i) for i in range(len(values._data))]

    def items(self) -> list[tuple[Node, Node]]:
        if not isinstance(self._data, dict):
            return self.__getattr__("items")()
        return [(k, apply(ops.GETITEM, self, k)) for k in self.keys()]

    def len(self) -> Node:
        """Traced ``len(data)`` (``len(node)`` itself must return a plain int)."""
        return apply(ops.LENGTH, self)

    def getattr(self, name: Any) -> Node:
        """Traced ``getattr(data, name)`` (the same as ``node.name`` for public names)."""
        return apply(ops.GETATTR, self, name)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Node:
        """Traced ``data.method(*args, **kwargs)``."""
        return self.getattr(method)(*args, **kwargs)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        data = object.__getattribute__(self, "_data")
        if not hasattr(data, name):
            raise AttributeError(
                f"node {self.name!r} wraps a {type(data).__name__}, which has no attribute {name!r}"
            )
        return apply(ops.GETATTR, self, name)

    def __call__(self, *args, **kwargs):
        if not callable(self._data):
            raise TypeError(
                f"node {self.name!r} wraps a {type(self._data).__name__}, not a callable"
            )
        return apply(ops.call_op(len(args), kwargs), self, *args, *kwargs.values())

    # Pickling drops the weak children links (they point at other graphs); loading
    # links the node to its parents again, so a graph that comes back from another
    # process is found from its parameters (outputs_with_feedback) like one made here.
    def __getstate__(self) -> dict[str, Any]:
        return {
            "data": self._data,
            "name": self.name,
            "description": self.description,
            "constraint": self.constraint,
            "parents": self._parents,
            "op": self._op,
            "feedback": list(self._feedback),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._data = state["data"]
        self.name = state["name"]
        self.description = state["description"]
        self.constraint = state["constraint"]
        self._parents = state["parents"]
        self._op = state["op"]
        self._feedback = tuple(state["feedback"])
        self._children = None
        self._info = None
        for parent in self._parents:
            parent._add_child(self)


class Parameter(Node):
    """A trainable node: the optimizer proposes new values and :meth:`set` applies them."""

    __slots__ = ()
    trainable = True

    def validate(self, value: Any) -> Any:
        """Return ``value`` as it would be stored, or raise ``InvalidUpdate`` saying why."""
        if self.constraint is not None:
            reason = self.constraint.violation(value)
            if reason:
                raise InvalidUpdate(f"{self.name}: {reason}")
        return value

    def set(self, value: Any) -> None:
        """Validate and store a new value; on failure the old value is kept."""
        self._data = self.validate(value)


def error_text(exception: BaseException) -> str:
    """``Type: message`` of an exception, naming the error it was raised from, if any."""
    text = f"{type(exception).__name__}: {exception}"
    cause = exception.__cause__ or exception.__context__
    if cause is not None and type(cause).__name__ not in text:
        text += f" (from {type(cause).__name__}: {cause})"
    return text


class ExceptionNode(Node):
    """The result of a traced call that raised: carries the exception for feedback.

    ``data`` is the error as text (``Type: message``), what the optimizer reads;
    ``exception`` is the exception object itself.
    """

    __slots__ = ("exception", "traceback", "failed_line")

    def __init__(
        self,
        exception: BaseException,
        *,
        traceback: str,
        failed_line: str,
        parents: tuple[Node, ...],
        op: ops.Op | None,
    ):
        name = f"error_{op.name}" if op else "error"
        super().__init__(error_text(exception), name=name, parents=parents, op=op)
        self.exception = exception
        self.traceback = traceback
        self.failed_line = failed_line

    def create_feedback(self) -> str:
        """Feedback for the optimizer about this error: the error as text."""
        return self._data

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["exception"] = repr(self.exception)
        state["traceback"] = self.traceback
        state["failed_line"] = self.failed_line
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.exception = state["exception"]
        self.traceback = state["traceback"]
        self.failed_line = state["failed_line"]


def node(
    value: Any,
    trainable: bool = False,
    name: str | None = None,
    description: str | None = None,
    constraint: Any = None,
) -> Node:
    """Wrap ``value`` as a node; ``trainable=True`` makes it a :class:`Parameter`.

    ``constraint`` may be text shown to the optimizer, a callable ``value -> bool``,
    or a :class:`~trace_engine.constraints.Constraint` such as ``Range`` or ``Choices``.
    A node passed in is returned unchanged, except that ``trainable=True`` on a
    non-trainable node makes a new parameter sharing its value.
    """
    if not isinstance(trainable, bool):
        raise TypeError(f"node(): trainable must be a bool, got {trainable!r}")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise TypeError(f"node(): name must be a non-empty str, got {name!r}")
    if description is not None and not isinstance(description, str):
        raise TypeError(f"node(): description must be a str, got {type(description).__name__}")
    if isinstance(value, Node):
        if not trainable or value.trainable:
            return value
        name = name or value.name
        description = description if description is not None else value.description
        value = value._data
    checked = as_constraint(constraint)
    cls = Parameter if trainable else Node
    made = cls(value, name=name, description=description, constraint=checked)
    if trainable and checked is not None:
        reason = checked.violation(value)
        if reason:
            raise ValueError(
                f"node(): initial value of {made.name!r} breaks its constraint: {reason}"
            )
    return made


def to_node(value: Any, name: str) -> Node:
    """An input for an operation: nodes as they are, containers holding nodes as a
    traced container node, anything else as a constant node named ``name``."""
    if isinstance(value, Node):
        return value
    if not isinstance(value, (list, tuple, dict)):
        return Node._traced(value, name, (), None)
    if isinstance(value, (list, tuple)) and any(isinstance(v, Node) for v in value):
        op = ops.TO_LIST if isinstance(value, list) else ops.TO_TUPLE
        return apply(op, *value)
    if isinstance(value, dict) and any(isinstance(v, Node) for v in value.values()):
        keys = tuple(value)

        def build(*values: Any) -> dict:
            return dict(zip(keys, values))

        op = ops.Op("make_dict", build, "Builds a dict from its values.", tuple(map(str, keys)))
        return apply(op, *value.values())
    return Node._traced(value, name, (), None)


def unwrap(value: Any) -> Any:
    """The plain value behind a node, or inside a container of nodes (dict keys,
    sets and nodes wrapping containers of nodes included). A container holding no
    node is returned as it is, so a bundle can still update it in place."""
    if isinstance(value, Node):
        inner = value.data
        return unwrap(inner) if isinstance(inner, _CONTAINERS) else inner
    if isinstance(value, list):
        items = [unwrap(v) for v in value]
    elif isinstance(value, tuple):
        items = tuple(unwrap(v) for v in value)
    elif isinstance(value, dict):
        pairs = [(unwrap(k), unwrap(v)) for k, v in value.items()]
        if all(a is k and b is v for (a, b), (k, v) in zip(pairs, value.items())):
            return value
        return dict(pairs)
    elif isinstance(value, set):
        items = [unwrap(v) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else set(items)
    else:
        return value
    return value if all(a is b for a, b in zip(items, value)) else items


_CONTAINERS = (Node, list, tuple, dict, set)


def apply(op: ops.Op, *args: Any) -> Any:
    """Run ``op`` on the values behind ``args`` and record the result as a node.

    Without tracing the result is a fresh node with no parents; inside a bundle's
    body it is the plain value (bundle bodies are not traced). A result that is
    itself a node (an attribute or list item holding one) is unwrapped; when it is a
    parameter it also becomes an input, so its feedback is not lost. If ``op``
    raises, :class:`~trace_engine.errors.ExecutionError` carries an
    :class:`ExceptionNode` computed from the same inputs, as inside ``@bundle``.
    """
    mode = _mode.get()
    scope = mode.scope
    if scope is not None:
        for a in args:
            if isinstance(a, Node):
                scope.read(a)
        return op.fn(*(unwrap(a) for a in args))
    tracing = mode.tracing
    names = op.arg_names
    values = []
    parents = []
    for i, a in enumerate(args):
        if isinstance(a, Node):
            values.append(a._data)
            parents.append(a)
            continue
        name = names[i] if i < len(names) else f"arg{i}"
        if isinstance(a, (list, tuple, dict)):
            values.append(unwrap(a))
            if tracing:
                parents.append(to_node(a, name))
        else:
            values.append(a)
            if tracing:
                parents.append(Node._traced(a, name, (), None))
    try:
        result = op.fn(*values)
    except Exception as exc:
        raise _failed(op, exc, tuple(parents) if tracing else ()) from exc
    if isinstance(result, Node):
        inner = result
        result = inner._data
        if inner.trainable and tracing:
            parents.append(inner)
            op = ops.Op(op.name, op.fn, op.doc, (*names[: len(args)], "value"))
    if not tracing:
        return Node._traced(result, op.name, (), None)
    return Node._traced(result, op.name, tuple(parents), op)


def _failed(op: ops.Op, exc: Exception, parents: tuple[Node, ...]) -> ExecutionError:
    error = ExceptionNode(
        exc,
        traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        failed_line="",
        parents=parents,
        op=op if parents else None,
    )
    return ExecutionError(error)


FEEDBACK_TYPES = (str, int, float, bool, dict, list, tuple)


def attach_feedback(node: Node, feedback: Any) -> None:
    """Attach ``feedback`` to ``node``; a node may receive several."""
    if not isinstance(node, Node):
        check_is_node(node, "backward()")
    if not isinstance(feedback, FEEDBACK_TYPES):
        raise TypeError(
            "feedback must be text, a number, or a dict/list of them; "
            f"got {type(feedback).__name__}"
        )
    if not node._parents and not node.trainable:
        raise GraphError(
            f"node {node.name!r} is not the output of any traced operation, so no parameter "
            "can receive its feedback; call backward() on a node computed from parameters"
        )
    node._feedback = (*node._feedback, feedback)


def check_is_node(value: Any, what: str) -> Node:
    if not isinstance(value, Node):
        raise GraphError(f"{what} must be a Node, got {type(value).__name__}: {value!r:.80}")
    return value
