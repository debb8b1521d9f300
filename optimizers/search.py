"""Searching over proposals: several candidates per step, beams, best-so-far.

A small model's single proposal is often wrong; asking for several (spread over
temperatures, each with its own seed) and keeping the best one recovers much of
the gap. Candidates are chosen by a user's ``score(values) -> float`` (run in
parallel through an executor: threads by default, or Ray tasks), by majority vote, or by an LLM judge. :class:`BeamSearch`
keeps the best few settings across rounds, and :class:`BestSoFar` remembers the
best parameters seen on a validation score so a run can roll back to them.

Scores are computed on a dict of candidate values by parameter name (the live
parameters are not touched while candidates are scored, which is what makes
parallel scoring safe).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from optimizers.base import (
    STEP_ERRORS,
    Optimizer,
    Proposal,
    ProposalError,
    StepResult,
    charge,
    check_parameters,
    failed_step,
    report_failure,
)
from optimizers.optoprime import OptoPrime, check_approach
from optimizers.prompts import JUDGE_PROMPT, SOLVE_DIRECTLY, WORK_BACKWARD, Approach
from optimizers.replies import ReplyError, read_object
from optimizers.values import jsonable
from trace_engine import FeedbackGraph, Node, Parameter, StateError
from trace_engine.executors import Executor, ThreadExecutor, as_executor
from trace_engine.llm import LLMError

SELECTIONS = ("score", "majority", "judge")
Score = Callable[[dict[str, Any]], float]


def temperature_spread(n: int, high: float = 1.0) -> list[float]:
    """``n`` temperatures: greedy first, then evenly up to ``high``."""
    if n == 1:
        return [0.0]
    return [round(high * i / (n - 1), 3) if i else 0.0 for i in range(n)]


def _score_all(
    score: Score, candidates: Sequence[dict[str, Any]], executor: Executor | str | None, workers
) -> list[tuple[float | None, str | None]]:
    """``_safe_score`` of every candidate through ``executor`` (default: threads)."""
    return as_executor(executor, workers).map(partial(_safe_score, score), candidates)


def _key(values: dict[str, Any]) -> str:
    return json.dumps({k: jsonable(v) for k, v in sorted(values.items())}, sort_keys=True)


def _safe_score(score: Score, values: dict[str, Any]) -> tuple[float | None, str | None]:
    try:
        value = float(score(values))
    except Exception as exc:
        return None, f"score raised {type(exc).__name__}: {exc}"
    if math.isnan(value):
        return None, "score returned NaN"
    return value, None


class OptoPrimeMulti(OptoPrime):
    """OptoPrime with ``n`` candidates per step and a selection rule.

    ``select="score"`` needs ``score(values) -> float`` (higher is better);
    ``"majority"`` applies the update proposed most often; ``"judge"`` asks the
    LLM (or ``judge_llm``) to pick. ``keep_current=True`` (score selection only)
    applies nothing unless the best candidate beats the current values.
    Each step samples with seeds of its own, so a step after one that changed
    nothing does not draw the same candidates again. Candidate ``i`` is asked with
    ``approaches[i % len(approaches)]`` (default: work backward, then solve directly,
    alternating): a small model solves some problems one way and some the other.
    Candidates are asked for on ``workers`` threads; their scores are computed
    through ``executor`` (an executor or ``"thread"``/``"ray"``; default threads).
    """

    def __init__(
        self,
        parameters,
        llm: Any = None,
        *,
        n: int = 3,
        select: str = "score",
        score: Score | None = None,
        temperatures: Sequence[float] | None = None,
        approaches: Sequence[Approach] = (WORK_BACKWARD, SOLVE_DIRECTLY),
        judge_llm: Any = None,
        keep_current: bool = False,
        workers: int | None = None,
        executor: Executor | str | None = None,
        **options: Any,
    ):
        if "approach" in options:
            raise TypeError("OptoPrimeMulti takes approaches=[...] (one per candidate in turn)")
        super().__init__(parameters, llm, **{"resample": 0, **options})
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        if select not in SELECTIONS:
            raise ValueError(f"select must be one of {', '.join(SELECTIONS)}, got {select!r}")
        if select == "score" and not callable(score):
            raise ValueError("select='score' needs score=callable(values dict) -> float")
        self.temperatures = (
            list(temperatures) if temperatures is not None else temperature_spread(n)
        )
        if len(self.temperatures) != n:
            raise ValueError(f"temperatures has {len(self.temperatures)} entries, n is {n}")
        if isinstance(approaches, Approach) or not approaches:
            raise ValueError("approaches must be a non-empty sequence of Approach")
        self.approaches = [check_approach(a) for a in approaches]
        self.n = n
        self.select = select
        self.score = score
        self.keep_current = keep_current
        self.workers = workers
        self.executor = executor
        self.judge_llm = None if judge_llm is None else self.guarded(judge_llm)

    def candidates(self, graph: FeedbackGraph) -> tuple[list[Proposal], list[str]]:
        """The readable proposals, and why the others failed."""

        user = {"role": "user", "content": self.user_text(graph)}
        asked = [
            [{"role": "system", "content": self.first_system_prompt(graph.parameters, a)}, user]
            for a in self.approaches
        ]
        first_seed = len(self.history) * self.n

        def one(i: int) -> Proposal | str:
            try:
                return OptoPrime.propose(
                    self,
                    graph,
                    temperature=self.temperatures[i],
                    seed=first_seed + i,
                    messages=asked[i % len(asked)],
                )
            except (ReplyError, LLMError) as exc:
                return f"candidate {i}: {type(exc).__name__}: {exc}"

        found = ThreadExecutor(self.workers).map(one, range(self.n))
        return [p for p in found if isinstance(p, Proposal)], [
            p for p in found if isinstance(p, str)
        ]

    def propose(
        self, graph: FeedbackGraph, *, temperature: float = 0.0, seed: int | None = None
    ) -> Proposal:
        proposals, failures = self.candidates(graph)
        if not proposals:
            raise ReplyError("no candidate could be read: " + "; ".join(failures))
        current = self.values()
        checked = [self.validate(p.values) for p in proposals]
        full = [{**current, **accepted} for accepted, _ in checked]
        details: dict[str, Any] = {
            "candidates": [dict(accepted) for accepted, _ in checked],
            "failures": failures,
        }
        chosen = self._choose(graph, proposals, full, details)
        if chosen is None:
            return Proposal(reasoning="no candidate beat the current values", details=details)
        details["chosen"] = chosen
        picked = proposals[chosen]
        return Proposal(picked.values, picked.reasoning, picked.answer, picked.terminated, details)

    def _choose(self, graph, proposals, full, details) -> int | None:
        if self.select == "majority":
            keys = [_key(v) for v in full]
            counts = {k: keys.count(k) for k in keys}
            details["votes"] = [counts[k] for k in keys]
            return max(range(len(keys)), key=lambda i: (counts[keys[i]], -i))
        if self.select == "judge":
            return self._judge(graph, details)
        scored = _score_all(self.score, full, self.executor, self.workers)
        details["scores"] = [s for s, _ in scored]
        details["score_errors"] = [e for _, e in scored]
        valid = [i for i, (s, _) in enumerate(scored) if s is not None]
        if not valid:
            raise ProposalError(
                "every candidate's score failed: " + "; ".join(e for _, e in scored if e)
            )
        best = max(valid, key=lambda i: (scored[i][0], -i))
        if self.keep_current:
            baseline, error = _safe_score(self.score, self.values())
            details["current_score"] = baseline
            if baseline is not None and baseline >= scored[best][0]:
                return None
        return best

    def _judge(self, graph: FeedbackGraph, details: dict[str, Any]) -> int:
        listing = "\n".join(
            f"Candidate {i + 1}: {json.dumps({k: jsonable(v) for k, v in c.items()})}"
            for i, c in enumerate(details["candidates"])
        )
        problem = self.last_problem.text if self.last_problem else self.problem(graph).text
        messages = [
            {"role": "system", "content": JUDGE_PROMPT},
            {"role": "user", "content": f"{problem}\n\n#Candidates\n{listing}"},
        ]
        schema = {
            "type": "object",
            "properties": {"best": {"enum": list(range(1, len(details["candidates"]) + 1))}},
            "required": ["best"],
        }
        completion = self.complete(messages, via=self.judge_llm, max_tokens=16, json_schema=schema)
        try:
            best = int(read_object(completion.text, completion.json).get("best"))
        except (ReplyError, TypeError, ValueError):
            best = 0
        if not 1 <= best <= len(details["candidates"]):
            details["judge"] = f"unusable judge reply {completion.text[:80]!r}; took candidate 1"
            return 0
        details["judge"] = best
        return best - 1


class BestSoFar:
    """Tracks a validation score per step and the parameter values that earned the best.

    ``update(score)`` records the current values' score; ``rollback()`` puts the
    best values seen back into the parameters (all validated before any is set).
    """

    def __init__(
        self, parameters: Iterable[Parameter] | Optimizer, *, higher_is_better: bool = True
    ):
        source = parameters.parameters if isinstance(parameters, Optimizer) else parameters
        self.parameters = check_parameters(source)
        self.higher_is_better = higher_is_better
        self.scores: list[float] = []
        self.best_score: float | None = None
        self.best_step: int | None = None
        self.best_values: dict[str, Any] | None = None

    def update(self, score: float) -> bool:
        """Record ``score`` for the current values; True when it is a new best."""
        if isinstance(score, bool) or not isinstance(score, (int, float)) or math.isnan(score):
            raise ValueError(f"score must be a number, got {score!r}")
        self.scores.append(float(score))
        better = self.best_score is None or (
            score > self.best_score if self.higher_is_better else score < self.best_score
        )
        if better:
            self.best_score = float(score)
            self.best_step = len(self.scores) - 1
            self.best_values = {p.name: p.data for p in self.parameters}
        return better

    def rollback(self) -> dict[str, Any]:
        """Restore the best values seen; returns those that changed."""
        if self.best_values is None:
            raise ValueError("rollback(): no score recorded yet; call update(score) first")
        changes = {}
        for p in self.parameters:
            value = self.best_values[p.name]
            if p.data is not value and p.data != value:
                changes[p.name] = p.validate(value)
        before = {p.name: p.data for p in self.parameters if p.name in changes}
        by_name = {p.name: p for p in self.parameters}
        try:
            for name, value in changes.items():
                by_name[name].set(value)
        except Exception:
            for name, value in before.items():
                by_name[name].set(value)
            raise
        return changes

    def state_dict(self) -> dict[str, Any]:
        return {
            "scores": list(self.scores),
            "best_score": self.best_score,
            "best_step": self.best_step,
            "best_values": None
            if self.best_values is None
            else {k: jsonable(v) for k, v in self.best_values.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        names = {p.name for p in self.parameters}
        if not isinstance(state, dict) or not {"scores", "best_score", "best_values"} <= set(state):
            raise StateError("BestSoFar state needs scores, best_score and best_values")
        values = state["best_values"]
        if values is not None and set(values) != names:
            raise StateError(
                f"BestSoFar state is for parameters {sorted(values)}, not {sorted(names)}"
            )
        self.scores = [float(s) for s in state["scores"]]
        self.best_score = state["best_score"]
        self.best_step = state.get("best_step")
        self.best_values = values


class BeamSearch:
    """Keeps the ``width`` best parameter settings; each round expands every one.

    For each setting in the beam the parameters are set to it, ``run()`` executes
    the program and returns ``(output, feedback)``, and the optimizer proposes
    ``branch`` candidates (temperature spread). All new settings are scored by
    ``score(values)`` in parallel through ``executor`` (default: ``workers`` threads;
    ``"ray"`` or an executor to score on Ray); the best ``width`` of old and new form the next
    beam, and the parameters end each round at the best one.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        run: Callable[[], tuple[Node, Any]],
        score: Score,
        *,
        width: int = 2,
        branch: int = 2,
        workers: int | None = None,
        executor: Executor | str | None = None,
    ):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"BeamSearch needs an Optimizer, got {type(optimizer).__name__}")
        if not callable(run) or not callable(score):
            raise TypeError(
                "BeamSearch needs run() -> (output, feedback) and score(values) -> float"
            )
        for label, value in (("width", width), ("branch", branch)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be an int >= 1, got {value!r}")
        self.optimizer = optimizer
        self.run = run
        self.score = score
        self.width = width
        self.temperatures = temperature_spread(branch)
        self.workers = workers
        self.executor = executor
        self.beam: list[tuple[float, dict[str, Any]]] = []
        self.history: list[StepResult] = []

    @property
    def best(self) -> tuple[float, dict[str, Any]] | None:
        return self.beam[0] if self.beam else None

    def _scored(self, values: list[dict[str, Any]]) -> list[tuple[float, dict[str, Any]]]:
        results = _score_all(self.score, values, self.executor, self.workers)
        return [(s, v) for (s, _), v in zip(results, values) if s is not None]

    def _set(self, values: dict[str, Any]) -> None:
        current = self.optimizer.values()
        self.optimizer.apply({k: v for k, v in values.items() if current[k] is not v})

    def step(self) -> StepResult:
        """One round; on failure the parameters return to the best setting so far."""
        opt = self.optimizer
        start = opt.values()
        if not self.beam:
            self.beam = self._scored([start])
            if not self.beam:
                raise ValueError("score() failed on the starting parameter values")
        with opt.metering() as used:
            try:
                result = self._expand()
            except STEP_ERRORS as exc:
                result = failed_step(exc)
            finally:
                self._set(self.beam[0][1])
        result.applied = {k: v for k, v in opt.values().items() if start[k] is not v}
        charge(result, used)
        self.history.append(result)
        report_failure(self.history, opt.max_errors, "BeamSearch")
        return result

    def _expand(self) -> StepResult:
        opt = self.optimizer
        fresh: list[dict[str, Any]] = []
        rejected: dict[str, str] = {}
        errors: list[str] = []
        for _score, values in self.beam:
            self._set(values)
            opt.zero_feedback()
            output, feedback = self.run()
            opt.backward(output, feedback)
            graph = opt.feedback_graph()
            first_seed = len(self.history) * len(self.temperatures)
            for i, t in enumerate(self.temperatures):
                try:
                    proposal = opt.propose(graph, temperature=t, seed=first_seed + i)
                except (ReplyError, LLMError) as exc:
                    rejected[f"candidate {len(fresh)}"] = str(exc)
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                accepted, why = opt.validate(proposal.values)
                rejected.update(why)
                if accepted:
                    fresh.append({**values, **accepted})
        if len(errors) == len(self.beam) * len(self.temperatures):
            raise ProposalError(f"every candidate of the round failed; the last: {errors[-1]}")
        pool = {_key(v): (s, v) for s, v in self.beam}
        for s, v in self._scored([v for v in fresh if _key(v) not in pool]):
            pool.setdefault(_key(v), (s, v))
        self.beam = sorted(pool.values(), key=lambda sv: -sv[0])[: self.width]
        return StepResult(
            rejected=rejected,
            details={"beam_scores": [s for s, _ in self.beam], "candidates": len(fresh)},
        )
