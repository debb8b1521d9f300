"""A learned success predictor: from a request's text, P(each backend answers it well).

Trained from logged outcomes (request, backend, success, cost). Features are
TF-IDF character n-grams plus simple size statistics (length, digits,
operators), with one logistic regression per backend. A backend whose logs
are all successes or all failures gets that rate, smoothed by one pseudo-outcome
of each kind.

Routing policies add these probabilities up, so they are calibrated: models
fitted on folds of the logs predict the held-out fold, and a
:class:`~agents.calibration.Calibrator` per backend maps raw to observed rates.
Those held-out predictions are kept (:meth:`SuccessPredictor.held_out`), so a
policy's trade-off can be tuned on the training requests without trusting
predictions the model made for requests it was fitted on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agents.calibration import Calibration, Calibrator, calibration_of, fold_indices

_DIGITS = re.compile(r"\d")
_OPERATORS = re.compile(r"[-+*/()=<>%^]")


@dataclass(frozen=True)
class Outcome:
    """One logged attempt: which backend answered the request, was it right, what it cost."""

    request: str
    backend: str
    success: bool
    cost: float
    text: str = ""


def size_features(texts: Sequence[str]) -> np.ndarray:
    """Per text: log length, log word count, share of digits, count of operator symbols."""
    rows = []
    for t in texts:
        n = max(1, len(t))
        rows.append(
            [
                math.log1p(len(t)),
                math.log1p(len(t.split())),
                len(_DIGITS.findall(t)) / n,
                math.log1p(len(_OPERATORS.findall(t))),
            ]
        )
    return np.asarray(rows, dtype=float).reshape(len(texts), 4)


class SuccessPredictor:
    """``predict(texts)`` -> ``{backend: P(success)}`` per text; ``mean_cost`` per backend.

    ``calibration`` is ``"platt"``, ``"isotonic"`` or ``None`` (raw probabilities);
    it needs at least ``folds`` logged requests per backend with both outcomes.
    """

    def __init__(self, C: float = 1.0, *, calibration: str | None = "platt", folds: int = 5):
        if calibration is not None:
            Calibrator(calibration)  # refuses an unknown method before any training
        if folds < 2:
            raise ValueError(f"folds must be >= 2, got {folds}")
        self.C = C
        self.calibration = calibration
        self.folds = folds
        self.backends: list[str] = []
        self.mean_cost: dict[str, float] = {}
        self.success_rate: dict[str, float] = {}
        self.train_calibration: dict[str, Calibration] = {}
        self._models: dict[str, object] = {}
        self._calibrators: dict[str, Calibrator] = {}
        self._held_out: dict[str, dict[str, float]] = {}

    def fit(self, outcomes: Sequence[Outcome]) -> SuccessPredictor:
        if not outcomes:
            raise ValueError("cannot train a success predictor on no outcomes")
        by_backend: dict[str, list[Outcome]] = {}
        for o in outcomes:
            by_backend.setdefault(o.backend, []).append(o)
        self.backends = list(by_backend)
        self._models, self._calibrators, self._held_out = {}, {}, {}
        self.train_calibration = {}
        for name, rows in by_backend.items():
            self.mean_cost[name] = sum(o.cost for o in rows) / len(rows)
            self.success_rate[name] = sum(o.success for o in rows) / len(rows)
            texts = [o.request for o in rows]
            labels = np.array([bool(o.success) for o in rows])
            self._models[name] = self._fit_one(texts, labels)
            raw = self._held_out_raw(texts, labels)
            if self.calibration is not None and not isinstance(self._models[name], float):
                self._calibrators[name] = Calibrator(self.calibration).fit(raw, labels)
                raw = self._calibrators[name](raw)
            self._held_out[name] = dict(zip(texts, (float(p) for p in raw)))
            self.train_calibration[name] = calibration_of(raw, labels)
        return self

    def _fit_one(self, texts: list[str], labels: np.ndarray):
        if labels.all() or not labels.any():
            return (float(labels.sum()) + 1.0) / (len(labels) + 2.0)
        model = self._pipeline()
        model.fit(texts, labels)
        return model

    def _held_out_raw(self, texts: list[str], labels: np.ndarray) -> np.ndarray:
        """Each text's raw prediction from a model fitted without its fold."""
        out = np.zeros(len(texts))
        if len(texts) < 2:
            out[:] = self._raw(self._fit_one(texts, labels), texts)
            return out
        for fold in fold_indices(len(texts), self.folds):
            keep = np.setdiff1d(np.arange(len(texts)), fold)
            model = self._fit_one([texts[i] for i in keep], labels[keep])
            out[fold] = self._raw(model, [texts[i] for i in fold])
        return out

    def _pipeline(self):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union
        from sklearn.preprocessing import FunctionTransformer, StandardScaler

        features = make_union(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True),
            make_pipeline(FunctionTransformer(size_features), StandardScaler()),
        )
        return make_pipeline(features, LogisticRegression(C=self.C, max_iter=2000))

    @staticmethod
    def _raw(model, texts: list[str]) -> np.ndarray:
        if isinstance(model, float):
            return np.full(len(texts), model)
        column = list(model.classes_).index(True)
        return model.predict_proba(texts)[:, column]

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not self._models:
            raise RuntimeError("the success predictor is not trained: call fit() first")
        texts = [str(t) for t in texts]
        columns = {}
        for name, model in self._models.items():
            columns[name] = self._raw(model, texts)
            if name in self._calibrators:
                columns[name] = self._calibrators[name](columns[name])
        return [
            {name: float(columns[name][i]) for name in self.backends} for i in range(len(texts))
        ]

    def predict_one(self, text: str) -> dict[str, float]:
        return self.predict([text])[0]

    def held_out(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Calibrated predictions for training requests from models fitted without them."""
        if not self._held_out:
            raise RuntimeError("the success predictor is not trained: call fit() first")
        out = []
        for text in texts:
            row = {}
            for name in self.backends:
                if text not in self._held_out[name]:
                    raise KeyError(f"{name!r} has no logged outcome for request {text!r:.60}")
                row[name] = self._held_out[name][text]
            out.append(row)
        return out

    def calibration_on(self, outcomes: Sequence[Outcome]) -> dict[str, Calibration]:
        """Per backend, how well predictions match ``outcomes`` (held-out logs)."""
        out = {}
        for name in self.backends:
            rows = [o for o in outcomes if o.backend == name]
            if rows:
                predicted = [p[name] for p in self.predict([o.request for o in rows])]
                out[name] = calibration_of(predicted, [float(o.success) for o in rows])
        return out
