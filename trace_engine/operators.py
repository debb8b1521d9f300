"""Traced Python operators.

Every operator on a :class:`~trace_engine.nodes.Node` (``+``, ``<``, ``[]``,
attribute access, calls, ...) is one :class:`Op` from this table, applied through
:func:`trace_engine.nodes.apply`, so it returns a new node with an edge to each input.

Python forces a plain value out of some protocols, so these stay untraced:
``==``/``!=`` and ``hash`` (nodes are compared and hashed by identity, which keeps
them usable in sets and dicts), ``bool()`` (``if``/``while``), ``len()``, ``in``,
``str()``/``format()``/f-strings and ``int()``/``float()``. Use the traced helpers
here instead where the result must stay in the graph: :func:`eq`, :func:`ne`,
:func:`length`, :func:`contains`, :func:`fmt`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

from trace_engine import nodes


class Op:
    """A named operation: its function, documentation and argument names."""

    __slots__ = ("name", "fn", "doc", "arg_names")

    def __init__(self, name: str, fn: Callable | None, doc: str, arg_names: Sequence[str]):
        self.name = name
        self.fn = fn
        self.doc = doc
        self.arg_names = tuple(arg_names)

    def __repr__(self) -> str:
        return f"Op({self.name})"


def _binary(name: str, fn: Callable, symbol: str) -> Op:
    return Op(name, fn, f"Returns a {symbol} b.", ("a", "b"))


def _unary(name: str, fn: Callable, symbol: str) -> Op:
    return Op(name, fn, f"Returns {symbol}x.", ("x",))


ADD = _binary("add", operator.add, "+")
SUB = _binary("subtract", operator.sub, "-")
MUL = _binary("multiply", operator.mul, "*")
TRUEDIV = _binary("divide", operator.truediv, "/")
FLOORDIV = _binary("floor_divide", operator.floordiv, "//")
MOD = _binary("mod", operator.mod, "%")
POW = _binary("power", operator.pow, "**")
MATMUL = _binary("matmul", operator.matmul, "@")
LSHIFT = _binary("lshift", operator.lshift, "<<")
RSHIFT = _binary("rshift", operator.rshift, ">>")
AND = _binary("bitwise_and", operator.and_, "&")
OR = _binary("bitwise_or", operator.or_, "|")
XOR = _binary("bitwise_xor", operator.xor, "^")
LT = _binary("less_than", operator.lt, "<")
LE = _binary("less_equal", operator.le, "<=")
GT = _binary("greater_than", operator.gt, ">")
GE = _binary("greater_equal", operator.ge, ">=")
EQ = _binary("equal", operator.eq, "==")
NE = _binary("not_equal", operator.ne, "!=")
NEG = _unary("negate", operator.neg, "-")
POS = _unary("positive", operator.pos, "+")
ABS = Op("absolute", abs, "Returns abs(x).", ("x",))
INVERT = _unary("invert", operator.invert, "~")
GETITEM = Op("getitem", operator.getitem, "Returns x[index].", ("x", "index"))
GETATTR = Op("getattr", getattr, "Returns getattr(x, name).", ("x", "name"))
KEYS = Op("keys", lambda d: list(d), "Returns the keys of the dict x, in order.", ("x",))
LENGTH = Op("length", len, "Returns len(x).", ("x",))
CONTAINS = Op(
    "contains", lambda x, item: item in x, "Returns True when item is in x.", ("x", "item")
)
TO_LIST = Op("make_list", lambda *items: list(items), "Builds a list from its items.", ())
TO_TUPLE = Op("make_tuple", lambda *items: tuple(items), "Builds a tuple from its items.", ())

REFLECTED = {ADD, SUB, MUL, TRUEDIV, FLOORDIV, MOD, POW, MATMUL, LSHIFT, RSHIFT, AND, OR, XOR}


def _call(fn: Callable, *args: Any) -> Any:
    return fn(*args)


def call_op(n_positional: int, keywords: Sequence[str]) -> Op:
    """The op for calling a wrapped callable with these positional and keyword arguments."""
    keywords = tuple(keywords)
    if not keywords:
        return Op(
            "call", _call, "Returns fn(*args).", ("fn", *(f"arg{i}" for i in range(n_positional)))
        )

    def fn(f: Callable, *values: Any) -> Any:
        return f(*values[:n_positional], **dict(zip(keywords, values[n_positional:])))

    names = ("fn", *(f"arg{i}" for i in range(n_positional)), *keywords)
    return Op("call", fn, "Returns fn(*args, **kwargs).", names)


def eq(a: Any, b: Any) -> nodes.Node:
    """Traced ``a == b`` (``==`` on nodes compares identity)."""
    return nodes.apply(EQ, a, b)


def ne(a: Any, b: Any) -> nodes.Node:
    """Traced ``a != b``."""
    return nodes.apply(NE, a, b)


def length(x: Any) -> nodes.Node:
    """Traced ``len(x)`` (``len()`` must return a plain int)."""
    return nodes.apply(LENGTH, x)


def contains(x: Any, item: Any) -> nodes.Node:
    """Traced ``item in x`` (``in`` must return a plain bool)."""
    return nodes.apply(CONTAINS, x, item)


def fmt(template: Any, **fields: Any) -> nodes.Node:
    """Traced ``template.format(**fields)``; f-strings on nodes give plain strings."""
    keys = tuple(fields)

    def render(t: str, *values: Any) -> str:
        return t.format(**dict(zip(keys, values)))

    op = Op("format", render, "Returns template.format(**fields).", ("template", *keys))
    return nodes.apply(op, template, *fields.values())
