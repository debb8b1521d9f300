import asyncio

import pytest

from trace_engine import (
    CodeParameter,
    ExceptionNode,
    ExecutionError,
    ExternalDependencyError,
    InvalidCodeError,
    bundle,
    no_trace,
    node,
)


@bundle()
def scale(x, factor=2):
    """Multiplies x by factor."""
    return x * factor


def test_bundle_is_one_traced_operation():
    x = node(3)
    out = scale(x)
    assert out.data == 6
    assert out.op_name == "scale" and out.op.doc == "Multiplies x by factor."
    assert out.inputs["x"] is x and out.inputs["factor"].data == 2
    assert list(out.inputs) == ["x", "factor"]


def test_plain_inputs_become_constants_and_containers_are_unwrapped():
    a, b = node(1), node(2)

    @bundle()
    def total(values):
        return sum(values)

    out = total([a, b, 3])
    assert out.data == 6
    made = out.inputs["values"]
    assert made.op_name == "make_list" and made.parents[:2] == [a, b]


def test_description_overrides_docstring():
    @bundle(description="custom text")
    def f(x):
        """ignored"""
        return x

    assert f(1).op.doc == "custom text"


def test_error_becomes_exception_node_with_traceback_and_line():
    @bundle()
    def divide(a, b):
        """Divides."""
        ratio = a / b
        return ratio

    a = node(1)
    with pytest.raises(ExecutionError) as info:
        divide(a, 0)
    err = info.value.exception_node
    assert isinstance(err, ExceptionNode)
    assert isinstance(err.exception, ZeroDivisionError)
    assert "ZeroDivisionError" in err.traceback
    assert err.failed_line == "line 3 of divide: ratio = a / b"
    assert err.parents[0] is a
    err.backward("do not divide by zero")
    assert err.feedback == ["do not divide by zero"]


def test_catch_errors_false_raises_the_original():
    @bundle(catch_errors=False)
    def boom(x):
        raise KeyError("k")

    with pytest.raises(KeyError):
        boom(1)


def test_external_dependency_detected_and_optionally_recorded():
    hidden = node(10, name="hidden")

    @bundle()
    def reads_hidden(x):
        return x + hidden.data

    with pytest.raises(ExternalDependencyError, match="hidden"):
        reads_hidden(1)

    @bundle(allow_external_dependencies=True)
    def allowed(x):
        return x + hidden.data

    out = allowed(1)
    assert out.data == 11 and hidden in out.parents


def test_external_read_through_an_operator_is_also_detected():
    hidden = node(10)

    @bundle()
    def adds(x):
        return (hidden + x).data

    with pytest.raises(ExternalDependencyError):
        adds(1)


def test_trainable_bundle_exposes_code_and_recompiles_once():
    @bundle(trainable=True)
    def add_one(x):
        """Adds one."""
        return x + 1

    (code,) = add_one.parameters()
    assert isinstance(code, CodeParameter)
    assert code.data.startswith("def add_one(x):") and "@bundle" not in code.data
    out = add_one(1)
    assert code in out.parents and out.inputs["__code"] is code
    code.set("def add_one(x):\n    return x + 100\n")
    compiled = code.function
    assert add_one(1).data == 101
    assert add_one(2).data == 102 and code.function is compiled


@pytest.mark.parametrize(
    "source, message",
    [
        ("def add_one(x):\n    return (x +\n", "does not parse"),
        ("def other(x):\n    return x\n", "must define a function named 'add_one'"),
        ("def add_one(x, y):\n    return x\n", "changes the signature"),
        ("def add_one(y):\n    return y\n", "changes the signature"),
        ("def add_one(x):\n    return 1\ndef add_one(x):\n    return 2\n", "2 times"),
        (42, "must be a str"),
    ],
)
def test_invalid_code_is_refused_and_old_code_kept(source, message):
    @bundle(trainable=True)
    def add_one(x):
        return x + 1

    (code,) = add_one.parameters()
    before = code.data
    with pytest.raises(InvalidCodeError, match=message):
        code.set(source)
    assert code.data == before and add_one(1).data == 2


def test_new_code_may_import_and_use_module_globals():
    @bundle(trainable=True)
    def uses_global(x):
        return scale(x).data if False else x

    (code,) = uses_global.parameters()
    code.set("import math\ndef uses_global(x):\n    return math.floor(x) + len(BINARY_NAME)\n")
    assert uses_global(2.5).data == 2 + len(BINARY_NAME)


BINARY_NAME = "abc"


def test_closure_values_are_kept_for_new_code():
    offset = 5

    @bundle(trainable=True)
    def shifted(x):
        return x + offset

    shifted.parameters()[0].set("def shifted(x):\n    return x - offset\n")
    assert shifted(10).data == 5


@pytest.mark.parametrize("bad", [lambda x: x, len])
def test_trainable_needs_real_source(bad):
    with pytest.raises(TypeError, match="lambda|Python function"):
        bundle(trainable=True)(bad)


def test_bad_bundle_arguments():
    with pytest.raises(TypeError, match="trainable must be a bool"):
        bundle(trainable=1)
    with pytest.raises(TypeError, match="needs a function"):
        bundle()(42)


def test_async_bundle():
    @bundle()
    async def double(x):
        await asyncio.sleep(0)
        return x * 2

    x = node(4)
    out = asyncio.run(double(x))
    assert out.data == 8 and out.parents == [x]


def test_async_bundle_error_is_an_execution_error():
    @bundle()
    async def fails(x):
        raise ValueError("bad")

    with pytest.raises(ExecutionError, match="ValueError: bad"):
        asyncio.run(fails(1))


def test_method_bundle_has_per_instance_code():
    class Greeter:
        @bundle(trainable=True)
        def greet(self, name):
            """Greets."""
            return "hi " + name

    a, b = Greeter(), Greeter()
    out = a.greet(node("bob"))
    assert out.data == "hi bob" and list(out.inputs) == ["self", "name", "__code"]
    assert out.inputs["self"].data is a and a.greet("x").inputs["self"] is out.inputs["self"]
    code_a = Greeter.greet.code_parameter(a)
    code_a.set('def greet(self, name):\n    return "yo " + name\n')
    assert a.greet("x").data == "yo x"
    assert b.greet("x").data == "hi x"


def test_nested_bundles_run_untraced_inside():
    @bundle()
    def outer(x):
        return scale(x) + 1

    out = outer(node(2))
    assert out.data == 5 and out.op_name == "outer"


def test_bundle_under_no_trace_returns_unlinked_node():
    with no_trace():
        out = scale(node(2))
    assert out.data == 4 and out.parents == []
