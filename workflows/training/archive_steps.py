"""A Trainer step as one step of an archive search (``--optimizer archive``).

With an :class:`~optimizers.archive.ArchiveSearch` the Trainer does not feed a
minibatch's feedback to the optimizer: each step is one step of the search
(expand the chosen cells, cross two elites), and every candidate the search
proposes is scored on the whole training split, so that candidates found at
different steps compare on the same examples. A candidate's cell is what the
job's ``describe(evaluations)`` says of its evaluations (code: which checks pass
and how the others fail; values: the error bucket); without one,
:func:`default_descriptor` reads it from the scores and the feedback. An
expansion is fed the feedback of the candidate's own failing examples, at most
``batch_size`` of them, each on its own traced output.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from optimizers.archive import ArchiveSearch, Outcome
from workflows.training.evaluation import Evaluation, Evaluator
from workflows.training.run_log import short
from workflows.training.usage import add_usage

Describe = Callable[[list[Evaluation]], Any]
"""A candidate's evaluations, one per training example -> its descriptor (a JSON value)."""

MANY_EXAMPLES = 8
"""Up to this many examples, the default descriptor lists each one's kind of result."""
_ERROR_NAME = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Timeout))\b")


def result_kind(evaluation: Evaluation, perfect: float) -> str:
    """``pass``, the name of the error the feedback mentions, or ``wrong``."""
    if evaluation.score >= perfect:
        return "pass"
    found = _ERROR_NAME.search(str(evaluation.feedback))
    return found.group(1) if found else "wrong"


def default_descriptor(evaluations: Sequence[Evaluation], perfect: float = 1.0) -> Any:
    """From scores and feedback: each example's kind of result (``pass``, the error it
    raised, ``wrong``), or, over more than :data:`MANY_EXAMPLES` examples, the share
    that pass (in tenths) and the most common kind of failure."""
    kinds = [result_kind(e, perfect) for e in evaluations]
    if len(kinds) <= MANY_EXAMPLES:
        return kinds
    failures = Counter(k for k in kinds if k != "pass").most_common(1)
    return [round(kinds.count("pass") / len(kinds), 1), failures[0][0] if failures else None]


class ArchiveSteps:
    """Runs a Trainer's steps as steps of ``archive`` (see the module docstring)."""

    def __init__(
        self,
        archive: ArchiveSearch,
        evaluator: Evaluator,
        train: Sequence[Any],
        *,
        describe: Describe | None,
        feedback_examples: int,
        perfect_score: float | None,
    ):
        if archive.evaluate is not None:
            raise ValueError(
                "an ArchiveSearch given to the Trainer scores its candidates on the training "
                "split; make it without evaluate="
            )
        self.archive = archive
        self.evaluator = evaluator
        self.train = list(train)
        self.perfect = 1.0 if perfect_score is None else perfect_score
        self.describe = describe or (lambda found: default_descriptor(found, self.perfect))
        self.feedback_examples = feedback_examples
        self.usage: dict[str, Any] = {}
        archive.evaluate = self.evaluate
        if archive.stop_at is None:  # no more expansions in a step once one is perfect
            archive.stop_at = self.perfect

    def evaluate(self, assignment: dict[str, Any]) -> Outcome:
        """Score the candidate the archive has set on every training example."""
        scored = self.evaluator.many(self.train)
        add_usage(self.usage, scored.usage)
        found = scored.evaluations
        failing = [i for i, e in enumerate(found) if e.score < self.perfect]
        shown = (failing or list(range(len(found))))[: self.feedback_examples]
        lines = [f"{len(found) - len(failing)} of {len(found)} training examples pass."]
        lines += [f"example {i}: {short(found[i].feedback, 600)}" for i in failing[:8]]
        return Outcome(
            score=scored.mean,
            feedback="\n".join(lines),
            descriptor=self.describe(found),
            outputs=[
                (found[i].output, found[i].feedback, found[i].score)
                for i in shown
                if found[i].output is not None
            ],
        )

    def step(self, record: dict[str, Any], usage: dict[str, Any]) -> Any:
        """One search step into ``record`` (``None`` when the best candidate needs none);
        the step's result for the loop to read its error and spending."""
        self.usage = usage  # what evaluate() spends scoring candidates counts for this step
        record["examples"] = list(range(len(self.train)))
        best = self.archive.best
        if best is not None and best.score >= self.perfect:
            record["train_score"], record["skipped"] = best.score, True
            return None
        result = self.archive.step()
        best = self.archive.best
        record["train_score"] = best.score if best is not None else None
        record["feedback"] = [short(best.feedback)] if best is not None else []
        details = result.details
        record["archive"] = {
            "cells": details["cells"],
            "candidates": details["candidates"],
            "new": len(details["new"]),
        }
        return result
