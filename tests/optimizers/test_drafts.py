"""Stubs are drafted from their specification first, then repaired from feedback."""

from __future__ import annotations

import json

import pytest

from optimizers import OptoPrime, OptoPrimeMulti
from optimizers.drafts import is_stub, specification
from optimizers.prompts import DRAFT_SYSTEM_PROMPT
from trace_engine import bundle, node

DRAFT = "```python\ndef halve(x):\n    return x // 2\n```"
REPAIR = "Use true division.\n```python\ndef halve(x):\n    return x / 2\n```"


@pytest.mark.parametrize(
    "code, stub",
    [
        ('def add(a, b):\n    """Adds."""\n    pass\n', True),
        ("def add(a, b):\n    ...\n", True),
        ("def add(a, b): pass\n", True),
        ('def add(a, b):\n    """Adds."""\n    raise NotImplementedError("later")\n', True),
        ("def add(a, b):\n    raise NotImplementedError\n", True),
        ('def add(a, b):\n    """Adds."""\n    return 0\n', False),
        ("def add(a, b):\n    raise ValueError('no')\n", False),
        ("def add(a, b):\n    return (\n", False),
        ("def other(a, b):\n    pass\n", False),
    ],
    ids=[
        "docstring-pass",
        "ellipsis",
        "one-line",
        "not-implemented-call",
        "not-implemented",
        "body",
        "other-raise",
        "unparseable",
        "other-function",
    ],
)
def test_a_stub_is_a_body_of_docstring_and_placeholders_only(code, stub):
    assert is_stub(code, "add") is stub


@pytest.mark.parametrize(
    "code, spec",
    [
        (
            'def add(a, b):\n    """Adds a and b.\n\n    >>> add(1, 2)\n    3\n    """\n    pass\n',
            'def add(a, b):\n    """Adds a and b.\n\n    >>> add(1, 2)\n    3\n    """\n',
        ),
        (
            "@cache\ndef add(\n    a,\n    b,\n):\n    ...\n",
            "@cache\ndef add(\n    a,\n    b,\n):\n",
        ),
        ("def add(a, b): pass\n", "def add(a, b):\n"),
        (
            "def add(\n    a: int, b: int\n) -> int: ...\n",
            "def add(\n    a: int, b: int\n) -> int:\n",
        ),
        ('def add(a, b): "Sum of a and b."\n', 'def add(a, b): "Sum of a and b."\n'),
        (
            'def add(a, b):\n    """Somme de a et b (é)."""\n    ...\n',
            'def add(a, b):\n    """Somme de a et b (é)."""\n',
        ),
    ],
    ids=[
        "docstring",
        "multi-line-signature",
        "one-line",
        "body-on-the-closing-line",
        "docstring-on-the-def-line",
        "non-ascii",
    ],
)
def test_the_specification_is_the_signature_and_docstring_without_the_placeholder(code, spec):
    assert specification(code, "add") == spec


def test_a_specification_of_a_missing_function_is_an_error():
    with pytest.raises(ValueError, match="'add' is not defined"):
        specification("def other():\n    pass\n", "add")


def _stub_halve():
    @bundle(trainable=True)
    def halve(x):
        """Returns half of x."""
        pass

    return halve


def test_a_stub_is_drafted_from_its_docstring_then_repaired_from_the_problem(scripted):
    halve = _stub_halve()
    param = halve.parameters()[0]
    llm = scripted(DRAFT, REPAIR)
    opt = OptoPrime([param], llm)
    opt.backward(halve(3), "expected 1.5")
    drafted = opt.step()
    assert drafted.changed and drafted.calls == 1 and "is a stub" in drafted.reasoning
    assert llm.prompts[0] == [
        {"role": "system", "content": DRAFT_SYSTEM_PROMPT},
        {"role": "user", "content": 'def halve(x):\n    """Returns half of x."""\n'},
    ]
    assert halve(3).data == 1

    opt.zero_feedback()
    opt.backward(halve(3), "halve(3) returned 1, expected 1.5")
    repaired = opt.step()
    assert repaired.changed and halve(3).data == 1.5
    assert "#Feedback" in llm.last_user and "returned 1, expected 1.5" in llm.last_user
    assert llm.prompts[1][0]["content"] != DRAFT_SYSTEM_PROMPT


def test_without_draft_stubs_a_stub_is_written_from_the_problem(scripted):
    halve = _stub_halve()
    param = halve.parameters()[0]
    llm = scripted(REPAIR)
    opt = OptoPrime([param], llm, draft_stubs=False)
    opt.backward(halve(3), "expected 1.5")
    assert opt.step().changed and halve(3).data == 1.5
    assert "#Feedback" in llm.last_user
    with pytest.raises(TypeError, match="draft_stubs"):
        OptoPrime([param], llm, draft_stubs="yes")


def test_a_stub_beside_a_value_gets_a_draft_call_and_the_value_a_json_call(scripted):
    @bundle(trainable=True)
    def scale(x, factor):
        """Returns x times factor."""
        ...

    factor = node(1, trainable=True, name="draft_factor")
    code = scale.parameters()[0]
    llm = scripted(
        "```python\ndef scale(x, factor):\n    return x * factor\n```",
        json.dumps({"reasoning": "factor 3", "suggestion": {"draft_factor": 3}}),
    )
    opt = OptoPrime([code, factor], llm)
    opt.backward(scale(2, factor), "expected 6")
    result = opt.step()
    assert set(result.applied) == {code.name, "draft_factor"} and result.calls == 2
    draft_call, json_call = llm.prompts
    assert draft_call[0]["content"] == DRAFT_SYSTEM_PROMPT
    assert "Leave out the (code) variables" in json_call[0]["content"]
    assert scale(2, factor).data == 6


def _one_draft_step(llm):
    """A stub ``halve``, its parameter, its code before the step, and one step's result."""
    halve = _stub_halve()
    param = halve.parameters()[0]
    before = param.data
    opt = OptoPrime([param], llm, resample=0)
    opt.backward(halve(3), "expected 1.5")
    return halve, param, before, opt.step()


def test_an_unreadable_draft_fails_the_step_and_keeps_the_stub(scripted):
    _, param, before, result = _one_draft_step(scripted("I would divide x by two."))
    assert not result.ok and result.error_type == "ReplyError" and param.data == before


def test_candidates_draft_at_their_own_temperatures_and_the_score_picks(scripted):
    halve = _stub_halve()
    param = halve.parameters()[0]
    seen = []

    def reply(messages):
        seen.append(messages[0]["content"])
        return DRAFT if len(seen) == 1 else REPAIR

    def score(values):
        namespace: dict = {}
        exec(values[param.name], namespace)
        return -abs(namespace["halve"](3) - 1.5)

    opt = OptoPrimeMulti([param], scripted(reply), n=2, score=score, workers=1)
    opt.backward(halve(3), "expected 1.5")
    result = opt.step()
    assert seen == [DRAFT_SYSTEM_PROMPT, DRAFT_SYSTEM_PROMPT]
    assert result.details["chosen"] == 1 and halve(3).data == 1.5


def test_a_terminate_draft_is_not_taken_for_a_finished_stub(scripted):
    halve, param, before, result = _one_draft_step(scripted("TERMINATE"))
    assert not result.ok and "answered TERMINATE" in result.error and param.data == before
    retried = OptoPrime([param], scripted("TERMINATE", DRAFT))
    retried.backward(halve(3), "expected 1.5")
    assert retried.step().changed and halve(3).data == 1


def test_a_repair_reply_does_not_hand_a_stubs_function_to_another_variable(scripted):
    @bundle(trainable=True)
    def shift(x):
        """Returns x + 100."""
        pass

    @bundle(trainable=True)
    def double(x):
        """Returns 2 * x."""
        return x

    both = "```python\ndef shift(x):\n    return x - 1\n\ndef double(x):\n    return 2 * x\n```"

    def reply(messages):
        if messages[0]["content"] == DRAFT_SYSTEM_PROMPT:
            return "```python\ndef shift(x):\n    return x + 100\n```"
        return both

    stub, body = shift.parameters()[0], double.parameters()[0]
    before = body.data
    opt = OptoPrime([stub, body], scripted(reply), resample=0)
    opt.backward(double(shift(1)), "expected 202")
    result = opt.step()
    assert not result.ok and result.error_type == "ReplyError"
    assert body.data == before and "pass" in stub.data
