"""Choosing between the two trained controllers by name, for training and for loading.

``"accuracy"`` (:class:`AccuracyController`, the default) predicts the accuracy
with each ``k`` and can tell that demos hurt an input; ``"k-star"``
(:class:`MetaController`) is the DynaICL paper's method, predicting the
smallest sufficient ``k`` at a threshold.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from agents.dynaicl.accuracy_controller import ACCURACY_KIND, AccuracyController
from agents.dynaicl.controller import (
    KSTAR_KIND,
    Controller,
    ControllerMismatch,
    MetaController,
    read_controller_file,
)
from agents.dynaicl.labels import LabelSet

CONTROLLER_KINDS = (ACCURACY_KIND, KSTAR_KIND)


def train_controller(
    labels: LabelSet,
    kind: str = ACCURACY_KIND,
    *,
    threshold: float = 1.0,
    C: float = 4.0,
    calibration: str | None = "platt",
) -> Controller:
    """A controller of ``kind`` trained on ``labels`` (for the label set's task and grid).

    ``threshold`` turns accuracies into ``k*`` labels; only the ``"k-star"`` kind uses it.
    ``calibration`` (held-out-fold calibration of predicted accuracy) is the
    ``"accuracy"`` kind's.
    """
    if kind not in CONTROLLER_KINDS:
        raise ValueError(f"unknown controller kind {kind!r}; choose one of {CONTROLLER_KINDS}")
    if not labels.records:
        raise ValueError("the label set has no records to train on")
    if kind == ACCURACY_KIND:
        return AccuracyController(
            labels.grid, labels.task_id, C=C, calibration=calibration
        ).fit_labels(labels)
    return MetaController(labels.grid, labels.task_id, C=C).fit(
        labels.inputs(), labels.labels(threshold)
    )


def load_controller(
    path: str | os.PathLike, *, task_id: str, grid: Sequence[int] | None = None
) -> Controller:
    """Load a saved controller of either kind, refusing files for another task or grid."""
    saved = read_controller_file(path, task_id=task_id, grid=grid)
    if saved["kind"] == ACCURACY_KIND:
        return AccuracyController.load(path, task_id=task_id, grid=grid)
    if saved["kind"] == KSTAR_KIND:
        return MetaController.load(path, task_id=task_id, grid=grid)
    raise ControllerMismatch(
        f"{path} holds a controller of unknown kind {saved['kind']!r}; "
        f"this version reads {CONTROLLER_KINDS}"
    )
