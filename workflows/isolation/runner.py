"""``run_isolated(job, limits)``: the one way trace-engine runs code it does not trust.

The job (a Python module run as ``__main__``) runs under the supervisor in
``supervisor.py``, inside bubblewrap where available (see ``levels.py``),
with its own session, a scratch directory that holds its working directory,
HOME and TMPDIR, and a minimal environment (no API keys). The host waits on
the process itself (a pidfd) and reads the job's result pipe with the
deadline, so a descendant that keeps a pipe open cannot make it wait longer.
Whatever happens (success, failure, timeout, Ctrl-C or another exception in
the host, the host's death) no process of the run survives it.

The outcome holds only what the host observed itself: the exit status, the
wall time and the CPU time of the whole process tree (``wait4``), plus the
bytes the job wrote on its result pipe and the tail of its output.
"""

from __future__ import annotations

import json
import marshal
import os
import select
import signal
import site
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflows.isolation import bytecode, hidden, levels
from workflows.isolation import scratch as scratch_directory
from workflows.isolation.cgroup import PidsCgroup
from workflows.isolation.limits import Limits

SUPERVISOR = Path(__file__).with_name("supervisor.py")
LANDLOCK = Path(__file__).with_name("landlock.py")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
MARKER_VAR = "TRACE_ENGINE_SANDBOX_RUN"
OUTPUT_TAIL = 8000
STOP_GRACE_S = 2.0
CGROUP_OVERHEAD = 2
"""Tasks of a run's cgroup beyond the ``processes`` the job may start: the supervisor and
the job's own process (bwrap stays outside)."""


@dataclass(frozen=True)
class Job:
    """What to run: ``module`` (importable from the project or ``python_path``) as ``__main__``.

    ``input`` is the job's standard input. ``cwd`` is the directory it runs in
    (read-only at the bubblewrap level); by default a fresh directory in the
    scratch space. ``env`` adds variables to the minimal environment.
    """

    module: str
    args: tuple[str, ...] = ()
    input: bytes = b""
    python_path: tuple[str, ...] = ()
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    bare_packages: tuple[str, ...] = ()
    """Top-level packages of this project whose ``__init__`` is not run inside the
    sandbox, so a job that needs only a few of their submodules starts faster."""
    site: bool = True
    """False skips the interpreter's ``site`` start-up (``.pth`` files, editable-install
    hooks) and puts the site-packages directories on the path directly: faster, for jobs
    that need only the standard library and plainly installed packages."""


@dataclass
class Outcome:
    """What the host saw of one run.

    ``wall_s`` and ``cpu_s`` come from the supervisor, which never runs the job's
    code: the job process's wall time from fork to exit, and the CPU time of it
    and every descendant (``wait4``/``getrusage`` of reaped children); when the
    supervisor was killed, the host's own figures of the whole run.
    """

    level: str
    exit_code: int | None
    signal: int | None
    timed_out: bool
    wall_s: float
    cpu_s: float
    result: bytes
    output: str
    leftovers_killed: int = 0
    supervisor_lost: bool = False

    @property
    def ok(self) -> bool:
        """The job exited with status 0 within its time."""
        return self.exit_code == 0 and not self.timed_out

    def messages(self) -> list[Any]:
        """The JSON messages the job sent on its result pipe (one per line; a broken
        or cut-off line ends the list)."""
        found = []
        for line in self.result.splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                break
        return found

    def describe_end(self) -> str:
        """How the job ended, in words."""
        if self.timed_out:
            return "it was killed at the time limit"
        if self.signal is not None:
            name = _signal_name(self.signal)
            if self.signal == signal.SIGXCPU or name == "SIGKILL":
                return f"it was killed by {name} (CPU-time or memory limit, or killed itself)"
            return f"it was killed by {name}"
        if self.exit_code is None:
            return "its supervisor was killed, so how it ended is unknown"
        return f"it exited with status {self.exit_code}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _processes_of_user() -> int:
    """How many processes this user runs (RLIMIT_NPROC counts them; root is exempt)."""
    uid = os.getuid()
    if uid == 0:
        return 0
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                count += os.stat(f"/proc/{name}").st_uid == uid
            except OSError:
                pass
    return count


def _site_packages() -> list[str]:
    return [p for p in site.getsitepackages() if os.path.isdir(p)]


def _environment(job: Job, scratch: Path, marker: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(scratch / "home"),
        "TMPDIR": str(scratch / "tmp"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        MARKER_VAR: marker,
    }
    env.update(job.env)
    return env


def run_isolated(job: Job, limits: Limits | None = None, *, level: str | None = None) -> Outcome:
    """Run ``job`` under ``limits`` at ``level`` (default: the strongest available).

    Never raises for anything the job does; raises only for a level this
    machine cannot provide. The scratch directory is removed afterwards (in a
    thread of the host, see ``scratch.py``).
    Where a pids cgroup can be made, the run also lives in one (see ``cgroup.py``).
    """
    limits = limits or Limits()
    level = level or levels.available_level()
    scratch = scratch_directory.make()
    cgroup = PidsCgroup.create(limits.processes + CGROUP_OVERHEAD)
    try:
        return _run(job, limits, level, scratch, cgroup)
    finally:
        if cgroup is not None:
            cgroup.remove()
        scratch_directory.remove_soon(scratch)


def _run(job: Job, limits: Limits, level: str, scratch: Path, cgroup: PidsCgroup | None) -> Outcome:
    marker = uuid.uuid4().hex
    (scratch / "input").write_bytes(job.input)
    result_read, result_write = os.pipe()
    status_read, status_write = os.pipe()
    config = {
        "module": job.module,
        "args": list(job.args),
        "sys_path": [
            str(PROJECT_ROOT),
            *job.python_path,
            *([] if job.site else _site_packages()),
        ],
        "bare_packages": {name: str(PROJECT_ROOT / name) for name in job.bare_packages},
        "cwd": job.cwd or str(scratch / "work"),
        "input": str(scratch / "input"),
        "output": str(scratch / "output.log"),
        "result_fd": result_write,
        "status_fd": status_write,
        "rlimits": limits.rlimits(_processes_of_user()),
        "cpu_s": limits.cpu_seconds,
        "host_pid": os.getpid() if level == levels.RLIMIT else None,
        "modules": bytecode.project_code(job.module, PROJECT_ROOT, job.bare_packages),
        "landlock_code": bytecode.file_code(LANDLOCK),
    }
    if level == levels.RLIMIT:
        config["landlock"] = hidden.landlock_rules(
            [config["cwd"], *config["sys_path"]], str(scratch)
        )
    config_path = scratch / "config"
    config_path.write_bytes(marshal.dumps(config))  # read once by the supervisor, then deleted
    argv = [
        *levels.command_prefix(level, str(scratch), [config["cwd"], *config["sys_path"]]),
        sys.executable,
        "-I" if job.site else "-IS",
        str(SUPERVISOR),
        str(config_path),
    ]
    cgroup_fd = cgroup.entry() if cgroup is not None else None
    if cgroup_fd is not None:
        argv.append(str(cgroup_fd))
    started = time.perf_counter()
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(result_write, status_write, *([] if cgroup_fd is None else [cgroup_fd])),
            cwd=str(scratch),
            env=_environment(job, scratch, marker),
            start_new_session=True,
        )
    finally:
        os.close(result_write)
        os.close(status_write)
        if cgroup_fd is not None:
            os.close(cgroup_fd)
    watch = _Watch(process, result_read, status_read, limits.result_mb * 1024 * 1024)
    try:
        timed_out = not watch.wait_until(started + limits.wall_s)
        if timed_out:
            watch.stop()
    except BaseException:
        watch.stop()
        _sweep(marker)
        raise
    finally:
        watch.close()
    wall = time.perf_counter() - started
    status = watch.status()
    lost = status is None
    if lost:
        _sweep(marker)
    status = status or {}
    timed_out = timed_out or status.get("stopped") is not None
    return Outcome(
        level=level,
        exit_code=status.get("exit_code"),
        signal=status.get("signal"),
        timed_out=timed_out,
        wall_s=status.get("job_wall_s", wall),
        cpu_s=status.get("cpu_s", watch.cpu_s),
        result=bytes(watch.result),
        output=_tail(scratch / "output.log"),
        leftovers_killed=status.get("killed", 0),
        supervisor_lost=lost and not timed_out,
    )


class _Watch:
    """Reads the run's pipes and waits for its process, never past a deadline."""

    def __init__(self, process: subprocess.Popen, result_fd: int, status_fd: int, max_result: int):
        self.process = process
        self.pidfd = os.pidfd_open(process.pid)
        self.result_fd, self.status_fd = result_fd, status_fd
        self.buffers = {result_fd: bytearray(), status_fd: bytearray()}
        self.open = {result_fd, status_fd}
        self.max_result = max_result
        self.cpu_s = 0.0
        self.done = False

    @property
    def result(self) -> bytearray:
        return self.buffers[self.result_fd]

    def wait_until(self, deadline: float) -> bool:
        """Read until the process exits (True) or ``deadline`` passes (False)."""
        while not self.done:
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            readable, _, _ = select.select([self.pidfd, *self.open], [], [], left)
            for fd in readable:
                if fd == self.pidfd:
                    self._reap()
                elif fd in self.open:
                    self._read(fd)
        self._drain()
        return True

    def _read(self, fd: int) -> bool:
        """Read one chunk from ``fd``; False when nothing more is there now."""
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return False
        if not chunk:
            self.open.discard(fd)
            os.close(fd)
            return False
        buffer = self.buffers[fd]
        if len(buffer) < self.max_result:
            buffer += chunk
        return True

    def _drain(self) -> None:
        """Read what is already in the pipes, without waiting for more."""
        for fd in list(self.open):
            os.set_blocking(fd, False)
            while fd in self.open and self._read(fd):
                pass

    def _reap(self) -> None:
        _, wait_status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(wait_status)
        self.cpu_s = usage.ru_utime + usage.ru_stime
        self.done = True

    def stop(self) -> None:
        """Ask the supervisor to clean up and stop; kill it if it does not in time."""
        if self.done:
            return
        try:
            os.kill(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not self.wait_until(time.perf_counter() + STOP_GRACE_S):
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()
            self._drain()

    def status(self) -> dict[str, Any] | None:
        """The supervisor's report, or None when it was killed before it wrote one."""
        lines = bytes(self.buffers[self.status_fd]).splitlines()
        try:
            return json.loads(lines[0]) if lines else None
        except ValueError:
            return None

    def close(self) -> None:
        os.close(self.pidfd)
        for fd in self.open:
            os.close(fd)
        self.open.clear()


def _sweep(marker: str) -> None:
    """Kill any process still carrying this run's marker (after its supervisor was killed)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    os.kill(int(name), signal.SIGKILL)
        except OSError:
            continue


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - OUTPUT_TAIL))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
