"""Scratch directories left by hosts that were killed outright are swept by a later host."""

import os
import subprocess
import time

from workflows.isolation import scratch


def _gone_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _dir(root, name, age):
    path = root / name
    (path / "work").mkdir(parents=True)
    (path / "work" / "left.txt").write_text("x")
    os.chmod(path / "work", 0o500)  # a job may leave read-only directories behind
    old = time.time() - age
    os.utime(path, (old, old))
    return path


def test_sweep_removes_only_old_directories_of_hosts_that_are_gone(tmp_path):
    gone = _gone_pid()
    hour = scratch.MIN_AGE
    dead_old = _dir(tmp_path, f"{scratch.PREFIX}{gone}-abc", hour + 10)
    dead_young = _dir(tmp_path, f"{scratch.PREFIX}{gone}-def", 5)
    mine_old = _dir(tmp_path, f"{scratch.PREFIX}{os.getpid()}-ghi", hour + 10)
    unnamed_old = _dir(tmp_path, f"{scratch.PREFIX}q1w2e3r4", scratch.UNNAMED_AGE + 10)
    unnamed_recent = _dir(tmp_path, f"{scratch.PREFIX}z9x8c7v6", hour + 10)
    other = _dir(tmp_path, f"unrelated-{gone}-abc", hour + 10)
    assert scratch.sweep(tmp_path) == 2
    assert not dead_old.exists() and not unnamed_old.exists()
    for kept in (dead_young, mine_old, unnamed_recent, other):
        assert kept.exists()


def test_a_new_scratch_directory_is_named_after_its_host(tmp_path, monkeypatch):
    monkeypatch.setattr(scratch.tempfile, "tempdir", str(tmp_path))
    made = scratch.make()
    try:
        assert made.name.startswith(f"{scratch.PREFIX}{os.getpid()}-")
        assert sorted(p.name for p in made.iterdir()) == sorted(scratch.SUBDIRECTORIES)
        assert scratch.sweep(tmp_path) == 0
    finally:
        scratch.remove(made)
        scratch.wait_for_removals()
