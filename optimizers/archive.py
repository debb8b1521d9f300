"""ArchiveSearch: a quality-diversity archive of whole parameter assignments.

A small model's single repair attempt is usually wrong, and asking it again
from the same place tends to give the same wrong answer. MAP-Elites keeps the
best candidate of each *kind* (a cell of a behaviour space) instead of only the
best one; Go-Explore returns to promising states and explores from there. Here
a candidate is a full assignment of the parameters, its kind is a descriptor the
job computes (for code: which checks pass and how the others fail; for values:
an error bucket; optionally a cost bucket), and the archive keeps one elite per
cell with its score, feedback and lineage.

Each step

1. selects the cells to return to, by a priority that adds the elite's score
   (scaled over the archive), the cell's novelty (how few candidates reached it)
   and how rarely it has been expanded;
2. expands each from its elite: the parameters are set to the elite, its own
   feedback (its failing checks, its error) is given to the optimizer, and the
   optimizer's own proposal machinery (OptoPrime's problem and call protocol)
   proposes a child;
3. crosses two elites of different cells: with several differing parameters,
   a child takes some of them from each (one function from each); with one, the
   LLM is shown both versions with their feedback and asked to merge them.

Every child is evaluated by the job's ``evaluate(assignment)`` (run through
whatever sandbox the job uses) unless the same assignment was evaluated before.
A step in which every proposal failed (LLM errors, unreadable replies, invalid
code) and nothing new was found is a failed step; :meth:`ArchiveSearch.run`
stops after ``max_errors`` of them in a row. The Trainer runs the search one
step per training step, scoring candidates on the training split
(:mod:`workflows.training.archive_steps`).
LLM calls go through the optimizer, so its :class:`~trace_engine.llm.Budget`
(calls, tokens, USD) bounds the search; the archive is JSON
(:meth:`ArchiveSearch.state_dict`), so a run resumes where it stopped, its
spending so far charged to the resumed optimizer's budget.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from optimizers.base import (
    STEP_ERRORS,
    Optimizer,
    StepResult,
    charge,
    check_max_errors,
    failed_in_a_row,
)
from optimizers.code_replies import code_reply_format, split_code
from optimizers.problem import show_feedback
from optimizers.prompts import MERGE_FEEDBACK, MERGE_JSON_REPLY, MERGE_TASK, MERGE_VERSION
from optimizers.values import convert, jsonable
from trace_engine import CodeParameter, ExecutionError, InvalidUpdate, Node, Parameter, StateError
from trace_engine.llm import BudgetExceeded, UsageStats

STATE_VERSION = 1
EXPLORE_TEMPERATURE = 0.8
"""Temperature of every expansion but a cell's first (greedy decoding would repeat itself)."""


@dataclass
class Outcome:
    """What the job's ``evaluate(assignment)`` says about one candidate.

    ``descriptor`` is any JSON value naming the candidate's kind (its cell);
    ``output``, when given, is the traced output the feedback belongs to, so that
    an expansion shows the optimizer the whole computation, not just the values.
    ``outputs``: several traced outputs, each with its own feedback and score
    (a candidate scored on many examples); an expansion feeds each its own.
    """

    score: float
    feedback: Any
    descriptor: Any
    output: Node | ExecutionError | None = None
    outputs: list[tuple[Node | ExecutionError, Any, float]] | None = None


@dataclass
class Candidate:
    """One evaluated assignment (values in JSON form) and where it came from."""

    key: str
    values: dict[str, Any]
    score: float
    feedback: str
    cell: str
    origin: str
    """``start``, ``expand``, ``crossover`` (parts of two elites) or ``merge`` (an LLM merge)."""
    parents: list[str] = field(default_factory=list)
    step: int = 0


@dataclass
class Cell:
    """One cell of the behaviour space: its elite and how often it was reached and expanded."""

    descriptor: Any
    elite: str
    visits: int = 1
    expansions: int = 0


Evaluate = Callable[[dict[str, Any]], "Outcome | tuple"]
Feedback = list[tuple[Node | ExecutionError, Any, float]]
"""Traced outputs with their feedback and score: what an expansion feeds the optimizer."""


def assignment_key(values: Mapping[str, Any]) -> str:
    """A hash of an assignment: equal assignments (in JSON form) share it."""
    text = json.dumps({k: jsonable(v) for k, v in sorted(values.items())}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cell_of(descriptor: Any) -> str:
    """The cell key of a descriptor: its canonical JSON."""
    try:
        return json.dumps(descriptor, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        raise TypeError(
            f"a descriptor must be a JSON value (str, number, list, dict), got {descriptor!r:.80}"
        ) from None


SPENT = ("calls", "prompt_tokens", "completion_tokens", "cost")
"""The spending a checkpoint carries over (:class:`~trace_engine.llm.UsageStats` fields)."""


def _spent(*parts: UsageStats) -> dict[str, float]:
    return {k: sum(getattr(p, k) for p in parts) for k in SPENT}


def _feedback_of(outcome: Outcome, feedback: str) -> Feedback:
    """The traced outputs an expansion feeds: each of ``outputs`` with its own feedback,
    else ``output`` with the candidate's ``feedback``, else none."""
    if outcome.outputs is not None:
        return list(outcome.outputs)
    return [] if outcome.output is None else [(outcome.output, feedback, float(outcome.score))]


def _outcome(found: Any) -> Outcome:
    if isinstance(found, Outcome):
        outcome = found
    elif isinstance(found, tuple) and len(found) in (3, 4):
        outcome = Outcome(*found)
    else:
        raise TypeError(
            "evaluate(assignment) must return an Outcome or (score, feedback, descriptor), "
            f"got {type(found).__name__}"
        )
    score = outcome.score
    if isinstance(score, bool) or not isinstance(score, (int, float)) or math.isnan(score):
        raise TypeError(f"evaluate() returned the score {score!r}; it must be a number")
    return outcome


class ArchiveSearch:
    """MAP-Elites / Go-Explore search with ``optimizer`` proposing and ``evaluate`` judging.

    ``evaluate(assignment) -> Outcome | (score, feedback, descriptor)`` gets every
    parameter's value by name (the parameters are also set to them while it runs);
    higher scores are better. ``None``: set ``evaluate`` before the first step (the
    Trainer sets it to score candidates on its training split). Each step expands
    the ``expand`` cells of highest priority (``branch`` children each) and makes
    ``crossovers`` crossovers. ``score_weight``, ``novelty_weight`` and
    ``rarity_weight`` weigh the priority's parts; ``stop_at``: :meth:`run` stops
    once an elite scores at least this. ``max_errors``: :meth:`run` stops after
    this many failed steps in a row (default: the optimizer's; ``None``: never).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        evaluate: Evaluate | None = None,
        *,
        expand: int = 2,
        branch: int = 1,
        crossovers: int = 1,
        score_weight: float = 1.0,
        novelty_weight: float = 0.5,
        rarity_weight: float = 1.0,
        stop_at: float | None = None,
        seed: int = 0,
        max_errors: int | None | Literal["optimizer"] = "optimizer",
    ):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ArchiveSearch needs an Optimizer, got {type(optimizer).__name__}")
        if evaluate is not None and not callable(evaluate):
            raise TypeError("evaluate must be a callable assignment -> Outcome")
        for label, value, least in (("expand", expand, 1), ("branch", branch, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{label} must be an int >= {least}, got {value!r}")
        if not isinstance(crossovers, int) or isinstance(crossovers, bool) or crossovers < 0:
            raise ValueError(f"crossovers must be an int >= 0, got {crossovers!r}")
        self.optimizer = optimizer
        self.evaluate = evaluate
        self.expand = expand
        self.branch = branch
        self.crossovers = crossovers
        self.weights = (score_weight, novelty_weight, rarity_weight)
        self.stop_at = stop_at
        self.seed = seed
        self.max_errors = (
            optimizer.max_errors if max_errors == "optimizer" else check_max_errors(max_errors)
        )
        self.parameters: list[Parameter] = optimizer.parameters
        self.candidates: dict[str, Candidate] = {}
        self.cells: dict[str, Cell] = {}
        self.crossed: set[tuple[str, str]] = set()
        self.steps = 0
        self.expansions = 0
        self.duplicates = 0
        self.history: list[StepResult] = []
        self.spent_before = UsageStats()
        """What the run(s) this one resumes spent (charged to the optimizer's budget)."""
        self._outputs: dict[str, Feedback] = {}

    # The archive ----------------------------------------------------------------------
    @property
    def best(self) -> Candidate | None:
        """The highest-scoring candidate (the earliest among equals)."""
        elites = [self.candidates[c.elite] for c in self.cells.values()]
        return max(elites, key=lambda c: c.score, default=None)

    def solved(self) -> bool:
        best = self.best
        return self.stop_at is not None and best is not None and best.score >= self.stop_at

    def priority(self, cell: Cell) -> float:
        """Weighted sum of the elite's score scaled over the archive (0 worst, 1 best),
        the cell's novelty (1 / the candidates that reached it) and how rarely it was
        expanded (an upper-confidence bonus, sqrt(ln(1 + all expansions) / (1 + its
        expansions)), which grows for a cell left alone while others are expanded)."""
        scores = [self.candidates[c.elite].score for c in self.cells.values()]
        low, high = min(scores), max(scores)
        score = self.candidates[cell.elite].score
        scaled = (score - low) / (high - low) if high > low else 1.0
        w_score, w_novelty, w_rarity = self.weights
        rarity = math.sqrt(math.log(1 + self.expansions) / (1 + cell.expansions))
        return w_score * scaled + w_novelty / cell.visits + w_rarity * rarity

    def select(self) -> list[str]:
        """The cells to expand this step, highest priority first (found first among equals)."""
        order = list(self.cells)
        ranked = sorted(order, key=lambda k: (-self.priority(self.cells[k]), order.index(k)))
        if self.stop_at is not None:
            ranked = [
                k for k in ranked if self.candidates[self.cells[k].elite].score < self.stop_at
            ]
        return ranked[: self.expand]

    def add(
        self, values: dict[str, Any], origin: str, parents: list[str]
    ) -> tuple[Candidate, bool]:
        """Evaluate ``values`` (a full assignment) and file it; ``(candidate, new)``.
        An assignment evaluated before is returned as it was, not evaluated again."""
        key = assignment_key(values)
        if key in self.candidates:
            self.duplicates += 1
            return self.candidates[key], False
        outcome = self._run(values)
        cell = cell_of(outcome.descriptor)
        feedback = (
            outcome.feedback
            if isinstance(outcome.feedback, str)
            else show_feedback(outcome.feedback)
        )
        found = Candidate(
            key,
            {k: jsonable(v) for k, v in values.items()},
            float(outcome.score),
            feedback,
            cell,
            origin,
            parents,
            self.steps,
        )
        self.candidates[key] = found
        self._outputs[key] = _feedback_of(outcome, feedback)
        held = self.cells.get(cell)
        if held is None:
            self.cells[cell] = Cell(outcome.descriptor, key)
        else:
            held.visits += 1
            if found.score > self.candidates[held.elite].score:
                self._outputs.pop(held.elite, None)
                held.elite = key
        return found, True

    def _run(self, values: dict[str, Any]) -> Outcome:
        if self.evaluate is None:
            raise StateError(
                "this ArchiveSearch has no evaluate(assignment): give it one, or run it "
                "through the Trainer, which scores candidates on its training split"
            )
        self._set(values)
        return _outcome(self.evaluate(dict(values)))

    def _set(self, values: Mapping[str, Any]) -> None:
        current = self.optimizer.values()
        self.optimizer.apply({k: v for k, v in values.items() if current[k] is not v})

    def _live(self, candidate: Candidate) -> dict[str, Any]:
        """A candidate's values in the parameters' own types."""
        return {p.name: p.validate(convert(p, candidate.values[p.name])) for p in self.parameters}

    # A step ---------------------------------------------------------------------------
    def step(self) -> StepResult:
        """Seed the archive if empty, expand the selected cells, cross two elites (no more
        once an elite reaches ``stop_at``); the parameters end at the best candidate. ``BudgetExceeded`` propagates, with every
        candidate evaluated so far kept and the parameters at the best one."""
        start = self.optimizer.values()
        record: dict[str, Any] = {"new": [], "failures": []}
        with self.optimizer.metering() as used:
            try:
                if not self.cells:
                    found, _ = self.add(start, "start", [])
                    record["new"].append(found.key)
                record["selected"] = self.select()
                for cell in record["selected"]:
                    if not self.solved():
                        self._expand(self.cells[cell], record)
                for _ in range(self.crossovers):
                    if not self.solved():
                        self._crossover(record)
            finally:
                best = self.best
                if best is not None:
                    self._set(self._live(best))
                self.steps += 1
        found = [k for k in record["new"] if self.candidates[k].origin != "start"]
        failed = bool(record["failures"]) and not found
        result = StepResult(
            applied={k: v for k, v in self.optimizer.values().items() if start[k] is not v},
            rejected={f"failure {i}": why for i, why in enumerate(record["failures"])},
            error=f"every proposal failed: {record['failures'][-1]}" if failed else None,
            error_type="ProposalError" if failed else None,
            details={
                **record,
                "cells": len(self.cells),
                "candidates": len(self.candidates),
                "best_score": best.score if best is not None else None,
            },
        )
        charge(result, used)
        self.history.append(result)
        return result

    def run(self, max_steps: int, *, on_step: Callable[[ArchiveSearch], None] | None = None) -> str:
        """Up to ``max_steps`` steps; ``on_step(self)`` after each (e.g. to checkpoint).
        Returns why it stopped: ``solved``, ``budget_exceeded``, ``failed`` (``max_errors``
        steps in a row failed; the last one's ``error`` says why) or ``completed``."""
        for _ in range(max_steps):
            if self.solved():
                return "solved"
            try:
                self.step()
            except BudgetExceeded:
                if on_step is not None:
                    on_step(self)
                return "budget_exceeded"
            if on_step is not None:
                on_step(self)
            if self.max_errors is not None and failed_in_a_row(self.history) >= self.max_errors:
                return "failed"
        return "solved" if self.solved() else "completed"

    def _expand(self, cell: Cell, record: dict[str, Any]) -> None:
        elite = self.candidates[cell.elite]
        opt = self.optimizer
        values = self._live(elite)
        self._give_feedback(elite, values)
        graph = opt.feedback_graph()
        for i in range(self.branch):
            greedy = cell.expansions == 0 and i == 0
            temperature = 0.0 if greedy else EXPLORE_TEMPERATURE
            seed = self.seed * 100_003 + self.expansions
            self.expansions += 1
            try:
                proposal = opt.propose(graph, temperature=temperature, seed=seed)
            except STEP_ERRORS as exc:
                record["failures"].append(f"expanding {elite.key}: {type(exc).__name__}: {exc}")
                continue
            finally:
                cell.expansions += 1
            accepted, rejected = opt.validate(proposal.values)
            record["failures"] += [f"{name}: {why}" for name, why in rejected.items()]
            if accepted:
                child, new = self.add({**values, **accepted}, "expand", [elite.key])
                if new:
                    record["new"].append(child.key)
                self._set(values)
        opt.zero_feedback()

    def _give_feedback(self, elite: Candidate, values: dict[str, Any]) -> None:
        """Set the parameters to ``elite`` and attach its own feedback: to its traced
        outputs when the evaluation gave them (evaluated again after a resume), else to
        the parameters themselves."""
        opt = self.optimizer
        if elite.key not in self._outputs:
            self._outputs[elite.key] = _feedback_of(self._run(values), elite.feedback)
        self._set(values)
        opt.zero_feedback()
        fed = self._outputs[elite.key] or [
            (p, elite.feedback, elite.score) for p in self.parameters
        ]
        for target, feedback, score in fed:
            opt.backward(target, feedback, score=score)

    def _crossover(self, record: dict[str, Any]) -> None:
        pair = self._pair()
        if pair is None:
            return
        a, b = pair
        self.crossed.add((a.key, b.key))
        differing = [p for p in self.parameters if a.values[p.name] != b.values[p.name]]
        if not differing:
            return
        if len(differing) >= 2:
            rng = random.Random(f"{self.seed}:{a.key}:{b.key}")
            taken = rng.sample(differing, rng.randint(1, len(differing) - 1))
            child = {**self._live(a), **{p.name: self._live(b)[p.name] for p in taken}}
            found, new = self.add(child, "crossover", [a.key, b.key])
        else:
            try:
                merged = self._merge(a, b, differing[0])
            except STEP_ERRORS as exc:
                record["failures"].append(f"merging {a.key}+{b.key}: {type(exc).__name__}: {exc}")
                return
            if merged is None:
                return
            found, new = self.add(merged, "merge", [a.key, b.key])
        if new:
            record["new"].append(found.key)

    def _pair(self) -> tuple[Candidate, Candidate] | None:
        """The two elites of highest priority, from different cells and differing in some
        value, not crossed before."""
        order = list(self.cells)
        ranked = sorted(order, key=lambda k: (-self.priority(self.cells[k]), order.index(k)))
        elites = [self.candidates[self.cells[k].elite] for k in ranked]
        for i, a in enumerate(elites):
            for b in elites[i + 1 :]:
                if (a.key, b.key) not in self.crossed and (b.key, a.key) not in self.crossed:
                    return a, b
        return None

    def _merge(self, a: Candidate, b: Candidate, param: Parameter) -> dict[str, Any] | None:
        """One LLM call shown both versions of ``param`` with their feedback."""
        opt = self.optimizer
        values = self._live(a)
        self._set(values)
        parts = []
        for label, c in (("A", a), ("B", b)):
            shown = c.values[param.name]
            text = shown if isinstance(shown, str) else json.dumps(shown, ensure_ascii=False)
            if isinstance(param, CodeParameter):
                text = f"```python\n{text.rstrip()}\n```"
            parts.append(
                f"{MERGE_VERSION.format(label=label, score=c.score)}\n{param.name} = {text}\n"
                f"{MERGE_FEEDBACK.format(label=label)}\n{c.feedback}"
            )
        code, others = split_code([param])
        system = (
            f"{MERGE_TASK}\n{code_reply_format(code)}" if code else MERGE_TASK + MERGE_JSON_REPLY
        )
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": "\n\n".join(parts)},
        ]
        reply = opt.ask(messages, others, code, temperature=0.0)
        accepted, _ = opt.validate(reply.suggestion)
        return {**values, **accepted} if accepted else None

    # Checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The archive as JSON: candidates, cells, crossed pairs and counters."""
        return {
            "type": "ArchiveSearch",
            "version": STATE_VERSION,
            "steps": self.steps,
            "expansions": self.expansions,
            "duplicates": self.duplicates,
            "candidates": [asdict(c) for c in self.candidates.values()],
            "cells": {k: asdict(c) for k, c in self.cells.items()},
            "crossed": sorted(list(pair) for pair in self.crossed),
            "history": [r.to_dict() for r in self.history],
            "spent": _spent(self.spent_before, self.optimizer.meter.total),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s archive and set the parameters to its best candidate."""
        if not isinstance(state, dict) or state.get("type") != "ArchiveSearch":
            raise StateError("this state is not an ArchiveSearch archive")
        if state.get("version") != STATE_VERSION:
            raise StateError(
                f"archive state version {state.get('version')!r}; this version reads {STATE_VERSION}"
            )
        names = {p.name for p in self.parameters}
        try:
            candidates = {c["key"]: Candidate(**c) for c in state["candidates"]}
            cells = {k: Cell(**c) for k, c in state["cells"].items()}
            crossed = {(a, b) for a, b in state["crossed"]}
            history = [StepResult.from_dict(r) for r in state["history"]]
            counters = [int(state[k]) for k in ("steps", "expansions", "duplicates")]
            spent = UsageStats(**{k: state["spent"][k] for k in SPENT})
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"archive state is malformed: {exc}") from None
        for c in candidates.values():
            if set(c.values) != names:
                raise StateError(
                    f"archive candidate {c.key} assigns {sorted(c.values)}, not {sorted(names)}"
                )
        if any(c.elite not in candidates for c in cells.values()):
            raise StateError("archive state names an elite that is not among its candidates")
        self.candidates, self.cells, self.crossed, self.history = (
            candidates,
            cells,
            crossed,
            history,
        )
        self.steps, self.expansions, self.duplicates = counters
        self._outputs = {}
        budget = self.optimizer.budget
        if budget is not None:  # a budget holds across a resume
            for k in SPENT:
                setattr(budget.spent, k, getattr(budget.spent, k) + getattr(spent, k))
        self.spent_before = spent
        best = self.best
        if best is not None:
            try:
                self._set(self._live(best))
            except InvalidUpdate as exc:
                raise StateError(f"the archive's best candidate is not valid here: {exc}") from None
