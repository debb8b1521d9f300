"""Trace parity: nodes and operators.

The checks of Microsoft Trace's own unit tests (``test_nodes``, ``test_basic_operators``,
``test_bool``, ``test_containers``) and of its README, restated for trace-engine's API.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import trace_engine as te
from trace_engine import ExecutionError, Node, Parameter, node
from trace_engine import operators as ops


def _has(nodes, target) -> bool:
    return any(n is target for n in nodes)


# --- operators on nodes ------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["+", "-", "*", "/", "//", "%", "**", "<<", ">>", "&", "|", "^"])
def test_binary_operators_compare_equal_to_the_plain_result(symbol):
    names = {"x": node(1), "y": 2}
    assert eval(f"x {symbol} y", names) == eval(f"x.data {symbol} y", names)
    assert eval(f"y {symbol} x", names) == eval(f"y {symbol} x.data", names)


def test_add_by_keyword_records_inputs_under_their_argument_names():
    x, y = node("NodeX"), node("NodeY")
    z = ops.add(x=x, y=y)
    assert z.data == "NodeXNodeY"
    assert _has(z.parents, x) and _has(z.parents, y)
    assert _has(x.children, z) and _has(y.children, z)
    assert z.inputs == {"x": x, "y": y}


def test_str_join_over_nodes():
    x, y = node("NodeX"), node("NodeY")
    assert node("+").join([x, y]).data == "NodeX+NodeY"


def test_cond_selects_and_keeps_all_three_inputs():
    x, y, condition = node(1), node(2), node(True)
    z = ops.cond(condition, x, y)
    assert z.data == 1
    assert all(_has(z.parents, n) for n in (condition, x, y))
    assert all(_has(n.children, z) for n in (condition, x, y))
    assert z.inputs == {"condition": condition, "x": x, "y": y}
    assert te.cond(node(False), x, y).data == 2


def test_getitem_of_a_list_of_nodes_unwraps_the_item():
    index = node(0)
    x = node([node(1), node(2), node(3)])
    z = ops.getitem(x, index)
    assert z == x[index]
    assert z is not x[index]
    assert z.data == 1 and not isinstance(z.data, Node)
    assert _has(z.parents, x) and _has(z.parents, index)
    assert z.inputs == {"x": x, "index": index}


def test_getitem_of_a_plain_list():
    index, x = node(0), node([1, 2, 3])
    z = ops.getitem(x, index)
    assert z == x[index] and z.data == 1
    assert _has(index.children, z)


def test_an_item_that_is_a_parameter_stays_an_input():
    p = node(5, trainable=True)
    item = node([p, 1])[0]
    assert item.data == 5 and _has(item.parents, p)


def test_iterating_a_list_node_and_dict_items():
    x = node([1, 2, 3])
    for k, v in enumerate(x):
        assert v.data == x.data[k] and _has(v.parents, x)
    d = node(dict(a=1, b=2, c=3))
    for k, v in d.items():
        assert v.data == d.data[k.data]


def test_identity_clone_and_deepcopy():
    z = node([1, 2]) + [3]
    z_new, z_clone, z_copy = ops.identity(z), z.clone(), copy.deepcopy(z)
    assert z_new.data == z_clone.data == z_copy.data == z.data
    assert z_new.parents == [z] and _has(z.children, z_new)
    assert z_clone.parents == [z] and _has(z.children, z_clone)
    assert z_copy.parents == [] and not _has(z.children, z_copy)
    assert z_copy.data is not z.data


def test_deepcopy_detaches_instead_of_copying_the_ancestry():
    x = node(1, trainable=True)
    out = (x + 1) * 2
    out.backward("fb")
    copied = copy.deepcopy(out)
    assert copied.parents == [] and copied.feedback == [] and copied.data == 4
    assert out.detach().parents == []
    p = copy.deepcopy(x)
    assert isinstance(p, Parameter) and p is not x and p.data == 1


def test_magic_add_of_strings():
    x, y = node("NodeX"), node("NodeY")
    z = x + y
    assert z.data == "NodeXNodeY" and z.inputs == {"x": x, "y": y}


def test_comparison_is_traced_and_usable_in_if():
    z = node(1) < node(2)
    assert isinstance(z, Node) and z.data is True
    assert bool(z)


def test_equality_compares_data_while_hash_stays_by_identity():
    x, y = node(1), node(1)
    assert y in [x]
    assert y not in {x}
    assert hash(x) != hash(y)
    assert (x == 1) is True and (x != 2) is True
    assert len({x: "a", y: "b"}) == 2


def test_eq_and_neq_methods_are_traced():
    x = node([1, 2])
    same = x.eq([1, 2])
    assert isinstance(same, Node) and same.data is True and _has(same.parents, x)
    assert x.neq([1, 2]).data is False


def test_calling_a_node_of_a_function():
    fun_node = node(lambda v: v + 1)
    output = fun_node(node(2))
    assert output == 3 and len(output.parents) == 2


def test_trainable_node_of_a_node_shares_the_value():
    a = []
    x = node(a, trainable=True)
    assert node(x, trainable=True).data is x.data
    x = node(a, trainable=False)
    y = node(x, trainable=True)
    assert y.trainable and y.data is x.data


def test_iterating_a_numpy_array_node():
    x = node(np.array([1, 2, 3]))
    for i, v in enumerate(x):
        assert isinstance(v, Node) and v.data == x.data[i]


def test_iterating_a_set_node():
    x = node({"a", "b"})
    items = list(x)
    assert sorted(i.data for i in items) == ["a", "b"]
    assert all(isinstance(i, Node) for i in items)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda n: round(n), 3),
        (lambda n: round(n, 1), 2.7),
        (lambda n: math.trunc(n), 2),
        (lambda n: math.floor(n), 2),
        (lambda n: math.ceil(n), 3),
        (lambda n: divmod(n, 2), (1.0, pytest.approx(0.7))),
    ],
)
def test_rounding_functions_are_traced(make, expected):
    n = node(2.7)
    out = make(n)
    assert isinstance(out, Node) and out.parents[0] is n
    assert out.data == expected


# --- and/or with nodes (test_bool) ---------------------------------------------------


def test_and_or_return_the_deciding_operand():
    x = node(True)
    y = True and x
    assert y == True and type(y) is Node  # noqa: E712 - data equality is the point
    y = x and True
    assert y == True and type(y) is bool  # noqa: E712
    y = False or x
    assert y == True and type(y) is Node  # noqa: E712
    x = node(False)
    y = x and False
    assert y == False and type(y) is Node  # noqa: E712
    y = x or False
    assert y == False and type(y) is bool  # noqa: E712
    y = x or node(False)
    assert y == False and type(y) is Node  # noqa: E712


# --- containers (test_containers) ----------------------------------------------------


def test_list_node_iterates_into_items_and_extends():
    x = node([1, 2, 3])
    for item in x:
        assert isinstance(item, Node) and _has(item.parents, x)
    x = ops.list_extend(x, node((4, 5, 6)))
    assert len(x) == 6
    assert all(i + 1 in x for i in range(6))


def test_dict_node_items_keys_values():
    x = node(dict(a=1, b=2, c=3))
    for k, v in x.items():
        assert isinstance(k, Node) and isinstance(v, Node)
        assert _has(k.parents[0].parents, x) and _has(v.parents, x)
    for k in x.keys():  # noqa: SIM118 - keys() of a node is what is tested
        assert isinstance(k, Node) and _has(k.parents[0].parents, x)
    for v in x.values():
        assert isinstance(v, Node) and _has(v.parents[0].parents, x)


def test_plain_dict_update_from_a_dict_node():
    x = node(dict(a=1, b=2, c=3))
    y = {}
    y.update(x)
    assert [k.data for k in y] == ["a", "b", "c"]
    for k, v in y.items():
        assert isinstance(k, Node) and isinstance(v, Node)
        assert _has(k.parents[0].parents, x) and _has(v.parents, x)
        assert v.data == x.data[k.data]


def test_dict_update_operator():
    x = node(dict(a=1, b=2, c=3))
    y = ops.dict_update(node({}), x)
    assert y.data == {"a": 1, "b": 2, "c": 3}
    for k, v in y.items():
        assert _has(k.parents[0].parents, y) and _has(v.parents, y)


# --- errors of plain operators (test_error_handling) ---------------------------------


def test_an_operator_error_is_catchable_with_an_error_node():
    x, y = Node(1, name="node_x"), Node(0, name="node_y")
    with pytest.raises(ExecutionError) as info:
        x / y
    error = info.value.exception_node
    assert isinstance(error, te.ExceptionNode)
    assert _has(error.parents, x) and _has(error.parents, y)
    assert "ZeroDivisionError" in error.data
    error.backward("do not divide by zero")
    assert error.feedback == ["do not divide by zero"]


def test_unpacking_a_node_of_none_is_catchable():
    @te.bundle()
    def fun(x):
        return None

    with pytest.raises(ExecutionError) as info:
        a, b = fun(1)
    assert isinstance(info.value.exception_node, te.ExceptionNode)


# --- README ---------------------------------------------------------------------------


def test_readme_basics():
    x = node(1, trainable=True)
    y = node(3)
    z = x / y
    z2 = x / 3
    assert z.data == z2.data == pytest.approx(1 / 3)
    node_of_list = node([1, 2, 3])
    node_of_list.append(3)
    assert node_of_list.data == [1, 2, 3, 3]
    z.backward("maximize z")
    assert z.feedback == ["maximize z"]


def test_readme_feedback_function_compares_a_node_with_the_target():
    @te.bundle(trainable=True)
    def strange_sort_list(lst):
        """Sort in strange order."""
        return sorted(lst)

    def get_feedback(predict, target):
        return "test case passed!" if predict == target else "test case failed!"

    out = strange_sort_list([1, 2, 3, 4])
    assert get_feedback(out, [1, 2, 3, 4]) == "test case passed!"
    assert get_feedback(out, [1, 4, 2, 3]) == "test case failed!"
    correctness = out.eq([1, 4, 2, 3])
    assert isinstance(correctness, Node) and not correctness


def test_readme_agent_calls_the_llm_as_a_traced_step():
    seen = []

    def llm(messages):
        seen.append(messages)
        return "Hola, " + messages[-1]["content"]

    system = node("You are a sales assistant.")
    instruct = node("Decide the language", trainable=True)
    reply = ops.call_llm(system, instruct, "Hola, soy Juan.", llm=llm)
    assert reply.data == "Hola, Hola, soy Juan."
    assert _has(reply.parents, system) and _has(reply.parents, instruct)
    assert [m["role"] for m in seen[0]] == ["system", "user", "user"]
    assert reply.parameter_dependencies == {instruct}
