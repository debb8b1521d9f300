"""A controller that predicts the accuracy with each ``k``: P(correct | x, k), calibrated.

The paper's label ``k*`` (the smallest ``k`` that is enough) cannot say that
demonstrations hurt an input, yet on small models they sometimes do (the model
copies numbers or answers from the demos). This controller learns from the full
label records instead: for every ``k`` in the grid, one logistic regression over
the same TF-IDF text features predicts whether the model answers correctly,
weighted by how many demo sets were tried. Its predictions may fall as ``k``
grows, and allocation then picks whichever ``k`` pays off, not the largest.

Allocation sums these probabilities to promise a batch accuracy, so they are
calibrated: models fitted on folds of the training inputs predict the held-out
fold, and a :class:`~agents.calibration.Calibrator` per ``k`` maps raw
predictions to the rates observed there.

Allocation also acts on the differences between an input's ``k``: it gives demos
to the inputs predicted to gain most from them. Two separately calibrated
predictions can differ by noise alone, and picking the inputs where that noise
is largest promises gains that never come (benchmarks/RESULTS.md, "Agents on
BIG-bench"). So each ``k > 0`` also gets a
:class:`GainShrinkage`: on the held-out folds, how much of the predicted gain
over zero-shot the paired outcomes bear out. Gains the data do not support are
shrunk to the average gain, and allocation then treats the inputs alike. The
controller saves as JSON.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from agents.calibration import Calibration, Calibrator, calibration_of, fold_indices
from agents.dynaicl.controller import (
    Controller,
    check_saved_kind,
    read_controller_file,
    rebuild,
    write_controller_file,
)
from agents.dynaicl.features import FEATURES, Logistic, TextFeatures
from agents.dynaicl.labels import LabelSet, check_grid

ACCURACY_KIND = "accuracy"
ACCURACY_FORMAT_VERSION = 3
ACCURACY_FEATURES = f"{FEATURES}/logistic-regression-per-k"
MIN_TO_CALIBRATE = 20
"""Fewer training inputs than this leave the predictions uncalibrated (too few folds)."""


class AccuracyController(Controller):
    """TF-IDF features + one logistic regression per ``k``, trained on label records.

    A ``k`` whose training outcomes are all right (or all wrong) gets a constant,
    smoothed by one right and one wrong pseudo-outcome so it is never exactly 0 or 1.
    ``calibration`` (``"platt"``, ``"isotonic"`` or ``None``) is fitted on held-out
    folds of the training inputs; :attr:`train_calibration` reports how well the
    calibrated held-out-fold predictions matched the training outcomes.
    """

    def __init__(
        self,
        grid: Sequence[int],
        task_id: str,
        *,
        C: float = 4.0,
        calibration: str | None = "platt",
        folds: int = 5,
    ):
        if not task_id or not isinstance(task_id, str):
            raise ValueError("task_id must be a non-empty string naming the task")
        if folds < 2:
            raise ValueError(f"folds must be >= 2, got {folds}")
        if calibration is not None:
            Calibrator(calibration)  # refuses an unknown method now, not after training
        self.grid = check_grid(grid)
        self.task_id = task_id
        self.C = C
        self.calibration = calibration
        self.folds = folds
        self._features: TextFeatures | None = None
        self._models: list[Logistic | None] = []
        self._constants: list[float | None] = []
        self._calibrators: list[Calibrator | None] = []
        self._gains: list[GainShrinkage | None] = []
        self.train_calibration: Calibration | None = None

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
        held_out = self._held_out_predictions(texts, rates, weights)
        self._features, self._models, self._constants = self._fit_all(texts, rates, weights)
        self._calibrators = [None] * len(self.grid)
        self._gains = [None] * len(self.grid)
        self.train_calibration = None
        if held_out is not None:
            # Each fold goes through calibrators fitted without it, so the gains below are
            # judged on predictions that saw neither its outcomes nor its calibration.
            calibrated = np.zeros_like(held_out)
            folds = fold_indices(len(texts), self.folds)
            for j in range(len(self.grid)):
                if self._constants[j] is not None:
                    calibrated[:, j] = self._constants[j]
                    continue
                column = (held_out[:, j], rates[:, j], weights[:, j])
                self._calibrators[j] = Calibrator(self.calibration).fit(*column)
                for fold in folds:
                    rest = np.setdiff1d(np.arange(len(texts)), fold)
                    fitted = Calibrator(self.calibration).fit(*(c[rest] for c in column))
                    calibrated[fold, j] = fitted(held_out[fold, j])
            paired = np.minimum(weights, weights[:, :1])
            for j in range(1, len(self.grid)):
                self._gains[j] = GainShrinkage.fit(
                    calibrated[:, j] - calibrated[:, 0], rates[:, j] - rates[:, 0], paired[:, j]
                )
            self.train_calibration = calibration_of(self._shrunk(calibrated), rates, weights)
        return self

    @property
    def gain_slopes(self) -> dict[int, float]:
        """Per ``k > 0``, the share of the predicted per-input gain over zero-shot that the
        held-out folds bore out: 0 means the controller cannot tell which inputs need
        demos, so allocation treats them alike (empty when uncalibrated)."""
        return {k: g.slope for k, g in zip(self.grid, self._gains) if g is not None}

    def _shrunk(self, calibrated: np.ndarray) -> np.ndarray:
        """Each ``k > 0`` as zero-shot plus its gain, shrunk where the data do not back it."""
        out = calibrated.copy()
        for j, gain in enumerate(self._gains):
            if gain is not None:
                out[:, j] = gain(calibrated[:, 0], calibrated[:, j])
        return out

    def _fit_all(self, texts, rates, weights):
        features = TextFeatures()
        matrix = features.fit_transform(texts)
        models, constants = [], []
        for j in range(len(self.grid)):
            model, constant = self._fit_one(matrix, rates[:, j], weights[:, j])
            models.append(model)
            constants.append(constant)
        return features, models, constants

    def _held_out_predictions(self, texts, rates, weights) -> np.ndarray | None:
        """Raw predictions for each input from models fitted without its fold."""
        if self.calibration is None or len(texts) < MIN_TO_CALIBRATE:
            return None
        out = np.zeros_like(rates)
        for fold in fold_indices(len(texts), self.folds):
            keep = np.setdiff1d(np.arange(len(texts)), fold)
            features, models, constants = self._fit_all(
                [texts[i] for i in keep], rates[keep], weights[keep]
            )
            out[fold] = _raw(features, models, constants, [texts[i] for i in fold])
        return out

    def _fit_one(self, matrix, rate: np.ndarray, weight: np.ndarray):
        wins, tries = float((rate * weight).sum()), float(weight.sum())
        if np.all(rate >= 1.0 - 1e-12) or np.all(rate <= 1e-12):
            return None, (wins + 1.0) / (tries + 2.0)
        from scipy.sparse import vstack

        n = matrix.shape[0]
        features = vstack([matrix, matrix]).tocsr()
        outcome = np.concatenate([np.ones(n), np.zeros(n)])
        sample_weight = np.concatenate([rate * weight, (1.0 - rate) * weight])
        keep = sample_weight > 0
        model = Logistic.fit(
            features[keep], outcome[keep], C=self.C, sample_weight=sample_weight[keep]
        )
        return model, None

    def expected_accuracy(self, texts: Sequence[str]) -> np.ndarray:
        if not self.trained:
            raise RuntimeError("the controller is not trained: call fit() or load() first")
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, len(self.grid)))
        return self._shrunk(self._calibrated(texts))

    def _calibrated(self, texts: list[str]) -> np.ndarray:
        """Each ``k``'s prediction calibrated on its own (before gain shrinkage)."""
        out = _raw(self._features, self._models, self._constants, texts)
        for j, cal in enumerate(self._calibrators):
            if cal is not None:
                out[:, j] = cal(out[:, j])
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the controller as JSON (task id, grid, features, coefficients), atomically."""
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
                "calibration": self.calibration,
                "folds": self.folds,
                "vectorizer": self._features.to_json(),
                "models": [None if m is None else m.to_json() for m in self._models],
                "constants": self._constants,
                "calibrators": [None if c is None else c.to_json() for c in self._calibrators],
                "gains": [None if g is None else g.to_json() for g in self._gains],
            },
        )

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, task_id: str, grid: Sequence[int] | None = None
    ) -> AccuracyController:
        """Load a controller saved for ``task_id`` (and ``grid`` when given); refuse others."""
        saved = read_controller_file(path, task_id=task_id, grid=grid)
        check_saved_kind(path, saved, ACCURACY_KIND, ACCURACY_FORMAT_VERSION, ACCURACY_FEATURES)
        return rebuild(path, saved, cls)

    @classmethod
    def from_saved(cls, saved: dict) -> AccuracyController:
        """Rebuild from the fields of a checked controller file."""
        made = cls(
            saved["grid"],
            saved["task_id"],
            C=saved["C"],
            calibration=saved["calibration"],
            folds=saved["folds"],
        )
        made._features = TextFeatures.from_json(saved["vectorizer"])
        made._models = [None if m is None else Logistic.from_json(m) for m in saved["models"]]
        made._constants = [None if c is None else float(c) for c in saved["constants"]]
        made._calibrators = [
            None if c is None else Calibrator.from_json(c) for c in saved["calibrators"]
        ]
        made._gains = [None if g is None else GainShrinkage.from_json(g) for g in saved["gains"]]
        if not (
            len(made._models)
            == len(made._constants)
            == len(made._calibrators)
            == len(made._gains)
            == len(made.grid)
        ):
            raise ValueError("one model, constant, calibrator and gain per k of the grid")
        return made


class GainShrinkage:
    """How far to trust a predicted gain of ``k`` demos over zero-shot, input by input.

    Fitted on held-out predictions: the observed paired gain (outcome with ``k``
    minus outcome with none) regressed on the predicted gain. ``mean`` is the
    average observed gain, ``center`` the average predicted one, ``slope`` (in
    [0, 1]) the share of an input's deviation from ``center`` that came true,
    itself shrunk by its own sampling noise (a slope no larger than its standard
    error becomes 0). A prediction becomes zero-shot plus
    ``mean + slope * (predicted gain - center)``.
    """

    def __init__(self, mean: float, center: float, slope: float):
        if not 0.0 <= slope <= 1.0:
            raise ValueError(f"slope must be in [0, 1], got {slope}")
        self.mean, self.center, self.slope = float(mean), float(center), float(slope)

    @classmethod
    def fit(cls, predicted: np.ndarray, observed: np.ndarray, weights: np.ndarray) -> GainShrinkage:
        mean = float(np.average(observed, weights=weights))
        center = float(np.average(predicted, weights=weights))
        spread = float(np.average((predicted - center) ** 2, weights=weights))
        if spread <= 1e-12:
            return cls(mean, center, 0.0)
        covariance = float(np.average((predicted - center) * (observed - mean), weights=weights))
        slope = covariance / spread
        residual = observed - mean - slope * (predicted - center)
        count = float(weights.sum() ** 2 / (weights**2).sum())
        noise = float(np.average(residual**2, weights=weights)) / (count * spread)
        if slope <= 0.0 or slope * slope <= noise:
            return cls(mean, center, 0.0)
        return cls(mean, center, min(1.0, slope * (1.0 - noise / (slope * slope))))

    def __call__(self, zero_shot: np.ndarray, with_k: np.ndarray) -> np.ndarray:
        gain = self.mean + self.slope * (with_k - zero_shot - self.center)
        return np.clip(zero_shot + gain, 1e-3, 1.0 - 1e-3)

    def to_json(self) -> dict[str, float]:
        return {"mean": self.mean, "center": self.center, "slope": self.slope}

    @classmethod
    def from_json(cls, value: dict) -> GainShrinkage:
        return cls(value["mean"], value["center"], value["slope"])


def _raw(features: TextFeatures, models, constants, texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), len(models)))
    matrix = features.transform(texts)
    for j, (model, constant) in enumerate(zip(models, constants)):
        out[:, j] = constant if constant is not None else model.proba_of(matrix, 1.0)
    return out


def _matrix(rows: Sequence[Mapping[int, float]], grid: tuple[int, ...], what: str) -> np.ndarray:
    out = np.zeros((len(rows), len(grid)))
    for i, row in enumerate(rows):
        missing = [k for k in grid if k not in row]
        if missing:
            raise ValueError(f"{what} record {i} has no value for k={missing} of the grid {grid}")
        out[i] = [float(row[k]) for k in grid]
    return out
