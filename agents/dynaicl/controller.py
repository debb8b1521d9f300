"""Meta-controllers: predict, from an input's text, how many demonstrations it needs.

Every :class:`Controller` gives, per input and per ``k`` of the grid, the
expected accuracy with ``k`` demonstrations (:meth:`Controller.expected_accuracy`),
which allocation maximizes under a budget or holds above a floor.

The k* controllers here (:class:`KStarController`, as in the DynaICL paper) give
a distribution over the label classes: each ``k`` of the grid plus "no k in the
grid is enough" (the last column). From it, :meth:`KStarController.sufficiency`
gives P(k* <= k | x), used as expected accuracy; it never falls as ``k`` grows,
so it cannot say that demos hurt an input (see
:class:`agents.dynaicl.accuracy_controller.AccuracyController` for that).

:class:`MetaController` is TF-IDF text features (characters and words) with
logistic regression: trains in well under a second on hundreds of inputs.
:class:`LLMController` asks a model instead and needs no training data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.calibration import Calibration, calibration_of
from agents.dynaicl.features import FEATURES as TEXT_FEATURES
from agents.dynaicl.features import Logistic, TextFeatures
from agents.dynaicl.labels import LabelSet, check_grid
from trace_engine.errors import TraceEngineError
from trace_engine.files import atomic_write_text
from trace_engine.llm.base import LLM, as_llm

FORMAT = "trace-engine/dynaicl-controller"
FORMAT_VERSION = 2
FEATURES = f"{TEXT_FEATURES}/logistic-regression"
KSTAR_KIND = "k-star"


class ControllerMismatch(TraceEngineError, ValueError):
    """A controller file was made for another task, grid or feature set, or is not one."""


class Controller:
    """What allocation needs from a controller: a grid and expected accuracy per ``k``."""

    grid: tuple[int, ...]

    def expected_accuracy(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), len(grid))``: predicted chance of a correct answer with each ``k``."""
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> list[int]:
        """The ``k`` to use with no budget: the cheapest with the highest expected accuracy."""
        best = self.expected_accuracy(texts).argmax(axis=1)
        return [self.grid[int(i)] for i in best]

    def calibration_on(self, labels: LabelSet) -> Calibration:
        """How well the predicted accuracy per ``k`` matches labels of held-out inputs
        (every input and ``k`` is one prediction, weighted by its demo sets tried)."""
        if labels.grid != self.grid:
            raise ValueError(f"the labels use the grid {labels.grid}, this controller {self.grid}")
        if not labels.records:
            raise ValueError("no labelled inputs to check the calibration on")
        predicted = self.expected_accuracy(labels.inputs())
        observed = [[r.accuracy[k] for k in self.grid] for r in labels.records]
        weights = [[r.trials[k] for k in self.grid] for r in labels.records]
        return calibration_of(predicted, observed, weights)


class KStarController(Controller):
    """A controller that predicts ``k*``, the smallest ``k`` that is enough (the paper's)."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), len(grid) + 1)`` probabilities; the last column is "none suffices"."""
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> list[int]:
        """Most likely ``k*`` per text ("none suffices" maps to the largest ``k``)."""
        best = self.predict_proba(texts).argmax(axis=1)
        return [self.grid[min(int(i), len(self.grid) - 1)] for i in best]

    def sufficiency(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), len(grid))``: P(``k`` demos are enough), non-decreasing in ``k``."""
        proba = self.predict_proba(texts)
        return np.cumsum(proba[:, : len(self.grid)], axis=1)

    def expected_accuracy(self, texts: Sequence[str]) -> np.ndarray:
        """P(``k`` demos are enough) stands in for the accuracy with ``k`` demos."""
        return self.sufficiency(texts)


def write_controller_file(path: str | os.PathLike, saved: Mapping[str, Any]) -> None:
    """Write a controller's fields (numbers, strings and lists) as JSON, atomically."""
    atomic_write_text(path, json.dumps({"format": FORMAT, **saved}) + "\n")


def read_controller_file(
    path: str | os.PathLike, *, task_id: str, grid: Sequence[int] | None = None
) -> dict[str, Any]:
    """A saved controller's fields, refusing non-controller files and other tasks or grids.

    Only JSON is read: nothing in the file can run code. Files of format version 1
    were pickles (joblib); they are refused, not loaded, and must be retrained.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"controller file not found: {path}")
    try:
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ControllerMismatch(
            f"{path} is not a DynaICL controller file (they are JSON; controller files "
            "written as pickles by older versions are not read: train the controller again)"
        ) from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ControllerMismatch(f"{path} is not a DynaICL controller file")
    if saved.get("task_id") != task_id:
        raise ControllerMismatch(
            f"{path} was trained for task {saved.get('task_id')!r}, not {task_id!r}; "
            "train a controller on labels from this task"
        )
    if grid is not None and list(check_grid(grid)) != saved.get("grid"):
        raise ControllerMismatch(
            f"{path} predicts over the grid {saved.get('grid')}, not {list(grid)}"
        )
    if "kind" not in saved:
        raise ControllerMismatch(f"{path} does not say which kind of controller it holds")
    return saved


def rebuild(path: str | os.PathLike, saved: dict[str, Any], cls: type) -> Any:
    """``cls.from_saved(saved)``, turning a malformed file into :class:`ControllerMismatch`."""
    try:
        return cls.from_saved(saved)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ControllerMismatch(f"{path} is a damaged controller file: {exc!r:.200}") from None


def check_saved_kind(
    path: str | os.PathLike, saved: dict, kind: str, version: int, features: str
) -> None:
    """Refuse a controller file of another kind, format version or feature set."""
    if saved["kind"] != kind:
        raise ControllerMismatch(
            f"{path} holds a {saved['kind']!r} controller, not a {kind!r} one; "
            "load it with agents.dynaicl.load_controller"
        )
    if saved.get("version") != version or saved.get("features") != features:
        raise ControllerMismatch(
            f"{path} uses controller format {saved.get('version')} with features "
            f"{saved.get('features')!r}; this version reads {version} with {features!r}"
        )


class MetaController(KStarController):
    """TF-IDF + logistic regression over the labels from :func:`generate_labels`."""

    def __init__(self, grid: Sequence[int], task_id: str, *, C: float = 4.0):
        if not task_id or not isinstance(task_id, str):
            raise ValueError("task_id must be a non-empty string naming the task")
        self.grid = check_grid(grid)
        self.task_id = task_id
        self.C = C
        self._features: TextFeatures | None = None
        self._model: Logistic | None = None
        self._constant: np.ndarray | None = None

    @property
    def trained(self) -> bool:
        return self._model is not None or self._constant is not None

    def fit(self, texts: Sequence[str], labels: Sequence[int | None]) -> MetaController:
        """Train on input texts and their ``k*`` labels (``None``: no ``k`` was enough)."""
        texts = [str(t) for t in texts]
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if not texts:
            raise ValueError("cannot train a controller on no examples")
        classes = [self._class_of(label) for label in labels]
        present = sorted(set(classes))
        if len(present) == 1:
            self._constant = np.eye(len(self.grid) + 1)[present[0]]
            self._features, self._model = None, None
            return self
        self._features = TextFeatures()
        matrix = self._features.fit_transform(texts)
        self._model = Logistic.fit(matrix, classes, C=self.C)
        self._constant = None
        return self

    def _class_of(self, label: int | None) -> int:
        if label is None:
            return len(self.grid)
        if label not in self.grid:
            raise ValueError(f"label {label!r} is not in the grid {self.grid}")
        return self.grid.index(label)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if not self.trained:
            raise RuntimeError("the controller is not trained: call fit() or load() first")
        texts = [str(t) for t in texts]
        if self._constant is not None:
            return np.tile(self._constant, (len(texts), 1))
        out = np.zeros((len(texts), len(self.grid) + 1))
        if texts:
            out[:, self._model.classes] = self._model.predict_proba(self._features.transform(texts))
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the controller as JSON (task id, grid, features, coefficients), atomically."""
        if not self.trained:
            raise RuntimeError("cannot save an untrained controller")
        write_controller_file(
            path,
            {
                "version": FORMAT_VERSION,
                "kind": KSTAR_KIND,
                "task_id": self.task_id,
                "grid": list(self.grid),
                "features": FEATURES,
                "C": self.C,
                "vectorizer": None if self._features is None else self._features.to_json(),
                "model": None if self._model is None else self._model.to_json(),
                "constant": None if self._constant is None else self._constant.tolist(),
            },
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        task_id: str,
        grid: Sequence[int] | None = None,
    ) -> MetaController:
        """Load a controller saved for ``task_id`` (and ``grid`` when given); refuse others."""
        saved = read_controller_file(path, task_id=task_id, grid=grid)
        check_saved_kind(path, saved, KSTAR_KIND, FORMAT_VERSION, FEATURES)
        return rebuild(path, saved, cls)

    @classmethod
    def from_saved(cls, saved: dict) -> MetaController:
        """Rebuild from the fields of a checked controller file."""
        made = cls(saved["grid"], saved["task_id"], C=saved["C"])
        if saved["constant"] is not None:
            made._constant = np.asarray(saved["constant"], dtype=float)
            if made._constant.shape != (len(made.grid) + 1,):
                raise ValueError("the constant prediction does not match the grid")
            return made
        made._features = TextFeatures.from_json(saved["vectorizer"])
        made._model = Logistic.from_json(saved["model"])
        if not set(made._model.classes) <= set(range(len(made.grid) + 1)):
            raise ValueError("the model's classes do not match the grid")
        return made


_CONTROLLER_SCHEMA_KEY = "k"


class LLMController(KStarController):
    """Asks a model how many demonstrations an input needs (no training data needed).

    ``describe`` is the task in words. The answer is constrained to the grid with
    a JSON schema; an answer that does not parse counts as "largest k".
    """

    def __init__(
        self,
        llm: LLM | Callable | str | None,
        grid: Sequence[int],
        describe: str,
        *,
        max_tokens: int = 16,
    ):
        self.llm = as_llm(llm)
        self.grid = check_grid(grid)
        self.describe = describe
        self.max_tokens = max_tokens

    def _ask(self, text: str) -> int:
        schema = {
            "type": "object",
            "properties": {_CONTROLLER_SCHEMA_KEY: {"type": "integer", "enum": list(self.grid)}},
            "required": [_CONTROLLER_SCHEMA_KEY],
        }
        prompt = (
            f"Task: {self.describe}\n\nA language model will answer this input:\n{text}\n\n"
            f"How many worked examples must it see first to answer correctly? Easy inputs "
            f"need 0. Choose from {list(self.grid)}. Reply as JSON: "
            f'{{"{_CONTROLLER_SCHEMA_KEY}": N}}'
        )
        reply = self.llm.complete(
            [{"role": "user", "content": prompt}],
            temperature=0.0,
            max_tokens=self.max_tokens,
            json_schema=schema,
        )
        value: Any = reply.json
        k = value.get(_CONTROLLER_SCHEMA_KEY) if isinstance(value, dict) else None
        return self.grid.index(k) if k in self.grid else len(self.grid) - 1

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.grid) + 1))
        for row, text in enumerate(texts):
            out[row, self._ask(str(text))] = 1.0
        return out
