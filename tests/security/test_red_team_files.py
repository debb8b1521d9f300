"""Red team: files someone sent you (a cache directory, a checkpoint) are read as data only.

Each attack crafts the file by hand, as an attacker would, and checks that
trace-engine finishes with a clear line and runs, reads or waits on nothing
the file names.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess

import pytest

from tests.workflows.scripted_server import ScriptedServer
from tests.workflows.test_cli import cli
from trace_engine.llm.cache import open_cache

SAMPLE = {"llm": "scripted", "text": "hi", "prompt_tokens": 1, "completion_tokens": 1, "cost": 0.0}


def _sent_cache(tmp_path, rows: list[tuple[int, str | None, bytes | None]]):
    """A cache directory holding one real large entry (stored as a file) plus ``rows``
    written straight into its database: (mode, filename, value)."""
    directory = tmp_path / "sent-cache"
    cache = open_cache(directory)
    cache.set("large", {**SAMPLE, "text": "word " * 20000})
    db = sqlite3.connect(directory / "cache.db")
    for number, (mode, filename, value) in enumerate(rows):
        db.execute(
            "INSERT INTO Cache (key, raw, store_time, expire_time, access_time, access_count, "
            "tag, size, mode, filename, value) VALUES (?, 1, 0, NULL, 0, 0, NULL, 0, ?, ?, ?)",
            (json.dumps(f"planted{number}").encode(), mode, filename, value),
        )
    db.commit()
    db.close()
    return directory


def _stats(directory) -> subprocess.CompletedProcess:
    return cli("cache", "stats", "--json", "--dir", directory, timeout=60)


def test_cache_stats_never_waits_on_a_fifo_a_sent_cache_names(tmp_path):
    directory = _sent_cache(tmp_path, [(2, "planted.val", None)])
    os.mkfifo(directory / "planted.val")
    done = _stats(directory)
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads(done.stdout)
    assert (stats["entries"], stats["unreadable"]) == (2, 1)
    assert stats["by_llm"] == {"scripted": 1}


def test_a_sent_cache_cannot_make_trace_engine_read_files_outside_it(tmp_path):
    outside = tmp_path / "secret.json"
    outside.write_text(json.dumps(SAMPLE))
    (tmp_path / "sent-cache").mkdir()
    os.symlink(tmp_path, tmp_path / "sent-cache" / "link")
    directory = _sent_cache(
        tmp_path,
        [(2, str(outside), None), (2, "../secret.json", None), (2, "link/secret.json", None)],
    )
    done = _stats(directory)
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads(done.stdout)
    assert (stats["entries"], stats["unreadable"]) == (4, 3)


def test_a_deeply_nested_value_in_a_sent_cache_reads_as_unreadable(tmp_path):
    directory = _sent_cache(tmp_path, [(1, None, b"[" * 100000)])
    done = _stats(directory)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["unreadable"] == 1


@pytest.mark.parametrize(
    "content",
    [b"[" * 100000, b"\xff\xfe not text"],
    ids=["deeply-nested", "not-utf8"],
)
def test_a_broken_sent_checkpoint_is_one_clear_line(tmp_path, content):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"workflow": "numeric"}))
    (run / "checkpoint.json").write_bytes(content)
    with ScriptedServer(lambda messages: "{}") as server:
        done = cli("optimize", "--resume", run, "--llm", server.spec, timeout=60)
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert "checkpoint" in line
    assert "Traceback" not in done.stderr


def test_cache_stats_of_a_directory_that_is_not_a_cache_is_one_clear_line(tmp_path):
    directory = tmp_path / "sent-cache"
    directory.mkdir()
    (directory / "cache.db").write_bytes(b"not an sqlite database at all")
    done = _stats(directory)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "cannot be opened" in line
    assert (directory / "cache.db").read_bytes() == b"not an sqlite database at all"
