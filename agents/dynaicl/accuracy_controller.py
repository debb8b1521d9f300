"""A controller that predicts the accuracy with each ``k``: P(correct | x, k).

The paper's label ``k*`` (the smallest ``k`` that is enough) cannot say that
demonstrations hurt an input, yet on small models they sometimes do (the model
copies numbers or answers from the demos). This controller learns from the full
label records instead: for every ``k`` in the grid, one logistic regression over
the same TF-IDF text features predicts whether the model answers correctly,
weighted by how many demo sets were tried. Its predictions may fall as ``k``
grows, and allocation then picks whichever ``k`` pays off, not the largest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from agents.dynaicl.controller import (
    Controller,
    check_saved_kind,
    read_controller_file,
    write_controller_file,
)
from agents.dynaicl.labels import LabelSet, check_grid

ACCURACY_KIND = "accuracy"
ACCURACY_FORMAT_VERSION = 1
ACCURACY_FEATURES = "tfidf-char_wb(1,4)+word(1,2)/logistic-regression-per-k"


class AccuracyController(Controller):
    """TF-IDF features + one logistic regression per ``k``, trained on label records.

    A ``k`` whose training outcomes are all right (or all wrong) gets a constant,
    smoothed by one right and one wrong pseudo-outcome so it is never exactly 0 or 1.
    """

    def __init__(self, grid: Sequence[int], task_id: str, *, C: float = 4.0):
        if not task_id or not isinstance(task_id, str):
            raise ValueError("task_id must be a non-empty string naming the task")
        self.grid = check_grid(grid)
        self.task_id = task_id
        self.C = C
        self._features = None
        self._models: list = []
        self._constants: list[float | None] = []

    @property
    def trained(self) -> bool:
        return len(self._constants) == len(self.grid)

    def fit_labels(self, labels: LabelSet) -> AccuracyController:
        """Train on a label set made for this controller's task and grid."""
        if labels.task_id != self.task_id:
            raise ValueError(
                f"the labels are for task {labels.task_id!r}, this controller for {self.task_id!r}"
            )
        if labels.grid != self.grid:
            raise ValueError(f"the labels use the grid {labels.grid}, this controller {self.grid}")
        return self.fit(
            labels.inputs(),
            [r.accuracy for r in labels.records],
            [r.trials for r in labels.records],
        )

    def fit(
        self,
        texts: Sequence[str],
        accuracy: Sequence[Mapping[int, float]],
        trials: Sequence[Mapping[int, int]] | None = None,
    ) -> AccuracyController:
        """Train on input texts, their accuracy per ``k`` and the demo sets tried per ``k``.

        ``trials`` (default: one per ``k``) weights each input's outcomes.
        """
        texts = [str(t) for t in texts]
        if len(texts) != len(accuracy) or (trials is not None and len(trials) != len(texts)):
            raise ValueError(
                f"{len(texts)} texts, {len(accuracy)} accuracy records and "
                f"{'no' if trials is None else len(trials)} trial records must match"
            )
        if not texts:
            raise ValueError("cannot train a controller on no examples")
        rates = _matrix(accuracy, self.grid, "accuracy")
        if ((rates < 0) | (rates > 1)).any():
            raise ValueError("accuracy values must be in [0, 1]")
        weights = np.ones_like(rates) if trials is None else _matrix(trials, self.grid, "trials")
        if (weights <= 0).any():
            raise ValueError("every input needs at least one trial per k")
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_union

        self._features = make_union(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True),
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"\S+"),
        )
        matrix = self._features.fit_transform(texts)
        self._models, self._constants = [], []
        for j in range(len(self.grid)):
            model, constant = self._fit_one(matrix, rates[:, j], weights[:, j])
            self._models.append(model)
            self._constants.append(constant)
        return self

    def _fit_one(self, matrix, rate: np.ndarray, weight: np.ndarray):
        wins, tries = float((rate * weight).sum()), float(weight.sum())
        if np.all(rate >= 1.0 - 1e-12) or np.all(rate <= 1e-12):
            return None, (wins + 1.0) / (tries + 2.0)
        from scipy.sparse import vstack
        from sklearn.linear_model import LogisticRegression

        n = matrix.shape[0]
        features = vstack([matrix, matrix])
        outcome = np.concatenate([np.ones(n), np.zeros(n)])
        sample_weight = np.concatenate([rate * weight, (1.0 - rate) * weight])
        keep = sample_weight > 0
        model = LogisticRegression(C=self.C, max_iter=2000)
        model.fit(features[keep], outcome[keep], sample_weight=sample_weight[keep])
        return model, None

    def expected_accuracy(self, texts: Sequence[str]) -> np.ndarray:
        if not self.trained:
            raise RuntimeError("the controller is not trained: call fit() or load() first")
        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), len(self.grid)))
        if not texts:
            return out
        matrix = self._features.transform(texts)
        for j, (model, constant) in enumerate(zip(self._models, self._constants)):
            if constant is not None:
                out[:, j] = constant
            else:
                column = list(model.classes_).index(1.0)
                out[:, j] = model.predict_proba(matrix)[:, column]
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the controller with its task id, grid and feature set (joblib, atomically).

        joblib files are pickles: load only controller files you made yourself.
        """
        if not self.trained:
            raise RuntimeError("cannot save an untrained controller")
        write_controller_file(
            path,
            {
                "version": ACCURACY_FORMAT_VERSION,
                "kind": ACCURACY_KIND,
                "task_id": self.task_id,
                "grid": list(self.grid),
                "features": ACCURACY_FEATURES,
                "C": self.C,
                "vectorizer": self._features,
                "models": self._models,
                "constants": self._constants,
            },
        )

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, task_id: str, grid: Sequence[int] | None = None
    ) -> AccuracyController:
        """Load a controller saved for ``task_id`` (and ``grid`` when given); refuse others."""
        saved = read_controller_file(path, task_id=task_id, grid=grid)
        check_saved_kind(path, saved, ACCURACY_KIND, ACCURACY_FORMAT_VERSION, ACCURACY_FEATURES)
        return cls.from_saved(saved)

    @classmethod
    def from_saved(cls, saved: dict) -> AccuracyController:
        """Rebuild from the fields of a checked controller file."""
        made = cls(saved["grid"], saved["task_id"], C=saved.get("C", 4.0))
        made._features = saved["vectorizer"]
        made._models = list(saved["models"])
        made._constants = list(saved["constants"])
        return made


def _matrix(rows: Sequence[Mapping[int, float]], grid: tuple[int, ...], what: str) -> np.ndarray:
    out = np.zeros((len(rows), len(grid)))
    for i, row in enumerate(rows):
        missing = [k for k in grid if k not in row]
        if missing:
            raise ValueError(f"{what} record {i} has no value for k={missing} of the grid {grid}")
        out[i] = [float(row[k]) for k in grid]
    return out
