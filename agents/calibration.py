"""Calibrated probabilities: a predicted 0.7 should come true about 70% of the time.

Routing and DynaICL allocation add up predicted success probabilities to decide
what to buy, so over-confident predictions make them promise accuracy they do not
deliver. Predictors therefore fit their models on folds of the training data,
predict the held-out fold (:func:`fold_indices`), and fit a :class:`Calibrator`
from those honest predictions to the observed outcomes. :func:`calibration_of`
measures how well predictions match outcomes (ECE and Brier score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

METHODS = ("platt", "isotonic")
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


class Calibrator:
    """Maps raw predicted probabilities to calibrated ones; saved as a few numbers.

    ``"platt"`` fits ``sigmoid(a * logit(p) + b)`` (two numbers: robust on a
    hundred examples); ``"isotonic"`` fits a non-decreasing step curve. Outcomes
    may be rates in [0, 1] (several trials per input), weighted by ``weights``.
    """

    def __init__(self, method: str = "platt", params: dict[str, Any] | None = None):
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}; choose one of {METHODS}")
        self.method = method
        self.params = dict(params or {})

    def fit(
        self,
        predicted: Sequence[float],
        observed: Sequence[float],
        weights: Sequence[float] | None = None,
    ) -> Calibrator:
        p = np.asarray(predicted, dtype=float)
        y = np.asarray(observed, dtype=float)
        w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=float)
        if p.shape != y.shape or p.shape != w.shape or p.ndim != 1 or not len(p):
            raise ValueError("calibration needs one observed outcome and weight per prediction")
        if self.method == "platt":
            self.params = _fit_platt(_logit(p), y, w)
        else:
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(p, y, sample_weight=w)
            self.params = {
                "x": [float(v) for v in iso.X_thresholds_],
                "y": [float(v) for v in iso.y_thresholds_],
            }
        return self

    def __call__(self, predicted: np.ndarray) -> np.ndarray:
        p = np.asarray(predicted, dtype=float)
        if not self.params:
            raise RuntimeError("the calibrator is not fitted")
        if self.method == "platt":
            z = self.params["a"] * _logit(p) + self.params["b"]
            return 0.5 * (1.0 + np.tanh(0.5 * z))
        return np.interp(p, self.params["x"], self.params["y"])

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_json(cls, value: Any) -> Calibrator:
        made = cls(value["method"], value["params"])
        keys = {"a", "b"} if made.method == "platt" else {"x", "y"}
        if set(made.params) != keys:
            raise ValueError(f"a {made.method} calibrator needs {sorted(keys)}")
        return made


def _fit_platt(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Weighted logistic fit of outcome rates ``y`` on ``z`` (lightly regularized).

    With only one kind of outcome, a constant: the rate smoothed by one of each.
    Held-out predictions that run against the outcomes (a negative slope) say the
    model learned noise; turning them upside down would fit that noise again, so
    the calibrated prediction is then the observed rate.
    """
    wins, total = float((w * y).sum()), float(w.sum())
    if wins <= 1e-12 or wins >= total - 1e-12:
        rate = (wins + 1.0) / (total + 2.0)
        return {"a": 0.0, "b": float(np.log(rate / (1.0 - rate)))}
    from sklearn.linear_model import LogisticRegression

    features = np.concatenate([z, z])[:, None]
    outcome = np.concatenate([np.ones_like(z), np.zeros_like(z)])
    weight = np.concatenate([w * y, w * (1.0 - y)])
    keep = weight > 0
    model = LogisticRegression(C=100.0, max_iter=1000)
    model.fit(features[keep], outcome[keep], sample_weight=weight[keep])
    if model.coef_[0, 0] < 0:
        rate = wins / total
        return {"a": 0.0, "b": float(np.log(rate / (1.0 - rate)))}
    return {"a": float(model.coef_[0, 0]), "b": float(model.intercept_[0])}


def fold_indices(n: int, folds: int = 5, seed: int = 0) -> list[np.ndarray]:
    """``min(folds, n)`` disjoint index sets covering ``range(n)``, shuffled by ``seed``."""
    if n < 2:
        raise ValueError(f"held-out folds need at least 2 examples, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    return [order[i :: min(folds, n)] for i in range(min(folds, n))]


@dataclass
class Calibration:
    """How well probabilities match outcomes: ECE (mean |predicted - observed| over equal-width
    bins, weighted by bin size) and Brier score (mean squared error), on ``n`` predictions."""

    ece: float
    brier: float
    mean_predicted: float
    mean_observed: float
    n: int

    def __str__(self) -> str:
        return (
            f"ECE {self.ece:.3f}, Brier {self.brier:.3f}, mean predicted {self.mean_predicted:.3f} "
            f"vs observed {self.mean_observed:.3f} (n={self.n})"
        )


def calibration_of(
    predicted: Sequence[float],
    observed: Sequence[float],
    weights: Sequence[float] | None = None,
    *,
    bins: int = 10,
) -> Calibration:
    """ECE and Brier score of ``predicted`` probabilities against ``observed`` outcomes/rates."""
    p = np.asarray(predicted, dtype=float).ravel()
    y = np.asarray(observed, dtype=float).ravel()
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=float).ravel()
    if p.shape != y.shape or p.shape != w.shape or not len(p):
        raise ValueError("give one observed outcome per prediction, and at least one")
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = w.sum()
    ece = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            mass = w[inside].sum()
            gap = abs(
                np.average(p[inside], weights=w[inside]) - np.average(y[inside], weights=w[inside])
            )
            ece += mass / total * gap
    return Calibration(
        ece=float(ece),
        brier=float(np.average((p - y) ** 2, weights=w)),
        mean_predicted=float(np.average(p, weights=w)),
        mean_observed=float(np.average(y, weights=w)),
        n=len(p),
    )
