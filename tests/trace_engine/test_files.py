"""Atomic writes give files the permissions a plain open() would."""

from __future__ import annotations

import os
import stat

import pytest

from trace_engine.files import atomic_write_json, atomic_write_text
from workflows.checkpoint import write_checkpoint


@pytest.fixture
def umask():
    """Set the process umask for one test (restored after)."""
    previous = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_new_file_gets_the_mode_open_would_give(tmp_path, umask, mask, expected):
    umask(mask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_text(tmp_path / "atomic.txt", "x")
    assert _mode(tmp_path / "atomic.txt") == _mode(plain) == expected


@pytest.mark.parametrize("mode", [0o640, 0o755, 0o604])
def test_a_replaced_file_keeps_its_mode(tmp_path, umask, mode):
    umask(0o022)
    path = tmp_path / "kept.json"
    path.write_text("{}")
    path.chmod(mode)
    atomic_write_json(path, {"new": True})
    assert _mode(path) == mode and path.read_text().startswith('{\n  "new": true')


def test_a_checkpoint_is_readable_like_any_file_the_user_writes(tmp_path, umask):
    umask(0o022)
    assert _mode(write_checkpoint(tmp_path, {"step": 1})) == 0o644
