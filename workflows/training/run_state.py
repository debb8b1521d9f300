"""Where a run stands, and the JSON checkpoint that holds it between sessions.

:class:`RunState` is the loop's own state: the step, the epoch and the place in
that epoch's example order, the step records, the usage and the time spent.
:func:`checkpoint_state` adds what the collaborators hold (the parameters, the
best values, the optimizer's state) and :func:`read_run_state` takes a
checkpoint apart again, refusing one made with other data or settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflows.checkpoint import CheckpointError, checkpoint_path, decode_state, encode_state
from workflows.training.usage import usage_totals


@dataclass
class RunState:
    """The loop's position and history (see the module docstring)."""

    step: int = 0
    epoch: int = 0
    position: int = 0
    order: list[int] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=usage_totals)
    wall_time: float = 0.0


@dataclass
class SavedRun:
    """A checkpoint taken apart: the loop's state and what the collaborators restore."""

    run: RunState
    parameters: dict[str, Any]
    best: dict[str, Any]
    best_values: dict[str, Any] | None
    initial_score: float | None
    optimizer: Any


def checkpoint_state(
    run: RunState,
    *,
    workflow: str,
    seed: int,
    n_train: int,
    batch_size: int,
    parameters: dict[str, Any],
    best: dict[str, Any],
    best_values: dict[str, Any] | None,
    initial_score: float | None,
    optimizer: Any,
) -> dict[str, Any]:
    """Everything a resume needs, as JSON (a value JSON cannot hold is refused, named)."""
    return {
        "workflow": workflow,
        "step": run.step,
        "epoch": run.epoch,
        "position": run.position,
        "order": run.order,
        "seed": seed,
        "n_train": n_train,
        "batch_size": batch_size,
        "parameters": encode_state(parameters, "the parameters"),
        "best": {**best, "parameters": encode_state(best_values, "the best parameters")},
        "initial_score": initial_score,
        "optimizer": encode_state(optimizer, "the optimizer state"),
        "history": run.history,
        "usage": run.usage,
        "wall_time": run.wall_time,
    }


def read_run_state(
    state: dict[str, Any], directory: Path, *, n_train: int, batch_size: int
) -> SavedRun:
    """The checkpoint ``state`` read from ``directory``; :class:`CheckpointError` when it
    was made with other data or settings, or is damaged."""
    path = checkpoint_path(directory)
    for key, have in (("n_train", n_train), ("batch_size", batch_size)):
        if state.get(key) != have:
            raise CheckpointError(
                f"the checkpoint in {directory} was made with {key}={state.get(key)}, "
                f"this run has {key}={have}; resume with the same data and settings"
            )
    try:
        run = RunState(
            step=int(state["step"]),
            epoch=int(state["epoch"]),
            position=int(state["position"]),
            order=list(state["order"]),
            history=list(state["history"]),
            usage={**usage_totals(), **state["usage"]},
            wall_time=float(state.get("wall_time", 0.0)),
        )
        best = dict(state["best"])
        best_values = decode_state(best.pop("parameters"))
        for key in ("score", "step"):
            if key not in best:
                raise KeyError(f"best.{key}")
        return SavedRun(
            run=run,
            parameters=decode_state(state["parameters"]),
            best=best,
            best_values=best_values,
            initial_score=state.get("initial_score"),
            optimizer=decode_state(state["optimizer"]),
        )
    except KeyError as exc:
        raise CheckpointError(
            f"{path} is damaged: it has no {exc}; start the run again in a new directory"
        ) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(
            f"{path} is damaged ({exc}); start the run again in a new directory"
        ) from None
