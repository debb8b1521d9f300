import operator

import pytest

from trace_engine import contains, eq, fmt, length, ne, no_trace, node

BINARY = [
    ("+", operator.add, 7, 3),
    ("-", operator.sub, 7, 3),
    ("*", operator.mul, 7, 3),
    ("/", operator.truediv, 7, 2),
    ("//", operator.floordiv, 7, 2),
    ("%", operator.mod, 7, 3),
    ("**", operator.pow, 2, 5),
    ("<<", operator.lshift, 1, 3),
    (">>", operator.rshift, 16, 2),
    ("&", operator.and_, 6, 3),
    ("|", operator.or_, 6, 3),
    ("^", operator.xor, 6, 3),
    ("<", operator.lt, 1, 2),
    ("<=", operator.le, 2, 2),
    (">", operator.gt, 1, 2),
    (">=", operator.ge, 1, 2),
]


@pytest.mark.parametrize("symbol, fn, a, b", BINARY)
def test_binary_and_reflected_operators_are_traced(symbol, fn, a, b):
    x = node(a)
    out = fn(x, b)
    assert out.data == fn(a, b)
    assert out.parents[0] is x and out.parents[1].data == b
    if symbol not in ("<", "<=", ">", ">="):
        reflected = fn(a, node(b))
        assert reflected.data == fn(a, b)
        assert reflected.parents[1].data == b


def test_unary_operators():
    x = node(-3)
    assert (-x).data == 3 and (+x).data == -3 and abs(x).data == 3 and (~x).data == 2
    assert (-x).parents == [x]


def test_input_names_follow_the_operation():
    x, y = node(2), node(5)
    out = x - y
    assert out.op_name == "subtract"
    assert out.inputs == {"x": x, "y": y}


def test_getitem_attribute_and_method_calls_are_traced():
    s = node("a,b")
    parts = s.split(",")
    assert parts.data == ["a", "b"]
    assert parts.op_name == "call"
    method = parts.parents[0]
    assert method.op_name == "getattr" and method.parents[0] is s
    assert parts[1].data == "b"
    kw = node("x-y").split(sep="-")
    assert kw.data == ["x", "y"]
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        s.nope


def test_iteration_yields_traced_items():
    items = list(node([10, 20]))
    assert [i.data for i in items] == [10, 20]
    assert all(i.op_name == "getitem" for i in items)
    keys = list(node({"a": 1, "b": 2}))
    assert [k.data for k in keys] == ["a", "b"]
    assert sorted(i.data for i in node({1, 2})) == [1, 2]


def test_plain_value_protocols():
    x = node([1, 2, 3])
    assert len(x) == 3 and 2 in x and bool(x)
    assert f"{node(3.14159):.2f}" == "3.14" and str(node(5)) == "5"
    a = node(1)
    assert (a == node(1)) is True and (a == node(2)) is False and (a != 2) is True


def test_traced_helpers():
    x = node([1, 2, 3])
    assert length(x).data == 3 and length(x).parents == [x]
    assert contains(x, 2).data is True
    assert eq(node(1), 1).data is True and ne(node(1), 1).data is False
    greeting = fmt(node("hi {who}"), who=node("bob"))
    assert greeting.data == "hi bob" and len(greeting.parents) == 2


def test_containers_of_nodes_become_traced_containers():
    a, b = node(1), node(2)
    out = node([0]) + [a, b]
    assert out.data == [0, 1, 2]
    made = out.parents[1]
    assert made.op_name == "make_list" and made.parents == [a, b]


def test_nodes_are_immutable():
    with pytest.raises(TypeError, match="immutable"):
        node([1])[0] = 2


def test_no_trace_builds_no_edges():
    x = node(1)
    with no_trace():
        y = x + 1
    assert y.data == 2 and y.parents == [] and x.children == []
