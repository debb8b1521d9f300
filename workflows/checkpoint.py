"""Training checkpoints: one JSON file, written atomically after every step.

A checkpoint holds everything needed to continue a run exactly: the parameter
values, the best values seen so far, the optimizer's state, where in which epoch
the run was (with that epoch's example order), the step history and the usage
totals. It also records which workflow wrote it, so that a run directory is never
resumed by a different job.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
from pathlib import Path
from typing import Any

from trace_engine.files import atomic_write_json

FORMAT = "trace-engine/checkpoint"
VERSION = 1
CHECKPOINT_FILE = "checkpoint.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or belongs to another run."""


def checkpoint_path(directory: str | os.PathLike) -> Path:
    return Path(directory) / CHECKPOINT_FILE


def encode_state(state: Any) -> dict[str, Any]:
    """Store a state as JSON when it is JSON, else as pickled bytes in base64."""
    try:
        json.dumps(state)
        return {"encoding": "json", "value": state}
    except (TypeError, ValueError):
        data = base64.b64encode(pickle.dumps(state)).decode("ascii")
        return {"encoding": "pickle-base64", "value": data}


def decode_state(entry: dict[str, Any]) -> Any:
    if entry.get("encoding") == "pickle-base64":
        return pickle.loads(base64.b64decode(entry["value"]))
    return entry.get("value")


def write_checkpoint(directory: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` as the directory's checkpoint; a crash leaves the previous one whole."""
    return atomic_write_json(
        checkpoint_path(directory), {"format": FORMAT, "version": VERSION, **state}
    )


def read_checkpoint(directory: str | os.PathLike, workflow: str | None = None) -> dict[str, Any]:
    """Read the checkpoint in ``directory``; refuse one written by another workflow."""
    path = checkpoint_path(directory)
    if not Path(directory).is_dir():
        raise CheckpointError(f"cannot resume: {directory} is not a directory")
    if not path.is_file():
        raise CheckpointError(
            f"cannot resume: {directory} has no {CHECKPOINT_FILE} (no step of a run finished there)"
        )
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a trace-engine training checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {state.get('version')}; this trace-engine reads {VERSION}"
        )
    if workflow is not None and state.get("workflow") != workflow:
        raise CheckpointError(
            f"{directory} holds a run of workflow {state.get('workflow')!r}, not {workflow!r}; "
            "resume it with that workflow or choose another directory"
        )
    return state
