import itertools
import json
import threading

import pytest

from optimizers import BeamSearch, BestSoFar, OptoPrime, OptoPrimeMulti
from optimizers.search import temperature_spread
from trace_engine import StateError, node
from trace_engine.llm import Budget, BudgetExceeded


def _counting_llm(values, name="ms_x"):
    """Each call suggests the next value from ``values`` for the parameter ``name``."""
    it = itertools.cycle(values)
    lock = threading.Lock()

    def llm(messages):
        with lock:
            return json.dumps({"reasoning": "try", "suggestion": {name: next(it)}})

    return llm


def _problem(name):
    x = node(0, trainable=True, name=name)
    return x, x * 3 + 2


def test_multi_candidate_selection_picks_the_best_by_score():
    x, y = _problem("ms_x")
    scored = []

    def score(values):
        scored.append(values["ms_x"])
        return -abs(values["ms_x"] * 3 + 2 - 17)

    opt = OptoPrimeMulti([x], _counting_llm([1, 5, 9, 4]), n=4, score=score)
    opt.backward(y, "y should be 17")
    result = opt.step()
    assert x.data == 5 and result.applied == {"ms_x": 5}
    assert result.details["scores"] == [-12.0, 0.0, -12.0, -3.0] and result.details["chosen"] == 1
    assert sorted(scored) == [1, 4, 5, 9]
    assert result.calls == 4


def test_keep_current_applies_nothing_when_no_candidate_is_better():
    x, y = _problem("keep_x")
    opt = OptoPrimeMulti(
        [x],
        _counting_llm([-10, 20], "keep_x"),
        n=2,
        score=lambda v: -abs(v["keep_x"]),
        keep_current=True,
    )
    opt.backward(y, "y should be 2")
    result = opt.step()
    assert result.ok and not result.changed and result.details["current_score"] == 0


def test_each_step_samples_its_candidates_with_new_seeds():
    from trace_engine.llm import CallableLLM

    seeds = []

    class SeedSpy(CallableLLM):
        def complete(self, messages, **options):
            seeds.append(options["seed"])
            return super().complete(messages, **options)

    x, y = _problem("seed_x")
    reply = json.dumps({"reasoning": "r", "suggestion": {"seed_x": 0}})
    opt = OptoPrimeMulti([x], SeedSpy(lambda m: reply), n=3, score=lambda v: 0.0, workers=1)
    for _ in range(2):
        opt.zero_feedback()
        opt.backward(y, "y should be 17")
        assert not opt.step().changed
    assert seeds == [0, 1, 2, 3, 4, 5]


def test_majority_vote_and_judge_selection(scripted):
    x, y = _problem("vote_x")
    opt = OptoPrimeMulti([x], _counting_llm([3, 5, 5], "vote_x"), n=3, select="majority", workers=1)
    opt.backward(y, "y should be 17")
    result = opt.step()
    assert x.data == 5 and result.details["votes"] == [1, 2, 2]

    x2, y2 = _problem("judge_x")
    candidates = scripted(
        '{"reasoning": "a", "suggestion": {"judge_x": 1}}',
        '{"reasoning": "b", "suggestion": {"judge_x": 5}}',
    )
    judge = scripted('{"best": 2}')
    opt = OptoPrimeMulti([x2], candidates, n=2, select="judge", judge_llm=judge, workers=1)
    opt.backward(y2, "y should be 17")
    result = opt.step()
    assert x2.data == 5 and result.details["judge"] == 2 and result.calls == 3
    assert "#Candidates" in judge.last_user and 'Candidate 2: {"judge_x": 5}' in judge.last_user


def test_unreadable_candidates_are_skipped_and_recorded(scripted):
    x, y = _problem("skip_x")
    llm = scripted("nonsense", '{"reasoning": "r", "suggestion": {"skip_x": 5}}')
    opt = OptoPrimeMulti([x], llm, n=2, select="majority", workers=1)
    opt.backward(y, "y should be 17")
    result = opt.step()
    assert x.data == 5 and len(result.details["failures"]) == 1


def test_score_errors_do_not_crash_the_step():
    x, y = _problem("score_err_x")

    def score(values):
        if values["score_err_x"] == 1:
            raise RuntimeError("evaluation blew up")
        return values["score_err_x"]

    opt = OptoPrimeMulti([x], _counting_llm([1, 2], "score_err_x"), n=2, score=score, workers=1)
    opt.backward(y, "bigger")
    result = opt.step()
    assert x.data == 2 and "evaluation blew up" in result.details["score_errors"][0]


def test_budget_exceeded_among_candidates_leaves_parameters_unchanged():
    x, y = _problem("ms_budget_x")
    opt = OptoPrimeMulti(
        [x],
        _counting_llm([5], "ms_budget_x"),
        n=3,
        score=lambda v: 0.0,
        budget=Budget(max_calls=2),
        workers=1,
    )
    opt.backward(y, "y should be 17")
    with pytest.raises(BudgetExceeded):
        opt.step()
    assert x.data == 0 and opt.meter.total.calls == 2


def test_candidates_alternate_between_the_approaches():
    from optimizers import SOLVE_DIRECTLY, WORK_BACKWARD
    from trace_engine.llm import CallableLLM

    systems, users = {}, set()

    class SystemSpy(CallableLLM):
        def complete(self, messages, **options):
            systems[options["seed"]] = messages[0]["content"]
            users.add(messages[1]["content"])
            return super().complete(messages, **options)

    x, y = _problem("alt_x")
    reply = json.dumps({"reasoning": "r", "suggestion": {"alt_x": 5}})
    opt = OptoPrimeMulti([x], SystemSpy(lambda m: reply), n=3, score=lambda v: 0.0)
    opt.backward(y, "y should be 17")
    assert opt.step().applied == {"alt_x": 5}
    assert [systems[seed].endswith(WORK_BACKWARD.example) for seed in range(3)] == [
        True,
        False,
        True,
    ]
    assert systems[1].endswith(SOLVE_DIRECTLY.example)
    assert len(users) == 1 and "#Feedback\ny should be 17" in users.pop()


def test_multi_bad_options():
    from optimizers import WORK_BACKWARD

    x, _ = _problem("multi_opts")
    with pytest.raises(ValueError, match="needs score"):
        OptoPrimeMulti([x], lambda m: "", select="score")
    with pytest.raises(ValueError, match="select must be"):
        OptoPrimeMulti([x], lambda m: "", select="best")
    with pytest.raises(ValueError, match="n must be"):
        OptoPrimeMulti([x], lambda m: "", n=0, select="majority")
    with pytest.raises(ValueError, match="approaches must be"):
        OptoPrimeMulti([x], lambda m: "", select="majority", approaches=())
    with pytest.raises(TypeError, match="takes approaches="):
        OptoPrimeMulti([x], lambda m: "", select="majority", approach=WORK_BACKWARD)
    assert temperature_spread(3) == [0.0, 0.5, 1.0] and temperature_spread(1) == [0.0]


def test_best_so_far_rolls_back_to_the_best_parameters():
    x = node(1, trainable=True, name="best_x")
    tracker = BestSoFar([x])
    assert tracker.update(0.5)
    x.set(2)
    assert tracker.update(0.9)
    x.set(3)
    assert not tracker.update(0.1)
    assert tracker.rollback() == {"best_x": 2} and x.data == 2
    assert tracker.best_step == 1 and tracker.scores == [0.5, 0.9, 0.1]
    state = json.loads(json.dumps(tracker.state_dict()))
    again = BestSoFar([x], higher_is_better=False)
    again.load_state_dict(state)
    assert again.best_values == {"best_x": 2}
    with pytest.raises(StateError):
        again.load_state_dict({**state, "best_values": {"other": 1}})
    with pytest.raises(ValueError, match="no score recorded"):
        BestSoFar([x]).rollback()
    with pytest.raises(ValueError, match="must be a number"):
        tracker.update(float("nan"))


def test_best_so_far_lower_is_better_and_accepts_an_optimizer():
    x = node(5, trainable=True, name="loss_x")
    tracker = BestSoFar(OptoPrime([x], lambda m: "TERMINATE"), higher_is_better=False)
    tracker.update(3.0)
    x.set(6)
    tracker.update(4.0)
    tracker.rollback()
    assert x.data == 5


def test_beam_search_finds_the_target(scripted):
    x = node(0, trainable=True, name="beam2_x")
    values = itertools.cycle([1, 4, 5, 9])

    def llm(messages):
        return json.dumps({"reasoning": "r", "suggestion": {"beam2_x": next(values)}})

    def run():
        y = x * 3 + 2
        return y, f"y is {y.data}, it should be 17"

    opt = OptoPrime([x], llm)
    beam = BeamSearch(opt, run, lambda v: -abs(v["beam2_x"] * 3 + 2 - 17), width=2, branch=2)
    first = beam.step()
    assert first.ok and x.data == 4 and first.applied == {"beam2_x": 4}
    beam.step()
    assert x.data == 5 and beam.best == (0.0, {"beam2_x": 5})
    assert len(beam.history) == 2 and beam.history[1].calls == 4


def test_beam_search_failure_returns_to_the_best_setting():
    x = node(0, trainable=True, name="beam3_x")

    def run():
        return x + 1, "more"

    opt = OptoPrime([x], lambda m: '{"reasoning": "r", "suggestion": {"beam3_x": 3}}')
    beam = BeamSearch(opt, run, lambda v: v["beam3_x"], width=1, branch=1)
    beam.step()
    assert x.data == 3

    def broken_run():
        raise RuntimeError("program crashed")

    beam.run = broken_run
    with pytest.raises(RuntimeError, match="program crashed"):
        beam.step()
    assert x.data == 3
