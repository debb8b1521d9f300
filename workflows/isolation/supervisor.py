"""The first process inside a sandbox: runs one job and leaves no process behind.

Started by :func:`workflows.isolation.runner.run_isolated` as
``python -I supervisor.py CONFIG [CGROUP_FD]`` (CONFIG: marshal data the host
wrote for this run). Given the descriptor of its run's cgroup task list, it
moves itself into that cgroup before it forks the job, so every process of the
job is born in the cgroup. It makes itself a child subreaper
(every orphaned descendant, even one that called ``setsid``, becomes its
child), asks to be signalled when its parent dies, forks the job under its
resource limits, and when the job ends (or the host asks it to stop, or the
host dies) kills every remaining descendant and reaps them all before it
exits. The job gets no capabilities, and at the rlimit level the Landlock
rules the host computed (``landlock.py``). It reports the job's exit status, its wall time and the CPU time of
the job and all its descendants (``wait4``) on a pipe only it holds: the job
can neither see that pipe nor read this process's memory (it is marked not
dumpable). Standard library only; it never imports the project: the project
modules the job imports come compiled from the host (``bytecode.py``).
"""

import ctypes
import gc
import importlib.machinery
import json
import marshal
import os
import resource
import runpy
import signal
import sys
import time
import types

if __name__ == "__main__":
    gc.disable()  # while loading modules (a tenth of the start-up); the job turns it back on

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)


class Stop(Exception):
    """The host asked the supervisor to stop (deadline, Ctrl-C) or went away."""


def _prctl(option, value):
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def _enter_cgroup(fd):
    """Move this process (its one thread) into the cgroup whose task list is open as
    ``fd``, so that the job is born in it; whether that worked."""
    try:
        os.write(fd, b"0")
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _stop(signum, frame):
    raise Stop(signal.Signals(signum).name)


def descendants(root):
    """Pids of every living process below ``root`` (read from /proc)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def _has_children():
    """Whether any process is still below this one (a subreaper inherits every orphan,
    so no child means no descendant)."""
    try:
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return True
    except ChildProcessError:
        return False


def kill_all_and_reap():
    """SIGKILL every descendant and reap until none is left; the number killed."""
    if not _has_children():
        return 0
    killed = set()
    while True:
        for pid in descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return len(killed)
        except InterruptedError:
            continue


def _limit(config):
    limits = config["rlimits"]
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    cpu = config.get("cpu_s")
    if cpu:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def _confine(landlock_code, rules):
    """Landlock ``rules`` where given (the rlimit level), then no privileges either way."""
    landlock = types.ModuleType("_trace_engine_landlock")
    landlock.__file__ = landlock_code.co_filename
    exec(landlock_code, landlock.__dict__)
    if rules:
        landlock.restrict(rules["read"], rules["write"], rules.get("list", ()))
    landlock.drop_privileges()


class CompiledModules:
    """Imports the modules whose code the host compiled (``bytecode.py``): ``name ->
    (file, is_package, code)``; any other import goes on to Python's own finders."""

    def __init__(self, modules):
        self.modules = modules

    def find_spec(self, name, path=None, target=None):
        if name not in self.modules:
            return None
        origin, package, _ = self.modules[name]
        spec = importlib.machinery.ModuleSpec(name, self, origin=origin, is_package=package)
        spec.has_location = True
        if package:
            spec.submodule_search_locations = [os.path.dirname(origin)]
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.modules[module.__spec__.name][2], module.__dict__)

    def get_code(self, name):
        return self.modules[name][2]

    def is_package(self, name):
        return self.modules[name][1]


def _register_bare_packages(packages):
    """Make ``name -> directory`` importable as packages whose ``__init__`` never runs:
    their submodules load directly, without what the package imports for the host."""
    for name, directory in packages.items():
        module = types.ModuleType(name)
        module.__path__ = [directory]
        sys.modules[name] = module


def _run_job(config, input_fd, output_fd):
    """In the forked child: limits, standard streams, then the job module as ``__main__``."""
    code = 1
    try:
        gc.enable()
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        os.close(config["status_fd"])
        os.dup2(input_fd, 0)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(input_fd)
        os.close(output_fd)
        _limit(config)
        os.chdir(config["cwd"])
        _confine(config["landlock_code"], config.get("landlock"))
        os.environ["TRACE_ENGINE_RESULT_FD"] = str(config["result_fd"])
        sys.path[:0] = config["sys_path"]
        _register_bare_packages(config.get("bare_packages", {}))
        sys.meta_path.insert(0, CompiledModules(config.get("modules", {})))
        sys.argv = [config["module"], *config["args"]]
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 (the job's stdin)
        runpy.run_module(config["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main():
    with open(sys.argv[1], "rb") as handle:
        config = marshal.loads(handle.read())  # written by the host for this run only
    os.unlink(sys.argv[1])
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _stop)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if config.get("host_pid") and os.getppid() != config["host_pid"]:
        return 1  # the host died before the line above took effect
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_DUMPABLE, 0)
    if len(sys.argv) > 2 and not _enter_cgroup(int(sys.argv[2])):
        return 1  # no job runs outside its cgroup
    input_fd = os.open(config["input"], os.O_RDONLY)
    os.unlink(config["input"])
    output_fd = os.open(config["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    status = {"exit_code": None, "signal": None, "stopped": None}
    started = time.perf_counter()
    try:
        gc.freeze()  # what is loaded now stays shared with the job, never scanned again
        job = os.fork()
        if job == 0:
            _run_job(config, input_fd, output_fd)
        os.close(config["result_fd"])
        os.close(input_fd)
        os.close(output_fd)
        while True:
            try:
                pid, wait_status, usage = os.wait4(-1, 0)
            except InterruptedError:
                continue
            if pid == job:
                break
        status["job_wall_s"] = time.perf_counter() - started
        status["job_cpu_s"] = usage.ru_utime + usage.ru_stime
        if os.WIFSIGNALED(wait_status):
            status["signal"] = os.WTERMSIG(wait_status)
        else:
            status["exit_code"] = os.WEXITSTATUS(wait_status)
    except Stop as exc:
        status["stopped"] = str(exc)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)
    status["killed"] = kill_all_and_reap()
    everything = resource.getrusage(resource.RUSAGE_CHILDREN)
    status["cpu_s"] = everything.ru_utime + everything.ru_stime
    os.write(config["status_fd"], json.dumps(status).encode("utf-8") + b"\n")
    return 0


if __name__ == "__main__":
    os._exit(main())  # nothing left to flush or finalise: the status is written
