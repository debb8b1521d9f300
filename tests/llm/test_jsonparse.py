import pytest

from trace_engine.llm import parse_json_lenient
from trace_engine.llm.jsonparse import parse_samples, with_schema_instruction


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2, 3]\n", [1, 2, 3]),
        ('```json\n{"a": [1, 2]}\n```', {"a": [1, 2]}),
        ('Here you go:\n```\n{"b": "x"}\n```\nAnything else?', {"b": "x"}),
        ('{"a": 1} I hope this helps! {"no": 2}', {"a": 1}),
        ('Sure! The answer is {"value": 42}.', {"value": 42}),
        ("{'a': 'single', 'b': None, 'c': True}", {"a": "single", "b": None, "c": True}),
        ("{'x': [1, 2,], 'y': (3, 4)}", {"x": [1, 2], "y": [3, 4]}),
        ("{'a': 'true story', 'b': true, 'c': null}", {"a": "true story", "b": True, "c": None}),
        ('{"code": "def f(x):\\n    return {x: [x]}"}', {"code": "def f(x):\n    return {x: [x]}"}),
        (
            "```python\n{'reasoning': \"it's fine\", 'ok': False}\n```",
            {"reasoning": "it's fine", "ok": False},
        ),
        ("42", 42),
        ('{"code": "def f(x):\n    return x"}', {"code": "def f(x):\n    return x"}),
        ('Reply: {"a": "line one\n\tline two"} done', {"a": "line one\n\tline two"}),
    ],
)
def test_parses_what_small_models_write(text, expected):
    assert parse_json_lenient(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "no json here", "{'a': ", "{1: set()}"])
def test_raises_a_clear_value_error(text):
    with pytest.raises(ValueError, match="JSON"):
        parse_json_lenient(text)


def test_rejects_non_string():
    with pytest.raises(TypeError):
        parse_json_lenient(b"{}")


def test_parse_samples_marks_failures_as_none():
    assert parse_samples(['{"a": 1}', "nope"]) == [{"a": 1}, None]


def test_schema_instruction_joins_an_existing_system_message():
    schema = {"type": "object"}
    out = with_schema_instruction(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}], schema
    )
    assert (
        len(out) == 2
        and out[0]["content"].startswith("Be brief.")
        and '"object"' in out[0]["content"]
    )
    out = with_schema_instruction([{"role": "user", "content": "hi"}], schema)
    assert [m["role"] for m in out] == ["system", "user"]
