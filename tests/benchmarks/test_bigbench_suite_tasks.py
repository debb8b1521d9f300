"""Which BIG-bench tasks ``bench_agents.py --suite bigbench`` reads, on a fake task tree:
plain tasks, tasks whose examples live in subtasks (pooled), and one subtask by name."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bigbench_suite import INSTRUCTION, load_task  # noqa: E402

import workflows.datasets  # noqa: E402


def _write(folder: Path, prefix: str, n: int, word: str) -> None:
    folder.mkdir(parents=True)
    examples = [
        {"input": f"{word} question {i}?", "target_scores": {"yes": i % 2, "no": 1 - i % 2}}
        for i in range(n)
    ] + [{"input": "free text", "target": "x"}]
    data = {"name": folder.name, "examples": examples}
    if prefix:
        data["task_prefix"] = prefix
    (folder / "task.json").write_text(json.dumps(data))


@pytest.fixture
def tasks(tmp_path, monkeypatch):
    monkeypatch.setattr(workflows.datasets, "bigbench_tasks_dir", lambda: tmp_path)
    _write(tmp_path / "plain", "Decide.", 60, "plain")
    (tmp_path / "pooled").mkdir()
    (tmp_path / "pooled" / "task.json").write_text(json.dumps({"name": "pooled"}))
    _write(tmp_path / "pooled" / "small", "Three things.", 30, "small")
    _write(tmp_path / "pooled" / "large", "Seven things.", 60, "large")
    (tmp_path / "same").mkdir()
    _write(tmp_path / "same" / "a", "Same rules.", 30, "a")
    _write(tmp_path / "same" / "b", "Same rules.", 30, "b")
    return tmp_path


def test_a_plain_task_keeps_its_prefix_in_the_instruction(tasks):
    task = load_task("plain")
    assert task.instruction == f"Decide.\n{INSTRUCTION}"
    assert len(task.examples) == 60  # the free-text example is not multiple choice
    first = task.examples[0]
    assert first.input == "plain question 0?\nOptions: yes | no" and first.target == "no"
    assert task.options[first.input] == ["yes", "no"]


def test_subtasks_are_pooled_and_each_input_carries_its_own_prefix(tasks):
    task = load_task("pooled")
    assert task.instruction == INSTRUCTION
    inputs = [e.input for e in task.examples]
    assert len(inputs) == 90
    assert sum(x.startswith("Three things.\nsmall question") for x in inputs) == 30
    assert sum(x.startswith("Seven things.\nlarge question") for x in inputs) == 60


def test_a_prefix_all_subtasks_share_stays_in_the_instruction(tasks):
    task = load_task("same")
    assert task.instruction == f"Same rules.\n{INSTRUCTION}"
    assert not any(e.input.startswith("Same rules.") for e in task.examples)


def test_one_subtask_by_name_and_one_line_refusals(tasks):
    large = load_task("pooled/large")
    assert large.instruction == f"Seven things.\n{INSTRUCTION}" and len(large.examples) == 60
    with pytest.raises(SystemExit, match="has 30 multiple-choice examples; need 50"):
        load_task("pooled/small")
    for bad in ("missing", "../plain", "pooled/../plain", "Plain"):
        with pytest.raises(SystemExit, match="no BIG-bench task"):
            load_task(bad)
