"""Training checkpoints: one JSON file, written atomically after every step.

A checkpoint holds everything needed to continue a run exactly: the parameter
values, the best values seen so far, the optimizer's state, where in which epoch
the run was (with that epoch's example order), the step history and the usage
totals. It also records which workflow wrote it, so that a run directory is never
resumed by a different job.

Checkpoints are JSON and nothing else: reading one never runs code from it, so a
run directory someone sent you is safe to resume or evaluate. A state that JSON
cannot hold is refused when saving, naming the value.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trace_engine.errors import TraceEngineError
from trace_engine.files import atomic_write_json

FORMAT = "trace-engine/checkpoint"
VERSION = 1
CHECKPOINT_FILE = "checkpoint.json"


class CheckpointError(TraceEngineError, ValueError):
    """A checkpoint is missing, unreadable or belongs to another run."""


def checkpoint_path(directory: str | os.PathLike) -> Path:
    return Path(directory) / CHECKPOINT_FILE


def encode_state(state: Any, what: str = "the state") -> dict[str, Any]:
    """``state`` in the checkpoint's JSON envelope; :class:`CheckpointError` naming the
    first value JSON cannot hold."""
    try:
        json.dumps(state, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        where = _not_json(state, what) or f"{what} cannot be written as JSON"
        raise CheckpointError(
            f"cannot write the checkpoint: {where}; checkpoints hold JSON values only "
            "(str, int, float, bool, None, lists and dicts with str keys)"
        ) from None
    return {"encoding": "json", "value": state}


def decode_state(entry: Any) -> Any:
    """The value of an :func:`encode_state` envelope; anything but JSON is refused."""
    if not isinstance(entry, dict) or entry.get("encoding", "json") != "json":
        encoding = entry.get("encoding") if isinstance(entry, dict) else type(entry).__name__
        raise CheckpointError(
            f"the checkpoint holds a value encoded as {encoding!r}; trace-engine reads JSON "
            "checkpoints only and never unpickles (a pickle can run code when loaded)"
        )
    return entry.get("value")


def _not_json(value: Any, where: str) -> str | None:
    """Where in ``value`` the first thing JSON cannot hold is, or ``None``."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    if isinstance(value, (list, tuple)):
        items = enumerate(value)
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                return f"{where} has the key {key!r} ({type(key).__name__})"
        items = value.items()
    else:
        return f"{where} is a {type(value).__name__} ({value!r:.60})"
    for key, item in items:
        found = _not_json(item, f"{where}[{key!r}]")
        if found:
            return found
    return None


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
    except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    except RecursionError:
        raise CheckpointError(
            f"cannot read checkpoint {path}: its JSON is nested too deeply to be a checkpoint"
        ) from None
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
