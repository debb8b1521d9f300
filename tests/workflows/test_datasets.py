"""Data loaders and deterministic splits."""

from __future__ import annotations

import importlib.util

import pytest

from workflows import datasets
from workflows.datasets import (
    DatasetError,
    load_bigbench,
    load_humaneval,
    load_jsonl,
    numeric_suite,
    split,
)


def test_humaneval_has_164_problems_with_prompt_and_tests():
    problems = load_humaneval()
    assert len(problems) == 164
    first = problems[0]
    assert first.task_id == "HumanEval/0" and first.entry_point == "has_close_elements"
    assert "def check(candidate)" in first.test
    assert [p.task_id for p in load_humaneval([2, "HumanEval/5"])] == ["HumanEval/2", "HumanEval/5"]
    with pytest.raises(DatasetError, match="HumanEval/163"):
        load_humaneval([999])


def test_split_is_deterministic_and_complete():
    items = list(range(50))
    a, b = split(items, seed=3), split(items, seed=3)
    assert (a.train, a.val, a.test) == (b.train, b.val, b.test)
    assert sorted(a.train + a.val + a.test) == items
    assert (len(a.train), len(a.val), len(a.test)) == (30, 10, 10)
    assert split(items, seed=4).train != a.train
    small = split([1, 2, 3], seed=0)
    assert len(small.val) == 1 and len(small.test) == 1
    with pytest.raises(ValueError, match="summing to 1"):
        split(items, (0.5, 0.5, 0.5))


def test_jsonl_loads_examples_and_names_the_bad_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"input": "2+2", "target": "4"}\n\n'
        '{"input": "capital of France", "target": ["Paris", "paris"], "id": "q2"}\n'
        '{"input": "pick", "target": "b", "choices": ["a", "b"]}\n'
    )
    examples = load_jsonl(path)
    assert [e.id for e in examples] == ["1", "q2", "4"]
    assert examples[1].accepted == ("Paris", "paris")
    assert examples[2].choices == ("a", "b")
    path.write_text('{"input": "a", "target": "b"}\n{"input": "a", "target": \n')
    with pytest.raises(DatasetError, match=r"data.jsonl:2: not valid JSON"):
        load_jsonl(path)
    path.write_text('{"input": "a"}\n')
    with pytest.raises(DatasetError, match=r"data.jsonl:1: missing 'target'"):
        load_jsonl(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(DatasetError, match="expected a JSON object, got list"):
        load_jsonl(path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_jsonl(tmp_path / "nope.jsonl")


def test_numeric_suite_is_generated_deterministically():
    points = numeric_suite("line", n=5, low=0, high=4)
    assert [(p.input, p.target) for p in points] == [
        (0, -1.0),
        (1, 1.5),
        (2, 4.0),
        (3, 6.5),
        (4, 9.0),
    ]
    assert numeric_suite("sine", noise=0.1, seed=1) == numeric_suite("sine", noise=0.1, seed=1)
    with pytest.raises(DatasetError, match="choose one of line, quadratic, sine"):
        numeric_suite("cubic")


@pytest.mark.skipif(
    importlib.util.find_spec("bigbench") is None, reason="bigbench package not installed"
)
def test_bigbench_multiple_choice_and_exact_match_tasks():
    navigate = load_bigbench("navigate", max_examples=5)
    assert len(navigate) == 5
    assert navigate[0].choices == ("True", "False") and navigate[0].target in ("True", "False")
    assert navigate[0].input.startswith("If you follow these instructions")
    addition = load_bigbench("arithmetic/1_digit_addition", max_examples=3)
    assert all(e.choices and e.target in e.choices for e in addition)
    counting = load_bigbench("object_counting", max_examples=2)
    assert counting[0].choices == () and isinstance(counting[0].target, tuple)
    with pytest.raises(DatasetError, match="did you mean navigate"):
        load_bigbench("navigat")


def test_bigbench_absent_gives_an_install_hint(monkeypatch):
    monkeypatch.setattr(datasets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match=r"pip install 'trace-engine\[bigbench\]'"):
        load_bigbench("navigate")
