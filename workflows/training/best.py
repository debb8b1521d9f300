"""The best parameters seen on validation, kept per task where tasks are independent.

When the validation examples split into groups whose traced outputs depend on
disjoint sets of parameters (code repair: each task's tests reach only that
task's function), each group is a task of its own: its best values are kept
from the step where *that group* scored best, so a later step that fixes one
function but breaks another keeps both fixes. The groups are read from the
first validation's traced outputs; an output that is missing, or that reaches
parameters of two groups, joins them, and with one group (or an evaluation
without outputs) the whole parameter set is one task, as in an ordinary run.

The combined best score is the mean, over the validation examples, of each
example's score at its task's best step: the score of the combined values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trace_engine.graph import ancestors
from trace_engine.nodes import Parameter
from workflows.training.evaluation import Evaluation


@dataclass
class TaskBest:
    """One task: its validation examples, its parameters and their best values so far."""

    examples: list[int]
    names: list[str]
    score: float | None = None
    step: int | None = None
    values: dict[str, Any] | None = None


class BestTracker:
    """Best validation score, step and values (see the module docstring)."""

    def __init__(self, params: Sequence[tuple[str, Parameter]]):
        self.params = list(params)
        self.tasks: list[TaskBest] = []
        self.initial_score: float | None = None

    @property
    def score(self) -> float | None:
        if not self.tasks or any(t.score is None for t in self.tasks):
            return None
        if len(self.tasks) == 1:
            return self.tasks[0].score
        total = sum(t.score * len(t.examples) for t in self.tasks)  # type: ignore[operator]
        return total / sum(len(t.examples) for t in self.tasks)

    @property
    def step(self) -> int | None:
        """The step by which every task's best values had been found."""
        steps = [t.step for t in self.tasks]
        return None if not steps or None in steps else max(steps)  # type: ignore[type-var]

    @property
    def values(self) -> dict[str, Any] | None:
        if not self.tasks or any(t.values is None for t in self.tasks):
            return None
        combined: dict[str, Any] = {}
        for t in self.tasks:
            combined.update(t.values or {})
        return combined

    def update(self, step: int, evaluations: Sequence[Evaluation], values: dict[str, Any]) -> bool:
        """Record a validation of ``values`` at ``step``; whether any task improved."""
        if not self.tasks:
            self.tasks = self._split(evaluations)
        scores = [e.score for e in evaluations]
        improved = False
        for task in self.tasks:
            indices = task.examples or range(len(scores))  # empty: a checkpoint before tasks
            score = sum(scores[i] for i in indices) / len(indices)
            if task.score is None or score > task.score:
                task.score, task.step = score, step
                task.values = {n: values[n] for n in task.names}
                improved = True
        return improved

    def _split(self, evaluations: Sequence[Evaluation]) -> list[TaskBest]:
        names = [n for n, _ in self.params]
        name_of = {id(p): n for n, p in self.params}
        reached: list[set[str]] = []
        for e in evaluations:
            if e.output is None:
                reached.append(set(names))
            else:
                reached.append({name_of[id(n)] for n in ancestors([e.output]) if id(n) in name_of})
        if not reached or not all(reached):
            return [TaskBest(list(range(len(evaluations))), names)]
        groups: list[tuple[list[int], set[str]]] = []
        for i, found in enumerate(reached):
            joined = [g for g in groups if g[1] & found]
            examples = [i] + [x for g in joined for x in g[0]]
            params = found.union(*(g[1] for g in joined))
            groups = [g for g in groups if g not in joined] + [(sorted(examples), params)]
        covered = set().union(*(g[1] for g in groups))
        if len(groups) < 2 or covered != set(names):
            return [TaskBest(list(range(len(evaluations))), names)]
        groups.sort(key=lambda g: g[0][0])
        return [TaskBest(ex, [n for n in names if n in ps]) for ex, ps in groups]

    # the checkpoint -----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "step": self.step,
            "tasks": [
                {
                    "examples": t.examples,
                    "names": t.names,
                    "score": t.score,
                    "step": t.step,
                    "values": t.values,
                }
                for t in self.tasks
            ],
        }

    def load(self, state: dict[str, Any], values: dict[str, Any] | None) -> None:
        """Restore :meth:`state`; ``values``: the best values of a checkpoint that kept
        no tasks (one task then)."""
        if "tasks" in state:
            self.tasks = [TaskBest(**t) for t in state["tasks"]]
        elif values is None:
            self.tasks = []
        else:
            self.tasks = [TaskBest([], list(values), state["score"], state["step"], values)]
