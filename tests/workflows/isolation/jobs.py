"""Job programs for the runner's tests: each does what its input (JSON) asks, as an
attacker's code would, and reports what it saw on the result pipe."""

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time

from workflows.isolation.channel import open_results, read_input


def spawn_detached_sleeper(token: str) -> None:
    """A grandchild in a session of its own that holds every inherited pipe open."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", token])
        os._exit(0)
    os.wait()


def try_write(path: str) -> str:
    try:
        with open(path, "w") as handle:
            handle.write("written from the sandbox")
        return "written"
    except OSError as exc:
        return type(exc).__name__


def try_connect(port: int) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return "connected"
    except OSError as exc:
        return type(exc).__name__


def main() -> None:
    request = json.loads(read_input())
    results = open_results()
    if request.get("sleeper"):
        spawn_detached_sleeper(request["sleeper"])
    if request.get("sleeper_via_subprocess"):
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import time; time.sleep(600)",
                request["sleeper_via_subprocess"],
            ],
            start_new_session=True,
        )
    if request.get("kill_supervisor"):
        try:
            os.kill(os.getppid(), signal.SIGKILL)
        except OSError:
            pass
        time.sleep(0.5)  # time for a killed supervisor to be seen gone
    report = {
        "home": os.environ.get("HOME"),
        "tmpdir": os.environ.get("TMPDIR"),
        "cwd": os.getcwd(),
        "loader": type(globals().get("__loader__")).__name__,
        "gc": gc.isenabled(),
    }
    if "write" in request:
        report["write"] = try_write(request["write"])
    if "connect" in request:
        report["connect"] = try_connect(request["connect"])
    if "secret" in request:
        report["secret"] = os.environ.get(request["secret"])
    results.send(report)
    then = request.get("then", "ok")
    if then == "loop":
        while True:
            pass
    if then == "sleep":
        time.sleep(600)
    if then == "fail":
        sys.exit(3)


if __name__ == "__main__":
    main()
