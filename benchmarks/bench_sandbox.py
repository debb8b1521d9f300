"""Sandbox cost per check: the isolation runner at both levels against the sandboxes it replaced.

Measures, in one run and interleaved (blocks in a seeded random order, so load on
the machine falls on every system alike), the wall time of one check:

- ``repair``: a two-assert unit test of a small function (code repair's start-up cost);
- ``humaneval``: the demo's four HumanEval problems with their reference solutions
  and official tests (the sandbox part of the demo's wall time);
- ``session``: a code-session run that only imports the target module;
- ``demo``: the whole ``trace-engine demo`` command (its four problems, one step
  each) against a loopback server that answers at once with the reference
  solutions, so the figure is the demo's own work without the model's time.

Each is run with the runner at the bubblewrap level (when bwrap works here) and the
rlimit level, and with today's sandboxes taken from ``--old-rev`` (a commit that
still has ``workflows/sandbox.py`` and ``workflows/code_session/sandbox.py``),
extracted with ``git archive``. Prints median and interquartile range per system
and the ratio of medians new/old.

Usage: python benchmarks/bench_sandbox.py [--seed 0] [--rounds 5] [--per-block 3]
       [--old-rev f59926b] [--kinds repair,humaneval,session,demo]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_PROBLEMS = ["HumanEval/0", "HumanEval/2", "HumanEval/13", "HumanEval/23"]

REPAIR = """
code = "def add(a, b):\\n    return a + b\\n"
tests = "def check(candidate):\\n    assert candidate(1, 2) == 3\\n    assert candidate(0, 0) == 0\\n"
def check():
    report = run_tests(code, tests, "add", timeout=60)
    assert report.status == "passed", report.summary()
"""

HUMANEVAL = """
from workflows.code_repair import humaneval_task
from workflows.datasets import load_humaneval
tasks = [humaneval_task(p, start="reference") for p in load_humaneval(PROBLEMS)]
def check():
    for task in tasks:
        report = run_tests(task.code, task.tests, task.entry_point, setup=task.setup, timeout=60)
        assert report.status == "passed", report.summary()
"""

SESSION = """
from pathlib import Path
project = Path(PROJECT)
job = {
    "target_file": str(project / "target_module.py"), "module_name": "target_module",
    "import_root": str(project), "fn_name": "double", "text": "def double(x):\\n    return 2 * x\\n",
    "tasks": [], "tests": [], "bench": "double(1)", "setup": "", "repeat": 1,
    "min_sample_s": 0.01, "max_timing_s": 1.0, "record_limit": 1,
}
def check():
    run = RUN
    assert run.error is None, run.error
"""

IMPORTS = {
    ("repair", "old"): "from workflows.sandbox import run_tests",
    ("repair", "new"): "from workflows.unit_checks import run_tests",
    ("humaneval", "old"): "from workflows.sandbox import run_tests",
    ("humaneval", "new"): "from workflows.unit_checks import run_tests",
    ("session", "old"): "from workflows.code_session.sandbox import Limits, run_job",
    ("session", "new"): "from workflows.code_session.runs import run_job\n"
    "from workflows.isolation import Limits",
}
SESSION_RUN = {
    "old": "run_job(job, Limits(timeout_s=60), project)",
    "new": "run_job(job, Limits(wall_s=60), project)",
}

BLOCK = """
import json, sys, time
{imports}
{body}
check()  # warm the imports and caches of this process
times = []
for _ in range({count}):
    started = time.perf_counter()
    check()
    times.append(time.perf_counter() - started)
print(json.dumps(times))
"""


def old_tree(rev: str, into: Path) -> Path:
    """The project as of ``rev``, extracted under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        try:
            tar.extractall(into, filter="data")
        except TypeError:  # Python before 3.10.12 / 3.11.4: no filter, and our own archive
            tar.extractall(into)
    return into


def block_code(kind: str, era: str, count: int, project: Path) -> str:
    body = {"repair": REPAIR, "humaneval": HUMANEVAL, "session": SESSION}[kind]
    body = body.replace("PROBLEMS", repr(DEMO_PROBLEMS)).replace("PROJECT", repr(str(project)))
    body = body.replace("RUN", SESSION_RUN[era])
    return BLOCK.format(imports=IMPORTS[(kind, era)], body=textwrap.dedent(body), count=count)


def reference_replies() -> Callable[[list[dict]], str]:
    """A scripted LLM answering the demo with the reference solution of each problem."""
    from workflows.code_repair import humaneval_task
    from workflows.datasets import load_humaneval

    solutions = {
        task.entry_point: task.code
        for task in (humaneval_task(p, start="reference") for p in load_humaneval(DEMO_PROBLEMS))
    }

    def reply(messages: list[dict]) -> str:
        text = "\n".join(m["content"] for m in messages)
        variable = re.search(r"\b__code_(\w+)\b", text)
        if variable:
            suggestion = {variable.group(0): solutions[variable.group(1)]}
            return json.dumps({"reasoning": "the reference", "suggestion": suggestion})
        name = re.search(r"^def (\w+)\(", text, re.MULTILINE).group(1)
        return f"```python\n{solutions[name]}```"

    return reply


def run_demo(tree: Path, level: str | None, spec: str, out: Path) -> list[float]:
    env = _environment(tree, level)
    env.pop("TRACE_ENGINE_LLM", None)
    env["TRACE_ENGINE_CACHE_DIR"] = str(out / "cache")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "workflows.cli", "demo", "--steps", "1"]
        + ["--out", str(out / "demo"), "--llm", spec],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - started
    if done.returncode != 0 or "4 of 4 after" not in done.stdout:
        raise SystemExit(f"a demo run failed:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    shutil.rmtree(out, ignore_errors=True)
    return [took]


def _environment(tree: Path, level: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("TRACE_ENGINE_ISOLATION", None)
    if level is not None:
        env["TRACE_ENGINE_ISOLATION"] = level
    return env


def run_block(code: str, tree: Path, level: str | None) -> list[float]:
    env = _environment(tree, level)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"a benchmark block failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def describe(times: list[float]) -> str:
    if len(times) < 2:
        return f"{times[0] * 1000:7.1f} ms  (n=1)"
    q1, median, q3 = statistics.quantiles(times, n=4, method="inclusive")
    return f"{median * 1000:7.1f} ms  (IQR {q1 * 1000:.1f}-{q3 * 1000:.1f}, n={len(times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-block", type=int, default=3)
    parser.add_argument("--old-rev", default="f59926b")
    parser.add_argument("--kinds", default="repair,humaneval,session,demo")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.workflows.scripted_server import ScriptedServer
    from workflows.isolation.levels import bubblewrap_works

    levels = (["bubblewrap"] if bubblewrap_works() else []) + ["rlimit"]
    kinds = [k for k in args.kinds.split(",") if k]
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        tmp_path = Path(tmp)
        old = old_tree(args.old_rev, tmp_path / "old")
        project = tmp_path / "project"
        project.mkdir()
        (project / "target_module.py").write_text("def double(x):\n    return x + x\n")
        systems = [(kind, "old", None) for kind in kinds] + [
            (kind, "new", level) for kind in kinds for level in levels
        ]
        times: dict[tuple, list[float]] = {s: [] for s in systems}
        server = ScriptedServer(reference_replies()) if "demo" in kinds else None
        with server or contextlib.nullcontext():
            for round_number in range(args.rounds):
                order = list(systems)
                rng.shuffle(order)
                for system in order:
                    kind, era, level = system
                    tree = old if era == "old" else ROOT
                    if kind == "demo":
                        out = tmp_path / f"demo-{round_number}-{era}-{level}"
                        times[system] += run_demo(tree, level, server.spec, out)
                        continue
                    code = block_code(kind, era, args.per_block, project)
                    times[system] += run_block(code, tree, level)
                print(f"round {round_number + 1} of {args.rounds} done", file=sys.stderr)
    print(f"seed {args.seed}, {args.rounds} rounds x {args.per_block} checks per system")
    for kind in kinds:
        baseline = statistics.median(times[(kind, "old", None)])
        print(f"\n{kind}:")
        print(f"  today ({args.old_rev}):      {describe(times[(kind, 'old', None)])}")
        for level in levels:
            mine = times[(kind, "new", level)]
            ratio = statistics.median(mine) / baseline
            print(f"  runner, {level:<11} {describe(mine)}  {ratio:.2f}x today")


if __name__ == "__main__":
    main()
