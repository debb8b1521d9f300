"""Trace parity: the tutorials of Trace's documentation (basic tutorial, error
handling, minibatch, optimization, quick starts), restated for trace-engine with a
scripted LLM in place of a model.
"""

from __future__ import annotations

import copy
import json

import pytest

from optimizers import OptoPrime
from trace_engine import ExecutionError, Node, apply_op, bundle, model, node
from trace_engine import operators as ops


def _has(nodes, target) -> bool:
    return any(n is target for n in nodes)


def _suggest(**values) -> str:
    return json.dumps({"reasoning": "scripted", "suggestion": values})


class Foo:
    def __init__(self, x):
        self.x = x
        self.secret = "secret"

    def show(self, val):
        return f"shown {val}"


# --- basic tutorial ---------------------------------------------------------------------


def test_clone_copies_the_value_and_detach_cuts_the_link():
    x = node(Foo("foo"))
    x_clone = x.clone()
    assert _has(x_clone.parents, x)
    assert x_clone.data is not x.data and x_clone.data.x == x.data.x
    x_detach = x.detach()
    assert x_detach.parents == []
    assert x_detach.data is not x.data and x_detach.data.x == x.data.x


def test_indexing_len_call_and_getattr():
    x, y = node(1, name="node_x"), node(3, name="node_y")
    assert (x / y).parents == [x, y]
    dict_node = node({"a": 1, "b": 2}, name="dict_node")
    a = dict_node["a"]
    assert a.data == 1 and a.parents[0] is dict_node
    length = dict_node.len()
    assert isinstance(length, Node) and length.data == 2
    foo = node(Foo("foo"))
    assert foo.call("show", "hello world").data == "shown hello world"
    secret = foo.getattr("secret")
    assert secret.data == "secret" and _has(secret.parents, foo)


def test_membership_is_plain_and_eq_is_traced():
    x = node([1, 2, 3])
    result = 1 in x
    assert result is True and not isinstance(result, Node)
    traced = x.eq(1)
    assert isinstance(traced, Node) and traced.data is False
    traced.backward("compare")
    assert traced.feedback == ["compare"]


def test_identity_membership_versus_data_membership():
    x = node(1)
    y = [x, node(2), node(3)]
    y2 = [node(1), node(2), node(3)]
    assert _has(y, x) and not _has(y2, x)
    assert x in y and x in y2


def test_bundles_of_one_and_two_inputs_and_a_tuple_result():
    @bundle()
    def add_one(x):
        """Add 1 to input x."""
        return x + 1

    x = node(1, name="node_x")
    assert add_one(x).parents == [x]

    @bundle()
    def pass_through(x, y):
        """No operation, just return inputs."""
        return x, y

    z = pass_through(x, node(2))
    assert isinstance(z, Node) and isinstance(z.data, tuple) and len(z.data) == 2


def test_feedback_on_a_graph_reaches_every_input():
    from trace_engine import feedback_graph

    x = node(1, name="node_x", trainable=True)
    y = node(2, name="node_y", trainable=True)
    final = (x + y) + (x + 1)
    final.backward("feedback")
    graph = feedback_graph([x, y])
    assert graph.parameters == [x, y] and graph.outputs == [final]


def test_reading_outside_nodes_needs_allow_external_dependencies():
    x, one, zero = node(True), node(1), node(0)

    @bundle(allow_external_dependencies=True)
    def fun(x):
        """Return one if input x is True, otherwise return zero."""
        return one.data if x else zero.data

    y = fun(x)
    assert y.data == 1 and _has(y.parents, x)
    y.backward("fb")


def test_apply_op_over_lists_dicts_and_objects():
    x = [node(1), node(2), 1]
    y = [node(3), node(4), 2]
    z = apply_op(ops.add, copy.deepcopy(x), x, y)
    assert [z[0].data, z[1].data, z[2]] == [4, 6, 1]
    x, y = dict(a=node(1), b=0), dict(a=node(3), b=0)
    z = apply_op(ops.add, copy.deepcopy(x), x, y)
    assert z["a"].data == 4 and z["b"] == 0

    class Holder:
        def __init__(self, x):
            self.x = node(x)
            self.y = [node(1), node(2)]
            self.z = 1

    total = apply_op(ops.add, Holder("template"), Holder("x"), Holder("y"))
    assert total.x.data == "xy" and [n.data for n in total.y] == [2, 4] and total.z == 1


def test_iterating_sets_and_zipping_lists_gives_nodes_that_take_feedback():
    for a in node({"arg1", "arg2"}):
        assert isinstance(a, Node)
    a.backward("fb")
    for a, p in zip(node(["arg1", "arg2"]), node([1, 2])):
        assert isinstance(a, Node) and isinstance(p, Node)
    p.backward("fb")


# --- error handling tutorial ------------------------------------------------------------


def test_an_optimizer_learns_from_an_error_node():
    def check_input(a):
        if a < 0.1:
            raise ValueError("Input must be greater than 0.1")

    @bundle()
    def func_with_input_checking(a):
        check_input(a)
        return True

    param = node(-1.0, trainable=True)
    llm = lambda messages: _suggest(**{param.name: 0.5})  # noqa: E731
    optimizer = OptoPrime([param], llm, memory_size=5)
    for _ in range(3):
        try:
            func_with_input_checking(param)
            break
        except ExecutionError as e:
            target = e.exception_node
            assert "Input must be greater than 0.1" in target.create_feedback()
            optimizer.zero_feedback()
            optimizer.backward(target, target.create_feedback())
            assert optimizer.step().applied == {param.name: 0.5}
    assert param.data == 0.5


# --- minibatch tutorial -----------------------------------------------------------------


def test_a_summed_loss_and_a_batched_concat_reach_the_code():
    @bundle()
    def loss(y_hat, y):
        """A least squares loss function."""
        return (y_hat - y) ** 2

    @bundle(trainable=True)
    def fun(x):
        """A linear predictor function."""
        return 0

    total = 0
    for x, y in zip([3, 2, 1], [3, 1, -1]):
        total += loss(fun(x), y)
    assert isinstance(total, Node) and total.data == 11
    assert total.parameter_dependencies == {fun.parameter}

    @bundle()
    def concat(*items):
        """Concatenate the items into a single string."""
        return "".join(f"ID {[i]}: {item}\n" for i, item in enumerate(items))

    outputs = [fun(1).eq(0), fun(2).eq(1)]
    batched = concat(*outputs)
    assert batched.data == "ID [0]: True\nID [1]: False\n"
    assert batched.parameter_dependencies == {fun.parameter}


# --- optimization tutorial --------------------------------------------------------------


def _foobar(x):
    @bundle()
    def bar(x):
        """This is a test function, which does negative scaling."""
        return -x * 2

    def foo(x):
        y = x + 1
        return x * y

    return foo(bar(x))


def test_optimizing_a_number_through_bundles_and_plain_operators():
    x = node(-1.0, trainable=True, constraint="The value should be greater than 2.0")
    replies = iter([_suggest(**{x.name: 1.0}), _suggest(**{x.name: -5.0})])
    llm = lambda messages: next(replies)  # noqa: E731
    optimizer = OptoPrime([x], llm)
    history = [x.data]
    feedback = ""
    while feedback != "Success.":
        output = _foobar(x)
        feedback = "Success." if output.data >= 50 else "The number needs to be larger."
        optimizer.zero_feedback()
        optimizer.backward(output, feedback)
        if feedback != "Success.":
            optimizer.step()
            history.append(x.data)
    assert history == [-1.0, 1.0, -5.0]  # foobar(1) = 6, foobar(-5) = 110


def test_optimizing_code_through_its_parameter():
    @bundle(trainable=True)
    def my_fun(x):
        """Test function"""
        return x**2 + 1

    new_code = "def my_fun(x):\n    return -x**2 - 1\n"
    optimizer = OptoPrime(
        [my_fun.parameter], lambda m: _suggest(**{my_fun.parameter.name: new_code})
    )
    output = my_fun(node(-1))
    optimizer.zero_feedback()
    optimizer.backward(output, "Try again. The output should be negative")
    optimizer.step()
    assert my_fun(node(-1)).data == -2


# --- quick starts -----------------------------------------------------------------------


def test_quick_start_loop_with_eq_as_the_output():
    @bundle(trainable=True)
    def strange_sort_list(lst):
        """Sort in strange order: min, max, min, ..."""
        return sorted(lst)

    fixed = (
        "def strange_sort_list(lst):\n"
        "    lst = sorted(lst)\n"
        "    out = []\n"
        "    while lst:\n"
        "        out.append(lst.pop(0))\n"
        "        if lst:\n"
        "            out.append(lst.pop())\n"
        "    return out\n"
    )
    code = strange_sort_list.parameter
    optimizer = OptoPrime(strange_sort_list.parameters(), lambda m: _suggest(**{code.name: fixed}))
    for _ in range(2):
        test_output = strange_sort_list([1, 2, 3, 4])
        feedback = "passed" if test_output == [1, 4, 2, 3] else "failed"
        correctness = test_output.eq([1, 4, 2, 3])
        if correctness:
            break
        optimizer.zero_feedback()
        optimizer.backward(correctness, feedback)
        optimizer.step()
    assert strange_sort_list([5, 3, 2, 5]).data == [2, 5, 3, 5]


def test_agent_model_with_two_trainable_methods():
    @model
    class Agent:
        def act(self, board):
            plan = self.reason(board)
            return self.select_coordinate(board, plan)

        @bundle(trainable=True)
        def select_coordinate(self, board, plan):
            """Select a target coordinate."""
            return None

        @bundle(trainable=True)
        def reason(self, board):
            """Analyze the board."""
            return None

    agent = Agent()
    obs = node([[".", "X"], ["O", "."]])
    output = agent.act(obs)
    output.backward()
    assert len(agent.parameters()) == 2
    assert output.parameter_dependencies == set(agent.parameters())
    with pytest.raises(ExecutionError):
        a, b = output
