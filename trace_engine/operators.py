"""Traced Python operators.

Every operator on a :class:`~trace_engine.nodes.Node` (``+``, ``<``, ``[]``,
attribute access, calls, ...) is one :class:`Op` from this table, applied through
:func:`trace_engine.nodes.apply`, so it returns a new node with an edge to each input.

Python forces a plain value out of some protocols, so these stay untraced:
``==``/``!=`` (they compare the wrapped data and give a plain bool, as in Trace,
while ``hash`` stays by identity so sets and dicts of nodes hold each node once),
``bool()`` (``if``/``while``), ``len()``, ``in``, ``str()``/``format()``/f-strings
and ``int()``/``float()``. Use the traced helpers here instead where the result
must stay in the graph: :func:`eq`, :func:`ne`, :func:`length`, :func:`contains`,
:func:`fmt`.

The functions at the end carry Trace's operator names (``add``, ``cond``,
``identity``, ``list_extend``, ``call_llm``, ...) for code written against it.
"""

from __future__ import annotations

import copy
import math
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
    return Op(name, fn, f"Returns x {symbol} y.", ("x", "y"))


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
DIVMOD = Op("divmod", divmod, "Returns divmod(x, y).", ("x", "y"))
ROUND = Op("round", round, "Returns round(x, ndigits).", ("x", "ndigits"))
TRUNC = Op("trunc", math.trunc, "Returns math.trunc(x).", ("x",))
FLOOR = Op("floor", math.floor, "Returns math.floor(x).", ("x",))
CEIL = Op("ceil", math.ceil, "Returns math.ceil(x).", ("x",))
CLONE = Op("clone", copy.copy, "Returns a copy of x.", ("x",))
IDENTITY = Op("identity", lambda x: x, "Returns x unchanged.", ("x",))
COND = Op(
    "cond",
    lambda condition, x, y: x if condition else y,
    "Returns x if condition is true, else y.",
    ("condition", "x", "y"),
)
KEYS = Op("keys", lambda d: list(d), "Returns the keys of the dict x, in order.", ("x",))
VALUES = Op("values", lambda d: list(d.values()), "Returns the values of the dict x.", ("x",))
TO_LIST_FROM = Op("to_list", list, "Returns list(x).", ("x",))
LIST_EXTEND = Op(
    "list_extend", lambda x, y: [*x, *y], "Returns a new list: x followed by y.", ("x", "y")
)
DICT_UPDATE = Op(
    "dict_update", lambda x, y: {**x, **y}, "Returns a new dict: x updated with y.", ("x", "y")
)
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


def eq(x: Any, y: Any) -> nodes.Node:
    """Traced ``x == y`` (``==`` on a node gives a plain bool)."""
    return nodes.apply(EQ, x, y)


def ne(x: Any, y: Any) -> nodes.Node:
    """Traced ``x != y``."""
    return nodes.apply(NE, x, y)


neq = ne


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


def _traced(op: Op) -> Callable[..., nodes.Node]:
    def run(*args: Any, **kwargs: Any) -> nodes.Node:
        if kwargs:
            rest = op.arg_names[len(args) :]
            if set(kwargs) != set(rest):
                raise TypeError(
                    f"{op.name}() takes {', '.join(op.arg_names)}; got {len(args)} positional "
                    f"and {', '.join(kwargs)} by keyword"
                )
            args = (*args, *(kwargs[name] for name in rest))
        return nodes.apply(op, *args)

    run.__name__ = run.__qualname__ = op.name
    run.__doc__ = f"Traced: {op.doc}"
    return run


# Trace's operator names, for code written against it; each returns a node.
add = _traced(ADD)
subtract = _traced(SUB)
multiply = _traced(MUL)
divide = _traced(TRUEDIV)
floor_divide = _traced(FLOORDIV)
mod = _traced(MOD)
power = _traced(POW)
lshift = _traced(LSHIFT)
rshift = _traced(RSHIFT)
and_ = _traced(AND)
or_ = _traced(OR)
xor = _traced(XOR)
lt = _traced(LT)
le = _traced(LE)
gt = _traced(GT)
ge = _traced(GE)
neg = _traced(NEG)
pos = _traced(POS)
invert = _traced(INVERT)
getitem = _traced(GETITEM)
node_getattr = _traced(GETATTR)
node_divmod = _traced(DIVMOD)
floor = _traced(FLOOR)
ceil = _traced(CEIL)
trunc = _traced(TRUNC)
identity = _traced(IDENTITY)
clone = _traced(CLONE)
cond = _traced(COND)
keys = _traced(KEYS)
values = _traced(VALUES)
list_extend = _traced(LIST_EXTEND)
dict_update = _traced(DICT_UPDATE)


def call_llm(system_prompt: Any, *user_prompts: Any, llm: Any = None, **options: Any) -> nodes.Node:
    """One traced LLM call: the reply text, computed from the prompts.

    ``llm`` is anything :func:`trace_engine.llm.as_llm` accepts (``None``: the
    configured default); ``options`` go to its ``complete``. The call goes through
    :mod:`trace_engine.llm`, so it is metered and budgeted like every other.
    """
    from trace_engine.llm import as_llm

    model = as_llm(llm)

    def ask(system: Any, *users: Any) -> str:
        messages = [{"role": "system", "content": str(system)}]
        messages += [{"role": "user", "content": str(u)} for u in users]
        return model.complete(messages, **options).text

    names = ("system_prompt", *(f"user_prompt{i}" for i in range(len(user_prompts))))
    op = Op("call_llm", ask, "Returns the LLM's reply to the system and user prompts.", names)
    return nodes.apply(op, system_prompt, *user_prompts)
