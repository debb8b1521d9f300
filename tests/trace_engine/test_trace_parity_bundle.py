"""Trace parity: ``@bundle``.

The checks of Microsoft Trace's ``test_bundle``, ``test_asyncio``,
``test_error_handling``, ``test_dependencies``, ``test_saving_loading`` and
``test_python_funcs``, restated for trace-engine's API. Each runs with plain and
with trainable bundles, as Trace's own test does.
"""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

import trace_engine as te
from trace_engine import Bundle, ExecutionError, ExternalDependencyError, Node, bundle, node

TRAINABLE = pytest.mark.parametrize("trainable", [False, True], ids=["plain", "trainable"])


def _has(nodes, target) -> bool:
    return any(n is target for n in nodes)


@TRAINABLE
def test_description_names_the_operation_and_inputs_keep_their_names(trainable):
    b = partial(bundle, trainable=trainable)
    x, y, condition = node(1, name="node_x"), node(2, name="node_y"), node(True)

    @b("[cond] This selects x if condition is True, otherwise y.")
    def cond(condition, x, y):
        return x if condition else y

    out = cond(condition, x, y)
    assert out.name == "cond" and out.op.doc.startswith("This selects")
    assert out.inputs["x"] is x and out.inputs["y"] is y and out.inputs["condition"] is condition

    @b("[fancy.cond] Selects.")
    def fancy_cond(condition, x, y):
        return x if condition else y

    assert fancy_cond(condition, x, y).name == "fancy.cond"


@TRAINABLE
def test_a_result_that_is_a_node_is_unwrapped(trainable):
    @bundle(trainable=trainable)
    def foo(x, y):
        return x + y

    x, y = node(1), node(2)
    z = foo(x, y)
    assert z.data == 3 and not isinstance(z.data, Node)
    assert len(z.parents) == (3 if trainable else 2)
    assert _has(z.parents, x) and _has(z.parents, y)


@TRAINABLE
def test_bundled_method_has_self_as_an_input_and_can_modify_the_instance(trainable):
    class Foo:
        def __init__(self):
            self.x = 1

        @bundle(trainable=trainable)
        def add(self, x, y):
            return x + y

        @bundle(trainable=trainable)
        def modify_x(self):
            self.x = 2

    foo = Foo()
    z = foo.add(node(1), node(2))
    assert z.data == 3 and z.inputs["self"].data is foo
    assert foo.add(1, 2).inputs["self"] is z.inputs["self"]
    foo.modify_x()
    assert foo.x == 2


@TRAINABLE
def test_bundled_method_called_through_its_class(trainable):
    class Foo:
        @bundle(trainable=trainable)
        def add(self, x, y):
            return x + y

    foo = Foo()
    assert Foo.add(foo, node(1), node(2)) == 3


@TRAINABLE
def test_class_decorator_that_rewraps_every_method(trainable):
    def for_all_methods(decorator):
        def decorate(cls):
            for name, value in list(vars(cls).items()):
                if callable(value) and not name.startswith("__"):
                    setattr(cls, name, decorator(value))
            return cls

        return decorate

    def passthrough(fun):
        def wrapper(*args, **kwargs):
            return fun(*args, **kwargs)

        return wrapper

    @for_all_methods(passthrough)
    class Foo:
        @bundle(trainable=trainable)
        def add(self, x, y):
            return x + y

    assert Foo().add(node(1), node(2)) == 3


def test_star_args_and_kwargs_become_inputs():
    @bundle()
    def fun(a, args, kwargs, *_args, **_kwargs):
        return a

    x = fun(
        node(1), node("args"), node("kwargs"), node("_a1"), node("_a2"), b=node("b"), c=node("c")
    )
    assert x.data == 1 and list(x.inputs) == ["a", "args", "kwargs", "_args", "_kwargs"]
    assert fun(node(1), "arg1", "kwargs", "var_args_1").data == 1


def test_no_trace_builds_no_graph():
    x, y = node(1), node(2)
    with te.no_trace():
        z = x + y
    assert z.inputs == {} and z == 3


@TRAINABLE
def test_inline_bundle_and_tuple_results(trainable):
    def fun(a, b):
        return a + b

    assert bundle(trainable=trainable)(fun)(node(1), node(2)) == 3

    @bundle(trainable=trainable)
    def both(a, b):
        return a + b, a - b

    pair = both(node(1), node(2))
    assert isinstance(pair, Node) and len(pair) == 2
    assert pair[0] == 3 and pair[1] == -1


@TRAINABLE
def test_traceable_code_traces_the_body(trainable):
    @bundle(trainable=trainable, traceable_code=True)
    def test(a, b):
        """Complex function."""
        return a + b + 10

    x, y = node(1), node(2)
    z = test(x, y)
    assert z == (x + y + 10)
    assert _has(z.parents, x) and _has(z.parents, y)
    assert z.name == "test"
    inner = z.info["output"]
    assert z == inner and not _has(inner.parents, x) and not _has(inner.parents, y)
    assert "add" in inner.name


@TRAINABLE
def test_external_dependencies_are_refused_or_recorded(trainable):
    external = node(0)

    @bundle(trainable=trainable)
    def hidden(a, b):
        return a + b + 10 + external.data

    with pytest.raises(ExternalDependencyError):
        hidden(node(1), node(2))

    @bundle(trainable=trainable, allow_external_dependencies=True)
    def allowed(a, b):
        return a + b + 10 + external.data

    z = allowed(node(1), node(2))
    assert z == 13 and "a" in z.inputs and "b" in z.inputs
    assert _has(z.info["external_dependencies"], external)


def test_getattr_and_call_on_a_node_of_an_object():
    class Foo:
        def __init__(self):
            self.x = node(1)
            self.non_node = 2

        def add(self, y):
            return y + 1 + self.x

        def double(self):
            return self.non_node * 2

    node_f = node(Foo())
    y = node_f.getattr("x")
    assert len(y.parents) == 2 and "getattr" in y.name
    assert y == node_f.data.x and not isinstance(y.data, Node)
    add = node_f.getattr("add")
    z = add(node(2))
    assert z == 4 and len(z.parents) == 2 and _has(z.parents, add)
    assert _has(z.parents[0].parents, node_f)
    for arg in (2, node(2)):
        z2 = node_f.call("add", arg)
        assert z2 == z and _has(z2.parents[0].parents, node_f)
    assert node_f.call("double") == 4


@TRAINABLE
def test_recursion_and_nested_bundles_run_the_plain_function_inside(trainable):
    @bundle(trainable=trainable)
    def recursion(n):
        if n == 0:
            return 0
        val = recursion(n - 1)
        assert not isinstance(val, Node)
        return n + val

    out = recursion(10)
    assert out == 55 and len(out.parents) == (2 if trainable else 1)

    @bundle(trainable=trainable)
    def func_a(a):
        return a + 1

    @bundle(trainable=trainable)
    def func_b(b):
        return func_a(b) + 1

    y = func_b(3)
    assert y == 5 and len(y.parents) == (2 if trainable else 1)


def test_a_bundle_may_change_nonlocal_and_global_state():
    counter = 5

    @bundle()
    def bump():
        nonlocal counter
        counter += 1

    bump()
    assert counter == 6
    items = [1, 2, 3]

    @bundle()
    def grow():
        items.append(1)

    grow()
    assert len(items) == 4


# --- asyncio (test_asyncio) -----------------------------------------------------------


def test_async_bundles_run_concurrently_and_errors_carry_their_node():
    @bundle()
    async def basic(a=0):
        await asyncio.sleep(0)
        return "basic"

    @bundle()
    async def fails(a=0):
        raise ValueError("error")

    async def main():
        a = node("a")
        results = await asyncio.gather(basic(a), basic(a), basic(a))
        for x in results:
            assert type(x) is Node and x == "basic"
            assert x.parents == [a]
        with pytest.raises(ExecutionError) as info:
            await asyncio.gather(fails(node("a")), fails(node("b")))
        assert len(info.value.exception_node.parents) == 1

    asyncio.run(main())


# --- error handling (test_error_handling) ---------------------------------------------


def test_errors_inside_bundles_are_execution_errors():
    @bundle()
    def error_fun():
        x = None
        x.append(1)

    with pytest.raises(ExecutionError) as info:
        error_fun()
    assert type(info.value) is ExecutionError and "AttributeError" in info.value.exception_node.data

    def helper():
        raise KeyError("deep")

    @bundle()
    def top_fun(x):
        helper()

    with pytest.raises(ExecutionError):
        top_fun(1)

    @bundle()
    def apply(a, b):
        return a(b)

    with pytest.raises(ExecutionError):
        apply(lambda x: x + 1, "1")


@pytest.mark.parametrize(
    "body",
    [
        "def bug(x):\n    x + 10\n    x / 0\n    return\n",
        "def bug(x):\n    if False:\n        u = [1]\n    return [u[i] for i in range(3)]\n",
    ],
)
def test_errors_in_trainable_code_reach_its_parameter(body):
    @bundle(trainable=True)
    def bug(x):
        return x

    bug.parameter.set(body)
    with pytest.raises(ExecutionError) as info:
        bug(1)
    assert _has(info.value.exception_node.parents, bug.parameter)


def test_code_edited_through_data_runs_and_its_errors_are_catchable():
    @bundle(trainable=True)
    def bug(x):
        return x + 10

    bug.parameter._data = "def bug(x):\n    x . 10\n    return\n"
    with pytest.raises(ExecutionError) as info:
        bug(1)
    assert _has(info.value.exception_node.parents, bug.parameter)
    assert "SyntaxError" in info.value.exception_node.data


# --- dependencies (test_dependencies) --------------------------------------------------


def test_parameter_dependencies_of_a_flat_graph():
    x = node(1.0, trainable=True)
    y = node(2.0)
    z = x**y + (x * x * x * x) + 0.5
    assert z.parameter_dependencies == {x}


def test_dependencies_hidden_in_a_traceable_bundle_are_expandable():
    x = node(1.0, trainable=True)
    hidden_param = node(-15.0, trainable=True)

    @bundle()
    def inner_function(x):
        return x**2

    @bundle(traceable_code=True)
    def outer_function(x):
        return inner_function(x) + 1 + hidden_param

    output = outer_function(x)
    assert output.parameter_dependencies == {x}
    assert output.expandable_dependencies == {output}
    assert output.info["output"].parameter_dependencies == {x, hidden_param}
    output.backward("feedback")
    assert te.feedback_graph([x]).outputs == [output]

    plain = outer_function(node(1.0))
    assert plain.parameter_dependencies == set()
    assert plain.expandable_dependencies == {plain}


# --- saving and loading (test_saving_loading) -------------------------------------------


def test_bundle_code_saves_and_loads_as_json(tmp_path):
    @bundle(trainable=True)
    def fun(x):
        """Some docstring."""
        return len(x), x.count("\n")

    a, b = fun("hello\nworld\n")
    assert (a.data, b.data) == (12, 2)
    original = fun.parameter.data
    fun.save(tmp_path / "fun.json")
    assert '"code"' in (tmp_path / "fun.json").read_text()
    fun.parameter.set(original.replace("len(x)", '"Hello"'))
    assert fun("x").data[0] == "Hello"
    fun.load(tmp_path / "fun.json")
    assert fun.parameter.data == original and fun("x").data[0] == 1
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(te.StateError):
        fun.load(tmp_path / "bad.json")


def test_bundles_with_no_inputs_and_an_environment_dict():
    @bundle(trainable=True)
    def get_env(params, args, env=None):
        new_env = {"_outer": env}
        for param, arg in zip(params, args):
            new_env[param] = arg
        return new_env

    env = get_env(node(["a", "b"]), node([1, 2]))
    assert isinstance(env, Node) and env.data == {"_outer": None, "a": 1, "b": 2}

    @bundle(trainable=True)
    def get_ops():
        return {"+": lambda x, y: x + y}

    result = get_ops()
    assert isinstance(result, Node)
    result.backward()
    assert result.feedback == [""]
    assert isinstance(get_ops, Bundle)
