"""The job's side of a run: its input, and the result pipe only trusted code may hold.

A job module calls :func:`read_input` once, then :func:`open_results` to take
the result pipe before it runs anything it does not trust; the pipe is then
closed in every process that untrusted code runs in (see ``candidate.py``).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, BinaryIO

RESULT_FD_VAR = "TRACE_ENGINE_RESULT_FD"


def read_input() -> bytes:
    """The job's input (its standard input, read to the end)."""
    return sys.stdin.buffer.read()


class Results:
    """Sends JSON messages to the host, one per line."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream

    def send(self, message: Any) -> None:
        self._stream.write(json.dumps(message).encode("utf-8") + b"\n")
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()

    def fileno(self) -> int:
        return self._stream.fileno()


def open_results() -> Results:
    """Take the result pipe (once); later calls, and code that runs after, cannot find it
    by its variable."""
    fd = int(os.environ.pop(RESULT_FD_VAR))
    return Results(os.fdopen(fd, "wb", buffering=0))
