"""Untrusted code in a process of its own, called from trusted code as plain data.

Inside a sandboxed job, :class:`CandidateProcess` forks a child that closes
every file descriptor but one socket (so it cannot reach the job's result
pipe), defines the untrusted code there, and answers calls: arguments go in
and return values come back as plain data (``plain.py``). The checks, and
every comparison they make, run in the job's own process, which never runs
the untrusted code; whatever the child does after or around a call (print,
register an ``atexit`` hook, exit, crash) can only make that call fail.
"""

from __future__ import annotations

import builtins
import json
import os
import socket
import struct
import sys
import traceback
from collections.abc import Callable
from typing import Any

from trace_engine.errors import TraceEngineError
from workflows.isolation import plain

MAX_MESSAGE = 64 * 1024 * 1024
_LENGTH = struct.Struct("!Q")


class CandidateError(TraceEngineError, RuntimeError):
    """A call could not be answered: the child died, or returned something not plain."""


def _send(sock: socket.socket, message: Any) -> None:
    data = json.dumps(message).encode("utf-8")
    sock.sendall(_LENGTH.pack(len(data)) + data)


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _receive(sock: socket.socket) -> Any:
    (size,) = _LENGTH.unpack(_receive_exactly(sock, _LENGTH.size))
    if size > MAX_MESSAGE:
        raise ValueError(f"a message of {size} bytes (more than {MAX_MESSAGE})")
    return json.loads(_receive_exactly(sock, size))


def _raised(exc: BaseException, source_name: str) -> dict[str, Any]:
    """An exception as data, with the last line of ``source_name`` it passed through."""
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename == source_name
    ]
    return {
        "raised": type(exc).__name__,
        "message": str(exc)[:2000],
        "line": lines[-1] if lines else None,
    }


def _serve(sock: socket.socket, define: Callable[[], Callable], source_name: str) -> None:
    """The child's loop: define the function, then answer calls until the socket closes."""
    try:
        function = define()
    except BaseException as exc:  # a definition that fails or exits is reported, not obeyed
        _send(sock, {"defined": False, **_raised(exc, source_name)})
        return
    _send(sock, {"defined": True})
    while True:
        try:
            request = _receive(sock)
        except EOFError:
            return
        try:
            value = function(*plain.decode(request["args"]), **plain.decode(request["kwargs"]))
            reply = {"returned": plain.encode(value)}
        except plain.NotPlainData as exc:
            reply = {"unplain": str(exc)}
        except BaseException as exc:  # SystemExit and KeyboardInterrupt become the call's error
            reply = _raised(exc, source_name)
        _send(sock, reply)


class CandidateProcess:
    """A forked child holding the untrusted function ``define()`` returns."""

    def __init__(
        self,
        define: Callable[[], Callable],
        describe: str = "the candidate",
        source_name: str = "<candidate>",
    ):
        """``source_name`` is the file name the untrusted code was compiled under; errors
        carry the last line of it they passed through (``candidate_line``)."""
        self.describe = describe
        self.source_name = source_name
        self.pid: int | None = None
        self.defined: dict[str, Any] = {}
        self._sock: socket.socket | None = None
        self._start(define)

    def _start(self, define: Callable[[], Callable]) -> None:
        parent, child = socket.socketpair()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                parent.close()
                keep = child.fileno()
                os.closerange(3, keep)
                os.closerange(keep + 1, 1 << 16)
                _serve(child, define, self.source_name)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        child.close()
        self.pid, self._sock = pid, parent
        try:
            self.defined = _receive(parent)
        except (EOFError, ValueError, OSError):
            self.defined = {"defined": False, "raised": "", "message": self._ended()}

    def _ended(self) -> str:
        """Why the child stopped answering, in words."""
        if self.pid is None:
            return f"{self.describe} is not running"
        try:
            pid, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return f"the process running {self.describe} ended"
        self.pid = None
        if os.WIFSIGNALED(status):
            return f"the process running {self.describe} was killed by signal {os.WTERMSIG(status)}"
        return f"the process running {self.describe} exited (status {os.WEXITSTATUS(status)})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._sock is None or self.pid is None:
            raise CandidateError(f"{self.describe} is no longer running")
        try:
            _send(self._sock, {"args": plain.encode(list(args)), "kwargs": plain.encode(kwargs)})
        except plain.NotPlainData as exc:
            raise CandidateError(f"the checks passed {exc} to {self.describe}") from None
        except OSError:
            raise CandidateError(self._ended()) from None
        try:
            reply = _receive(self._sock)
        except (EOFError, OSError):
            raise CandidateError(self._ended()) from None
        except (ValueError, struct.error) as exc:
            raise CandidateError(f"{self.describe} sent a malformed reply: {exc}") from None
        if not isinstance(reply, dict):
            raise CandidateError(f"{self.describe} sent a malformed reply")
        if "returned" in reply:
            try:
                return plain.decode(reply["returned"])
            except (ValueError, TypeError) as exc:
                raise CandidateError(f"{self.describe} sent a malformed reply: {exc}") from None
        if "unplain" in reply:
            raise CandidateError(f"{self.describe} returned {reply['unplain']}")
        error = rebuilt_exception(str(reply.get("raised", "")), str(reply.get("message", "")))
        line = reply.get("line")
        error.candidate_line = line if type(line) is int else None
        raise error

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self.pid is not None:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.pid = None


def rebuilt_exception(name: str, message: str) -> Exception:
    """The builtin exception ``name`` with ``message`` (so checks that expect, say, a
    ValueError still work); a :class:`CandidateError` for any other exception."""
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(message)
        except TypeError:
            pass
    return CandidateError(f"{name}: {message}")
