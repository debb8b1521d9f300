"""Opening files someone sent you runs none of their code: pickle payloads stay inert.

Each payload creates a marker file when unpickled; every test plants one where
trace-engine reads (a checkpoint, a completion cache) and checks the marker is
never made.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workflows.test_trainer import run_offset
from trace_engine.llm import Cached, as_llm
from trace_engine.llm.base import normalize_messages
from trace_engine.llm.cache import cache_key
from workflows.checkpoint import CheckpointError, checkpoint_path, encode_state

ROOT = Path(__file__).resolve().parents[2]


class Payload:
    """Unpickling it creates ``marker``: proof that code from the file ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant_in_checkpoint(directory: Path, marker: Path) -> None:
    path = checkpoint_path(directory)
    saved = json.loads(path.read_text())
    blob = base64.b64encode(pickle.dumps(Payload(marker))).decode("ascii")
    saved["parameters"] = {"encoding": "pickle-base64", "value": blob}
    path.write_text(json.dumps(saved))


def test_resuming_a_checkpoint_with_a_pickle_payload_runs_nothing(tmp_path):
    marker = tmp_path / "ran.txt"
    run = tmp_path / "run"
    run_offset(run, ["1"], 1)
    _plant_in_checkpoint(run, marker)
    with pytest.raises(CheckpointError, match="never unpickles"):
        run_offset(run, ["2"], 2, resume=True)
    assert not marker.exists()


def test_evaluating_a_run_whose_checkpoint_holds_a_pickle_runs_nothing(tmp_path):
    from workflows.cli import UsageError
    from workflows.commands.eval import _saved_parameters

    marker = tmp_path / "ran.txt"
    run = tmp_path / "run"
    run_offset(run, ["1"], 1)
    (run / "parameters.json").unlink(missing_ok=True)  # a run stopped before its end
    _plant_in_checkpoint(run, marker)
    with pytest.raises(UsageError, match="JSON checkpoints only"):
        _saved_parameters(run)
    assert not marker.exists()


def test_a_state_json_cannot_hold_is_refused_when_saving_and_named():
    with pytest.raises(CheckpointError, match=r"the parameters\['w'\]\[1\] is a set"):
        encode_state({"w": [1, {2}]}, "the parameters")
    assert encode_state({"w": [1, 2.5, None]}) == {
        "encoding": "json",
        "value": {"w": [1, 2.5, None]},
    }


def _plant_in_cache(directory: Path, key, marker: Path) -> None:
    """Store a pickled payload with diskcache's default (pickling) disk."""
    import diskcache

    with diskcache.Cache(str(directory)) as cache:
        cache.set(key, Payload(marker))


def test_cache_stats_on_a_planted_cache_directory_runs_nothing(tmp_path):
    marker_value = tmp_path / "value-ran.txt"
    marker_key = tmp_path / "key-ran.txt"
    cache_dir = tmp_path / "cache"
    _plant_in_cache(cache_dir, "a" * 64, marker_value)
    _plant_in_cache(cache_dir, Payload(marker_key), marker_value)
    done = subprocess.run(
        [sys.executable, "-m", "workflows.cli", "cache", "stats", "--dir", str(cache_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert "entries:   2" in done.stdout and "unreadable: 2" in done.stdout
    assert not marker_value.exists() and not marker_key.exists()


def test_a_cache_lookup_of_a_planted_entry_runs_nothing_and_asks_again(tmp_path):
    marker = tmp_path / "ran.txt"
    calls = []

    def reply(messages):
        calls.append(messages)
        return "fresh"

    inner = as_llm(reply)
    key = cache_key(inner.fingerprint, normalize_messages("hello"), 0, max_tokens=5)
    _plant_in_cache(tmp_path, key, marker)
    llm = Cached(inner, tmp_path)
    first = llm.complete("hello", max_tokens=5)
    assert first.texts == ["fresh"] and not first.cached and len(calls) == 1
    assert not marker.exists()
    assert llm.complete("hello", max_tokens=5).cached
