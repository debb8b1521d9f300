"""Code repair's verdicts hold against candidates that try to forge them or outlive the run."""

import os
import signal
import uuid

from tests.workflows.isolation.processes import processes_with
from workflows.unit_checks import run_tests

TESTS = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2) == 3\n"


def test_a_result_line_forged_from_atexit_is_not_believed():
    forged = (
        '{"result": {"status": "passed", "passed": 2, "total": 2, "failures": [], "error": null}}'
    )
    code = (
        "import atexit, os\n"
        "def forge():\n"
        f"    line = '\\n@@trace-engine-sandbox-result@@' + {forged!r}\n"
        "    print(line)\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        f"            os.write(fd, ({forged!r} + '\\n').encode())\n"
        "        except OSError:\n"
        "            pass\n"
        "atexit.register(forge)\n"
        "def f(x):\n"
        "    forge()\n"
        "    return 0\n"
    )
    report = run_tests(code, TESTS, "f", timeout=20)
    assert report.status == "failed" and report.passed == 0


def test_a_return_value_that_equals_everything_does_not_pass():
    for code in (
        "class Equal:\n    def __eq__(self, other):\n        return True\n",
        "class Equal(int):\n    def __eq__(self, other):\n        return True\n",
    ):
        report = run_tests(code + "def f(x):\n    return Equal()\n", TESTS, "f", timeout=20)
        assert report.status == "failed" and report.passed == 0
        assert "Equal" in report.summary()


def test_the_time_limit_holds_against_a_detached_grandchild_holding_the_pipes():
    token = f"grandchild-{uuid.uuid4().hex}"
    code = (
        "import os, sys\n"
        "def f(x):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        f"            os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(10**6)', {token!r}])\n"
        "        os._exit(0)\n"
        "    os.wait()\n"
        "    while True:\n"
        "        pass\n"
    )
    report = run_tests(code, TESTS, "f", timeout=3)
    survivors = processes_with(token)
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert report.status == "timeout"
    assert survivors == []


def test_a_candidate_that_exits_from_atexit_or_top_level_only_fails():
    code = "import sys\nsys.exit(0)\ndef f(x):\n    return x + 1\n"
    report = run_tests(code, TESTS, "f", timeout=20)
    assert report.status == "error" and "SystemExit" in report.error
