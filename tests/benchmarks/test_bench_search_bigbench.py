"""bench_search.py --family bigbench with scripted LLMs: the split, the budget, the choice.

A toy multiple-choice task stands in for BIG-bench (its questions carry their answer in
brackets, which only some instructions make the scripted model read), so that every test
but the last runs without the ``bigbench`` package.
"""

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_search  # noqa: E402
from bigbench_suite import ChoiceTask  # noqa: E402
from search_bigbench import WRITE_INSTRUCTION, Answers, run_method, split_task  # noqa: E402

from agents.dynaicl import Example  # noqa: E402
from trace_engine.llm.base import as_llm  # noqa: E402

DEFAULT = "Answer with one of the listed options only."


def toy_task(n: int = 40) -> ChoiceTask:
    """Questions ``i``: the answer is ``no`` for every third, ``hard`` for every fifth;
    the first question appears twice."""
    examples, options = [], {}
    for i in range(n):
        target = "no" if i % 3 == 0 else "yes"
        text = f"Question {i} [{target}]{' hard' if i % 5 == 0 else ''}\nOptions: yes | no"
        examples.append(Example(text, target))
        options[text] = ["yes", "no"]
    examples.append(examples[0])
    return ChoiceTask("toy", examples, DEFAULT, options)


class Toy:
    """Answers by the instruction's keyword: GOOD reads the bracket, MOSTLY too but errs on
    hard questions, CHATTY names no option, anything else says no (True to a question
    from BIG-bench). Proposals
    come from ``written`` in turn (plain text for best-of-n, JSON for the optimizers)."""

    def __init__(self, *written: str):
        self.written = list(written)
        self.proposals = 0
        self.answered: list[tuple[str, str]] = []

    def __call__(self, messages):
        user = messages[-1]["content"]
        if len(messages) == 1 and user.endswith("Output:"):
            instruction, question = user.removesuffix("\nOutput:").split("\n\nInput: ", 1)
            self.answered.append((instruction, question))
            bracket = re.search(r"\[(\w+)\]", question)
            if bracket is None:  # a real BIG-bench question
                return "True"
            target = bracket.group(1)
            flipped = {"yes": "no", "no": "yes"}[target]
            if "GOOD" in instruction:
                return target
            if "MOSTLY" in instruction:
                return flipped if "hard" in question else target
            if "CHATTY" in instruction:
                return "Let me think"
            return "no"
        text = self.written[self.proposals % len(self.written)]
        self.proposals += 1
        if messages[0]["content"] == WRITE_INSTRUCTION:
            return text
        return json.dumps({"reasoning": "try this", "suggestion": {"instruction": text}})


def tune(method: str, toy: Toy, calls: int = 4, seed: int = 0, train: int = 10, test: int = 20):
    task = toy_task()
    split = split_task(task, train, test)
    llm = as_llm(toy)
    return run_method(method, task, split, Answers(llm), llm, calls, seed), split


def test_the_split_is_fixed_disjoint_and_of_distinct_questions():
    task = toy_task()
    train, test = split_task(task, 10, 20)
    assert (train, test) == split_task(task, 10, 20)
    inputs = [e.input for e in train + test]
    assert len(train) == 10 and len(test) == 20 and len(set(inputs)) == 30
    assert [e.input for e in train] != [e.input for e in task.examples[:10]]  # shuffled
    with pytest.raises(SystemExit, match="has 40 distinct questions"):
        split_task(task, 30, 11)


@pytest.mark.parametrize("method", ["best_of_n", "optoprime", "multi", "archive"])
def test_each_method_spends_at_most_the_budget_on_proposals(method):
    toy = Toy(*[f"CHATTY {i}" for i in range(20)])  # never better than the default
    tuned, (train, test) = tune(method, toy, calls=4)
    assert toy.proposals == tuned.calls <= 4
    assert tuned.calls >= (3 if method == "multi" else 4)
    # answers are outside the budget, counted as distinct (instruction, question) pairs
    assert tuned.answers == len(set(toy.answered)) == len(toy.answered) > len(train) + len(test)
    assert tuned.instruction == DEFAULT


def test_zero_shot_makes_no_proposal_and_scores_the_default_prompt():
    toy = Toy("GOOD")
    tuned, (train, test) = tune("zero_shot", toy)
    assert toy.proposals == tuned.calls == 0
    assert tuned.test_right == sum(e.target == "no" for e in test)
    assert tuned.answers == len(train) + len(test)


def test_best_of_n_scores_on_test_only_the_prompt_best_on_train():
    toy = Toy("CHATTY plain", "MOSTLY right", "CHATTY one", "GOOD one")
    tuned, (train, test) = tune("best_of_n", toy, calls=3)
    assert tuned.instruction == "MOSTLY right" and tuned.calls == 3
    asked_on_test = {i for i, q in toy.answered if q in {e.input for e in test}}
    assert asked_on_test == {"MOSTLY right"}
    assert tuned.test_right == sum("hard" not in e.input for e in test)
    assert tuned.train == sum("hard" not in e.input for e in train) / len(train)


def test_a_feedback_method_keeps_the_best_prompt_it_reached_not_its_last():
    toy = Toy("MOSTLY right", "CHATTY answer", "CHATTY answer again")
    tuned, (_, test) = tune("optoprime", toy, calls=3)
    assert tuned.calls == 3
    assert tuned.instruction == "MOSTLY right"
    assert {i for i, q in toy.answered if q in {e.input for e in test}} == {"MOSTLY right"}


def test_a_perfect_prompt_on_train_ends_the_search_early():
    toy = Toy("GOOD one", "CHATTY answer")
    tuned, (_, test) = tune("archive", toy, calls=4)
    assert tuned.instruction == "GOOD one" and tuned.test_right == len(test)
    assert tuned.calls == 1


@pytest.mark.skipif(
    importlib.util.find_spec("bigbench") is None, reason="bigbench package not installed"
)
def test_family_bigbench_prints_each_seed_and_the_summary(monkeypatch, capsys):
    toy = Toy("Answer True or False.")
    monkeypatch.setattr(bench_search, "get_llm", lambda spec, cache: as_llm(toy))
    argv = ["bench_search.py", "--family", "bigbench", "--task", "navigate", "--train", "4"]
    argv += ["--test", "6", "--calls", "2", "--seeds", "2", "--methods", "zero_shot,best_of_n"]
    monkeypatch.setattr(sys, "argv", argv)
    bench_search.main()
    out = capsys.readouterr().out
    assert "## bigbench/navigate: 4 train, 6 test questions" in out
    rows = [line.split()[:2] for line in out.splitlines() if line.startswith(("zero_", "best_"))]
    assert rows[:4] == [
        ["zero_shot", "0"],
        ["zero_shot", "1"],
        ["best_of_n", "0"],
        ["best_of_n", "1"],
    ]
    assert "test right (of 6)" in out and toy.proposals == 4
    monkeypatch.setattr(sys, "argv", argv[:-6] + ["--test", "5000"])
    with pytest.raises(SystemExit, match="distinct questions"):
        bench_search.main()
