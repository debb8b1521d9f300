"""ArchiveSearch with scripted LLMs on a small code-repair-like task.

The task: ``clean(xs)`` must pass three checks, judged here from the code's text
(parsed, never run): ``empty`` (it returns early on an empty input), ``sorted``
(it sorts) and ``unique`` (it drops duplicates). A candidate's cell is the set of
checks it passes; its feedback names the checks it fails. This is also the
example of using the archive from Python: ``evaluate(assignment)`` returns
``(score, feedback, descriptor)``.
"""

import ast
import json

import pytest

from optimizers import OptoPrime
from optimizers.archive import ArchiveSearch, Outcome, assignment_key
from trace_engine import CodeParameter
from trace_engine.llm import Budget

STUB = 'def clean(xs):\n    """Sorted unique items of xs; [] for an empty xs."""\n    return xs\n'
FEATURES = {
    "empty": "    if not xs:\n        return []\n",
    "sorted": "    xs = sorted(xs)\n",
    "unique": "    xs = list(dict.fromkeys(xs))\n",
}


def version(*features: str, name: str = "clean") -> str:
    body = "".join(FEATURES[f] for f in features)
    return f'def {name}(xs):\n    """Sorted unique items of xs; [] for an empty xs."""\n{body}    return xs\n'


def checks_passed(code: str) -> list[str]:
    ast.parse(code)
    return [f for f, text in FEATURES.items() if text.strip() in code]


def make_evaluate(params, log=None):
    """``evaluate(assignment) -> (score, feedback, descriptor)`` over every function."""

    def evaluate(assignment):
        if log is not None:
            log.append(assignment_key(assignment))
        passing = {p.fn_name: checks_passed(assignment[p.name]) for p in params}
        failing = [
            f"{fn}: {f}" for fn, found in passing.items() for f in FEATURES if f not in found
        ]
        score = sum(len(found) for found in passing.values()) / (3 * len(params))
        feedback = "all checks pass" if not failing else "failing checks: " + ", ".join(failing)
        descriptor = passing if len(params) > 1 else passing[params[0].fn_name]
        return score, feedback, descriptor

    return evaluate


def fixer(messages):
    """Adds the first failing check it is told about, and drops the others it had."""
    user = messages[-1]["content"]
    if "#Version A" in user:  # a merge: keep everything both versions do
        both = [f for f in FEATURES if FEATURES[f].strip() in user]
        return f"Merged.\n```python\n{version(*both)}```"
    failing = user.rsplit("failing checks: ", 1)[-1]
    wanted = next((f for f in FEATURES if f"clean: {f}" in failing), "empty")
    return f"Add the {wanted} check.\n```python\n{version(wanted)}```"


def _function(source: str, fn_name: str = "clean") -> CodeParameter:
    """A code parameter holding ``source`` (never run: the checks read its text)."""
    return CodeParameter(source, fn_name=fn_name, signature=f"def {fn_name}(xs)", module=__name__)


def _search(llm, *, budget=None, **options):
    params = [_function(STUB)]
    opt = OptoPrime(params, llm, budget=budget, draft_stubs=False, resample=0)
    return ArchiveSearch(opt, make_evaluate(params), **options), params[0]


def test_candidates_are_filed_by_descriptor_and_the_better_one_is_the_elite():
    archive, p = _search(fixer)
    archive.add({p.name: version("sorted")}, "start", [])
    archive.add({p.name: version("empty")}, "start", [])
    better, _ = archive.add({p.name: version("sorted", "empty")}, "expand", [])
    worse, _ = archive.add({p.name: version("empty", name="clean") + "\n"}, "expand", [])
    assert set(archive.cells) == {'["sorted"]', '["empty"]', '["empty","sorted"]'}
    empty = archive.cells['["empty"]']
    assert empty.visits == 2 and archive.candidates[empty.elite].origin == "start"
    assert archive.best is better and better.score == pytest.approx(2 / 3)


def test_selection_weighs_score_novelty_and_how_rarely_a_cell_was_expanded():
    archive, p = _search(fixer, expand=1)
    archive.add({p.name: version("sorted", "empty")}, "start", [])
    archive.add({p.name: version("unique")}, "start", [])
    assert archive.select() == ['["empty","sorted"]']  # the higher score first
    archive.cells['["empty","sorted"]'].expansions = archive.expansions = 20
    assert archive.select() == ['["unique"]']  # a rarely expanded cell gets its turn
    archive.cells['["unique"]'].expansions = 20
    archive.cells['["unique"]'].visits = 9
    assert archive.select() == ['["empty","sorted"]']  # a crowded cell is less novel


def test_an_expansion_is_fed_its_own_elites_feedback_and_fills_new_cells():
    prompts = []

    def llm(messages):
        prompts.append(messages[-1]["content"])
        return fixer(messages)

    archive, p = _search(llm, crossovers=0, expand=2)
    archive.step()  # start (passes nothing) -> a child that passes "empty"
    archive.step()  # both cells expanded, each from its own feedback
    assert set(archive.cells) >= {"[]", '["empty"]', '["sorted"]'}
    own = [q for q in prompts if "failing checks: clean: sorted" in q]
    assert own and all("clean: empty" not in q.rsplit("#Feedback", 1)[1] for q in own)
    child = archive.candidates[archive.cells['["sorted"]'].elite]
    assert child.origin == "expand" and archive.candidates[child.parents[0]].cell == '["empty"]'


def test_an_assignment_is_evaluated_once():
    log = []
    params = [_function(STUB)]
    same = f"Again.\n```python\n{version('empty')}```"
    opt = OptoPrime(params, lambda m: same, draft_stubs=False, resample=0)
    archive = ArchiveSearch(opt, make_evaluate(params, log), crossovers=0, branch=2)
    for _ in range(3):
        archive.step()
    assert len(log) == len(set(log)) == 2 and archive.duplicates >= 3
    assert len(archive.candidates) == 2


def test_crossover_takes_a_function_from_each_of_two_elites_without_a_call():
    params = [_function(STUB), _function(STUB.replace("def clean", "def tidy"), "tidy")]
    calls = []
    opt = OptoPrime(params, lambda m: calls.append(m) or "TERMINATE", draft_stubs=False)
    archive = ArchiveSearch(opt, make_evaluate(params), expand=1, crossovers=1)
    full = [version("empty", "sorted", "unique"), version("empty", "sorted", "unique", name="tidy")]
    archive.add(
        {params[0].name: full[0], params[1].name: STUB.replace("clean", "tidy")}, "start", []
    )
    archive.add({params[0].name: STUB, params[1].name: full[1]}, "start", [])
    archive._crossover({"new": [], "failures": []})
    child = next(c for c in archive.candidates.values() if c.origin == "crossover")
    assert child.score == 1.0 and sorted(child.parents) == sorted(
        c.elite for c in list(archive.cells.values())[:2]
    )
    assert calls == [] and (child.parents[0], child.parents[1]) in archive.crossed


def test_merge_shows_two_elites_that_pass_different_checks_and_is_evaluated():
    prompts = []

    def llm(messages):
        prompts.append(messages)
        return fixer(messages)

    archive, p = _search(llm, expand=1, crossovers=1)
    archive.add({p.name: version("sorted", "unique")}, "start", [])
    archive.add({p.name: version("empty")}, "start", [])
    archive._crossover({"new": [], "failures": []})
    merged = next(c for c in archive.candidates.values() if c.origin == "merge")
    assert merged.score == 1.0 and len(merged.parents) == 2
    system, user = prompts[-1][0]["content"], prompts[-1][1]["content"]
    assert "```python" in system and "#Version A" in user and "#Version B" in user
    assert "failing checks: clean: empty" in user and "failing checks: clean: sorted" in user


def test_the_budget_stops_the_search_and_keeps_the_archive():
    archive, p = _search(fixer, budget=Budget(max_calls=3), expand=2)
    status = archive.run(20)
    assert status == "budget_exceeded"
    assert archive.optimizer.meter.total.calls == 3
    best = archive.best
    assert best is not None and p.data == best.values[p.name] and len(archive.candidates) >= 3


def test_a_resumed_search_builds_the_same_archive():
    whole, _ = _search(fixer, expand=2, stop_at=1.0)
    assert whole.run(4) in ("solved", "completed")

    first, _ = _search(fixer, expand=2, stop_at=1.0)
    first.run(2)
    saved = json.loads(json.dumps(first.state_dict()))
    resumed, p = _search(fixer, expand=2, stop_at=1.0)
    resumed.load_state_dict(saved)
    assert p.data == resumed.best.values[p.name]
    resumed.run(2)

    def archive(state):
        return {k: state[k] for k in ("candidates", "cells", "crossed", "steps", "expansions")}

    assert archive(resumed.state_dict()) == archive(whole.state_dict())
    assert resumed.best.score == whole.best.score


def test_bad_evaluations_and_states_say_what_is_wrong():
    archive, p = _search(fixer)
    archive.evaluate = lambda a: 1.0
    with pytest.raises(TypeError, match="must return an Outcome"):
        archive.step()
    archive.evaluate = lambda a: Outcome(0.5, "meh", {1, 2})
    with pytest.raises(TypeError, match="descriptor must be a JSON value"):
        archive.step()
    from trace_engine import StateError

    with pytest.raises(StateError, match="not an ArchiveSearch"):
        archive.load_state_dict({"type": "OptoPrime"})


def test_a_budget_holds_across_a_resume():
    first, _ = _search(fixer, budget=Budget(max_calls=2))
    assert first.run(10) == "budget_exceeded"
    saved = json.loads(json.dumps(first.state_dict()))
    assert saved["spent"]["calls"] == 2
    resumed, _ = _search(fixer, budget=Budget(max_calls=3))
    resumed.load_state_dict(saved)
    assert resumed.run(10) == "budget_exceeded"
    assert resumed.optimizer.meter.total.calls == 1
    assert resumed.state_dict()["spent"]["calls"] == 3


def test_a_step_stops_expanding_once_an_elite_reaches_the_target():
    calls = []

    def llm(messages):
        calls.append(messages)
        return f"Done.\n```python\n{version('empty', 'sorted', 'unique')}```"

    archive, _ = _search(llm, expand=2, crossovers=2, stop_at=1.0)
    archive.step()
    assert archive.best.score == 1.0 and len(calls) == 1
    assert archive.run(5) == "solved" and len(calls) == 1


def test_run_stops_after_max_errors_failed_steps_in_a_row():
    from trace_engine.llm import LLMError

    calls = []

    def down(messages):
        calls.append(messages)
        raise LLMError("the server is down")

    archive, _ = _search(down, expand=1, crossovers=0, max_errors=2)
    assert archive.run(10) == "failed"
    assert [r.ok for r in archive.history] == [False, False]  # seeding is no success
    assert "the server is down" in archive.history[-1].error and len(calls) == 2


def test_without_evaluate_a_step_says_how_to_give_one():
    from trace_engine import StateError

    archive, _ = _search(fixer)
    archive.evaluate = None
    with pytest.raises(StateError, match="no evaluate"):
        archive.step()
