"""Training labels for the meta-controller: how many demonstrations each input needs.

For every training input and every ``k`` in a grid the model answers with ``k``
demonstrations, over several random demo sets (nested: set ``j`` uses the first
``k`` of one random order, so larger ``k`` only adds demos). The accuracy per
``k`` is stored; the label ``k*`` is the smallest ``k`` whose accuracy reaches the
threshold ``t``, or ``None`` when no ``k`` does. Labels are derived when asked,
so a new threshold needs no new model calls.

Runs through an executor (threads by default, or Ray tasks), every call goes through the LLM layer (and its cache), shows
a progress bar, and keeps a label file that is rewritten atomically after each
input, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.dynaicl.demos import DemoSelector
from agents.dynaicl.examples import Example, Grader, as_examples, exact_match
from agents.dynaicl.prompt import prompt_messages, render_few_shot
from trace_engine.errors import TraceEngineError
from trace_engine.executors import Executor, as_executor
from trace_engine.files import atomic_write_text
from trace_engine.llm.base import LLM, as_llm

FORMAT = "trace-engine/dynaicl-labels"
DEFAULT_GRID = (0, 1, 2, 4, 8)


class LabelFileMismatch(TraceEngineError, ValueError):
    """A label file on disk was made for another task or configuration."""


def check_grid(grid: Sequence[int]) -> tuple[int, ...]:
    """A grid of demo counts: distinct non-negative ints, sorted, starting at 0."""
    values = tuple(grid)
    if not values or any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in values):
        raise ValueError(f"grid must be non-negative ints, got {grid!r}")
    if len(set(values)) != len(values) or list(values) != sorted(values):
        raise ValueError(f"grid must be strictly increasing, got {grid!r}")
    if values[0] != 0:
        raise ValueError(f"grid must start at 0 (zero-shot), got {grid!r}")
    return values


@dataclass
class LabelRecord:
    """Outcome of one training input: accuracy per ``k`` over ``trials[k]`` demo sets."""

    input: str
    target: str
    accuracy: dict[int, float]
    trials: dict[int, int]

    def label(self, threshold: float) -> int | None:
        """Smallest ``k`` whose accuracy reaches ``threshold``; ``None`` if none does."""
        for k in sorted(self.accuracy):
            if self.accuracy[k] >= threshold - 1e-12:
                return k
        return None

    def to_json(self) -> dict:
        return {
            "input": self.input,
            "target": self.target,
            "accuracy": {str(k): v for k, v in self.accuracy.items()},
            "trials": {str(k): v for k, v in self.trials.items()},
        }

    @classmethod
    def from_json(cls, value: dict) -> LabelRecord:
        return cls(
            value["input"],
            value["target"],
            {int(k): float(v) for k, v in value["accuracy"].items()},
            {int(k): int(v) for k, v in value["trials"].items()},
        )


@dataclass
class LabelSet:
    """Label records plus what produced them (task, grid, demo sets, model, instruction)."""

    meta: dict[str, Any]
    records: list[LabelRecord] = field(default_factory=list)

    @property
    def task_id(self) -> str:
        return self.meta["task_id"]

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(self.meta["grid"])

    def inputs(self) -> list[str]:
        return [r.input for r in self.records]

    def labels(self, threshold: float) -> list[int | None]:
        """``k*`` per record at ``threshold`` (``None``: no ``k`` in the grid reached it)."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        return [r.label(threshold) for r in self.records]

    def mean_accuracy(self) -> dict[int, float]:
        """Accuracy per ``k`` over all records (what uniform ``k`` would score on train)."""
        if not self.records:
            return {}
        return {k: sum(r.accuracy[k] for r in self.records) / len(self.records) for k in self.grid}

    def save(self, path: str | os.PathLike) -> None:
        lines = [json.dumps({"format": FORMAT, **self.meta}, ensure_ascii=False)]
        lines += [json.dumps(r.to_json(), ensure_ascii=False) for r in self.records]
        atomic_write_text(path, "\n".join(lines) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> LabelSet:
        text = Path(path).read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            header = {}
        if header.get("format") != FORMAT:
            raise LabelFileMismatch(f"{path} is not a DynaICL label file")
        meta = {k: v for k, v in header.items() if k != "format"}
        try:
            records = [LabelRecord.from_json(json.loads(line)) for line in lines[1:]]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise LabelFileMismatch(f"{path} has a malformed record: {exc}") from None
        return cls(meta, records)


def generate_labels(
    llm: LLM | Callable | str | None,
    instruction: str,
    train: Sequence[Any],
    pool: Sequence[Any],
    *,
    task_id: str,
    grid: Sequence[int] = DEFAULT_GRID,
    demo_sets: int = 3,
    seed: int = 0,
    grader: Grader = exact_match,
    max_tokens: int = 16,
    workers: int = 4,
    path: str | os.PathLike | None = None,
    progress: bool = True,
    selector: DemoSelector | None = None,
    executor: Executor | str | None = None,
) -> LabelSet:
    """Run the model on every training input with ``k`` demos for each ``k`` in ``grid``.

    ``demo_sets`` random demo sets are tried per ``k > 0`` (``k = 0`` needs one:
    answers are greedy). With ``path``, records already in the file are kept and
    the file is rewritten after every finished input; a file made for another
    task, grid, instruction or model raises :class:`LabelFileMismatch`.
    With ``selector``, demos come from it (the ones used at inference, e.g. the
    most similar) instead of random sets, and ``demo_sets`` is 1.
    Inputs are labelled through ``executor`` (an executor, ``"thread"`` or ``"ray"``;
    default: ``workers`` threads); the file is saved here as each input finishes.
    """
    model = as_llm(llm)
    grid = check_grid(grid)
    train_examples = as_examples(train, "train")
    pool_examples = as_examples(pool, "demo pool")
    if not task_id or not isinstance(task_id, str):
        raise ValueError("task_id must be a non-empty string naming the task")
    if selector is not None:
        demo_sets = 1
    if demo_sets < 1:
        raise ValueError(f"demo_sets must be >= 1, got {demo_sets}")
    if grid[-1] > 0 and not pool_examples:
        raise ValueError("the demonstration pool is empty but the grid asks for demos")
    for ex in train_examples:
        usable = sum(1 for d in pool_examples if d.input != ex.input)
        if usable < grid[-1]:
            raise ValueError(
                f"the grid asks for up to {grid[-1]} demos but only {usable} pool examples "
                f"differ from training input {ex.input!r:.60}"
            )
    meta = {
        "task_id": task_id,
        "grid": list(grid),
        "demo_sets": demo_sets,
        "seed": seed,
        "max_tokens": max_tokens,
        "llm": model.id,
        "instruction_sha256": hashlib.sha256(instruction.encode("utf-8")).hexdigest(),
        "demos": "random" if selector is None else f"selector:{selector.strategy}",
    }
    labels = _resume(path, meta)
    done = {(r.input, r.target) for r in labels.records}
    todo = [(i, ex) for i, ex in enumerate(train_examples) if (ex.input, ex.target) not in done]

    def run(job: tuple[int, Example]) -> LabelRecord:
        index, ex = job
        return _label_one(
            selector,
            model,
            instruction,
            ex,
            pool_examples,
            grid,
            demo_sets,
            seed,
            index,
            grader,
            max_tokens,
        )

    bar = _progress(len(train_examples), len(train_examples) - len(todo), progress)

    def finished(_: int, record: LabelRecord) -> None:
        labels.records.append(record)
        if path is not None:
            labels.save(path)
        bar.update(1)

    try:
        as_executor(executor, max(1, workers)).map(run, todo, on_result=finished)
    finally:
        bar.close()
    order = {(ex.input, ex.target): i for i, ex in enumerate(train_examples)}
    labels.records.sort(key=lambda r: order.get((r.input, r.target), len(order)))
    if path is not None:
        labels.save(path)
    return labels


def _resume(path: str | os.PathLike | None, meta: dict) -> LabelSet:
    if path is None or not Path(path).exists():
        return LabelSet(dict(meta))
    existing = LabelSet.load(path)
    for key, value in meta.items():
        if existing.meta.get(key) != value:
            raise LabelFileMismatch(
                f"{path} was made with {key}={existing.meta.get(key)!r}, this run uses "
                f"{value!r}; use another label file or delete this one"
            )
    return existing


def _label_one(
    selector: DemoSelector | None,
    model: LLM,
    instruction: str,
    ex: Example,
    pool: list[Example],
    grid: tuple[int, ...],
    demo_sets: int,
    seed: int,
    index: int,
    grader: Grader,
    max_tokens: int,
) -> LabelRecord:
    candidates = [d for d in pool if d.input != ex.input]
    orders = []
    if selector is not None:
        best_last = selector.select(ex.input, grid[-1])
        orders.append(list(reversed(best_last)))
    for j in range(demo_sets if selector is None else 0):
        rng = random.Random(f"{seed}:{index}:{j}")
        orders.append(rng.sample(candidates, min(len(candidates), grid[-1])))
    accuracy, trials = {}, {}
    for k in grid:
        sets = orders if k > 0 else orders[:1]
        wins = 0
        for demos in sets:
            shown = demos[:k] if selector is None else list(reversed(demos[:k]))
            prompt = render_few_shot(instruction, shown, ex.input, k)
            reply = model.complete(prompt_messages(prompt), temperature=0.0, max_tokens=max_tokens)
            wins += bool(grader(reply.text, ex.target))
        accuracy[k] = wins / len(sets)
        trials[k] = len(sets)
    return LabelRecord(ex.input, ex.target, accuracy, trials)


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="DynaICL labels", disable=not enabled)
