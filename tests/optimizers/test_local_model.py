"""OptoPrime with the embedded local model: one numeric step and one code step.

Each asserts that the model's reply, constrained by the schema, named a
trainable variable and that the value was applied or rejected with a reason.
"""

import pytest

from optimizers import OptoPrime
from trace_engine import bundle, node

pytestmark = pytest.mark.local_model


@pytest.fixture(scope="module")
def llm():
    from trace_engine.llm import get_llm

    return get_llm(cache=False)


def _check_outcome(result, name):
    assert result.ok, result.error
    assert set(result.proposed) == {name}
    assert name in result.applied or result.rejected.get(name)


def test_numeric_step_with_local_model(llm):
    x = node(3, trainable=True, name="local_x")
    y = x * 3 + 2
    opt = OptoPrime([x], llm, max_tokens=160)
    opt.backward(y, f"The output is {y.data} but the target is 17: the output is too low.")
    result = opt.step()
    _check_outcome(result, "local_x")
    assert isinstance(x.data, int) and result.calls == 1


@bundle(trainable=True)
def local_add(a, b):
    """Returns the sum of a and b."""
    return a - b


def test_code_step_with_local_model(llm):
    param = local_add.parameters()[0]
    before = param.data
    opt = OptoPrime([param], llm, max_tokens=200)
    opt.backward(local_add(2, 3), "local_add(2, 3) returned -1, expected 5")
    result = opt.step()
    _check_outcome(result, param.name)
    if result.changed:
        assert param.data.startswith("def local_add(a, b):")
    else:
        assert param.data == before
