"""Untrusted code in a process of its own, called from trusted code as plain data.

Inside a sandboxed job, :class:`CandidateProcess` forks a child that closes
every file descriptor but its two pipes (so it cannot reach the job's result
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
import struct
import sys
from collections.abc import Callable
from typing import Any

from trace_engine.errors import TraceEngineError
from workflows.isolation import plain

MAX_MESSAGE = 64 * 1024 * 1024
_LENGTH = struct.Struct("!Q")


class CandidateError(TraceEngineError, RuntimeError):
    """A call could not be answered: the child died, or returned something not plain."""


class _Channel:
    """Length-prefixed JSON messages over a pair of pipes (one each way)."""

    def __init__(self, read_fd: int, write_fd: int):
        self.read_fd, self.write_fd = read_fd, write_fd

    def send(self, message: Any) -> None:
        data = json.dumps(message).encode("utf-8")
        view = memoryview(_LENGTH.pack(len(data)) + data)
        while view:
            view = view[os.write(self.write_fd, view) :]

    def _exactly(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = os.read(self.read_fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def receive(self) -> Any:
        (size,) = _LENGTH.unpack(self._exactly(_LENGTH.size))
        if size > MAX_MESSAGE:
            raise ValueError(f"a message of {size} bytes (more than {MAX_MESSAGE})")
        return json.loads(self._exactly(size))

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def last_line_in(exc: BaseException, file_name: str) -> int | None:
    """The last line of ``file_name`` that ``exc`` passed through (None: none did)."""
    line, frame = None, exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == file_name:
            line = frame.tb_lineno
        frame = frame.tb_next
    return line


def _raised(exc: BaseException, source_name: str) -> dict[str, Any]:
    """An exception as data, with the last line of ``source_name`` it passed through."""
    return {
        "raised": type(exc).__name__,
        "message": str(exc)[:2000],
        "line": last_line_in(exc, source_name),
    }


def _serve(
    channel: _Channel, define: Callable[..., Callable], source_name: str, waits: bool
) -> None:
    """The child's loop: define the function (with the payload the parent sends first,
    when it ``waits``), then answer calls until the pipe closes."""
    try:
        function = define(plain.decode(channel.receive())) if waits else define()
    except BaseException as exc:  # a definition that fails or exits is reported, not obeyed
        channel.send({"defined": False, **_raised(exc, source_name)})
        return
    channel.send({"defined": True})
    while True:
        try:
            request = channel.receive()
        except EOFError:
            return
        try:
            value = function(*plain.decode(request["args"]), **plain.decode(request["kwargs"]))
            reply = {"returned": plain.encode(value)}
        except plain.NotPlainData as exc:
            reply = {"unplain": str(exc)}
        except BaseException as exc:  # SystemExit and KeyboardInterrupt become the call's error
            reply = _raised(exc, source_name)
        channel.send(reply)


class CandidateProcess:
    """A forked child holding the untrusted function ``define()`` returns."""

    def __init__(
        self,
        define: Callable[..., Callable],
        describe: str = "the candidate",
        source_name: str = "<candidate>",
        *,
        waits: bool = False,
    ):
        """``source_name`` is the file name the untrusted code was compiled under; errors
        carry the last line of it they passed through (``candidate_line``).

        With ``waits`` the child is forked now and calls ``define(payload)`` only when
        :meth:`define_with` sends it the payload: started before the job reads its
        input, the child never holds what the checks know (their expected values)."""
        self.describe = describe
        self.source_name = source_name
        self.pid: int | None = None
        self.defined: dict[str, Any] = {}
        self._channel: _Channel | None = None
        self._start(define, waits)
        if not waits:
            self._receive_defined()

    def define_with(self, payload: Any, describe: str | None = None) -> dict[str, Any]:
        """Send the waiting child ``payload`` (plain data) to define the function with;
        the child's answer (also kept as ``defined``)."""
        self.describe = describe or self.describe
        try:
            self._channel.send(plain.encode(payload))
        except (OSError, AttributeError):
            self.defined = {"defined": False, "raised": "", "message": self._ended()}
            return self.defined
        self._receive_defined()
        return self.defined

    def _start(self, define: Callable[..., Callable], waits: bool) -> None:
        to_child_read, to_child_write = os.pipe()
        to_parent_read, to_parent_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(to_child_write)
                os.close(to_parent_read)
                keep = sorted((to_child_read, to_parent_write))
                os.closerange(3, keep[0])
                os.closerange(keep[0] + 1, keep[1])
                os.closerange(keep[1] + 1, 1 << 16)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)  # the job's input is not the child's to read
                os.close(null)
                _serve(_Channel(to_child_read, to_parent_write), define, self.source_name, waits)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(to_child_read)
        os.close(to_parent_write)
        self.pid = pid
        self._channel = _Channel(to_parent_read, to_child_write)

    def _receive_defined(self) -> None:
        try:
            self.defined = self._channel.receive()
        except (EOFError, ValueError, OSError, struct.error):
            self.defined = {"defined": False, "raised": "", "message": self._ended()}
        if not isinstance(self.defined, dict):
            self.defined = {"defined": False, "raised": "", "message": "a malformed reply"}

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
        if self._channel is None or self.pid is None:
            raise CandidateError(f"{self.describe} is no longer running")
        try:
            self._channel.send({"args": plain.encode(list(args)), "kwargs": plain.encode(kwargs)})
        except plain.NotPlainData as exc:
            raise CandidateError(f"the checks passed {exc} to {self.describe}") from None
        except OSError:
            raise CandidateError(self._ended()) from None
        try:
            reply = self._channel.receive()
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
        if self._channel is not None:
            self._channel.close()
            self._channel = None
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
