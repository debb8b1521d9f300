"""Code sessions with the embedded local model: small slow functions, or real networkx code.

``--suite small`` (default): each function in ``benchmarks/code_session_targets/``
(with its tests) is copied into a temporary directory and optimized.
``--suite networkx``: the installed networkx package's source, its own test
modules included, is copied into a temporary project; four of its functions
(a small utility, a decorated algorithm, nested loops, a serializer) are
optimized there one after another, each with its module's networkx tests, and
after each session those tests run again on the written-back file in a fresh
process. Nothing is downloaded; the originals are never touched.

Each session is ``trace-engine code-session --auto`` (speedups from alternated
timing in fresh processes). Prints, per function: accepted or not, the speedup
with its range, rounds, whether the tests still pass after write-back, LLM
tokens and wall time. Run it alone (the model uses every core):

    python benchmarks/bench_code_session.py [--suite networkx] [--rounds N] [--seed S] [NAME ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from independent_speedup import AGREEMENT, check_session

from workflows.cli import main as cli_main

TARGETS = Path(__file__).parent / "code_session_targets"

CASES = {
    "duplicates": (
        "find_duplicates",
        "import random; random.seed(1); data = [random.randrange(400) for _ in range(1200)]",
        "find_duplicates(data)",
    ),
    "primes": ("primes_below", "", "primes_below(1500)"),
    "fibonacci": ("fibonacci", "", "fibonacci(20)"),
    "word_counts": (
        "word_counts",
        "import random; random.seed(2); text = ' '.join(random.choice(['a','bb','Cc','dd','e','ff','gg','hh']) + str(random.randrange(150)) for _ in range(3000))",
        "word_counts(text)",
    ),
    "pair_sums": (
        "pairs_with_sum",
        "import random; random.seed(3); numbers = [random.randrange(100) for _ in range(400)]",
        "pairs_with_sum(numbers, 100)",
    ),
}


NETWORKX_CASES = {
    # a small utility: nested sequences flattened into a tuple
    "flatten": (
        "networkx.utils.misc:flatten",
        "networkx/utils/tests/test_misc.py",
        "import random; random.seed({seed}); "
        "data = [[random.random(), (i, [i + 1, 'x']), ()] for i in range(3000)]",
        "flatten(data)",
    ),
    # a decorated algorithm (@nx._dispatchable) that reads G.degree, a cached view
    "s_metric": (
        "networkx.algorithms.smetric:s_metric",
        "networkx/algorithms/tests/test_smetric.py",
        "import networkx as nx; G = nx.gnm_random_graph(2000, 8000, seed={seed})",
        "s_metric(G)",
    ),
    # nested loops: edge lists compared with a count per edge
    "edges_equal": (
        "networkx.utils.misc:edges_equal",
        "networkx/utils/tests/test_misc.py",
        "import networkx as nx; G = nx.gnm_random_graph(300, 1500, seed={seed}); "
        "e1 = list(G.edges(data=True)); e2 = e1[::-1]",
        "edges_equal(e1, e2)",
    ),
    # a serializer that yields one line per node
    "generate_adjlist": (
        "networkx.readwrite.adjlist:generate_adjlist",
        "networkx/readwrite/tests/test_adjlist.py",
        "import networkx as nx; G = nx.gnm_random_graph(1500, 6000, seed={seed})",
        "list(generate_adjlist(G))",
    ),
}


def run_case(name: str, rounds: int, work: Path) -> dict:
    fn, setup, bench = CASES[name]
    project = work / name
    project.mkdir()
    shutil.copy(TARGETS / f"{name}.py", project)
    shutil.copy(TARGETS / f"test_{name}.py", project)
    return run_session(name, project, f"{name}.py::{fn}", [f"test_{name}.py"], setup, bench, rounds)


def run_networkx_case(name: str, rounds: int, seed: int, project: Path, pairs: int) -> dict:
    target, tests, setup, bench = NETWORKX_CASES[name]
    row = run_session(
        name, project, target, [tests], setup.format(seed=seed), bench, rounds, root=project
    )
    if row.get("written"):
        fn_name = target.rpartition(":")[2]
        row["tests_after"] = tests_pass(project, [tests])
        row["tests_using"] = tests_pass(project, test_modules_using(project, fn_name))
        row["independent"] = check_session(project / f"session-{name}", pairs)
    return row


def copy_networkx(project: Path) -> None:
    """The installed networkx package's source (test modules included) as ``project/networkx``."""
    import networkx

    source = Path(networkx.__file__).parent
    shutil.copytree(source, project / "networkx", ignore=shutil.ignore_patterns("__pycache__"))


def test_modules_using(project: Path, fn_name: str) -> list[str]:
    """networkx's test modules that mention ``fn_name`` (tests the session was not given)."""
    word = re.compile(rf"\b{re.escape(fn_name)}\b")
    return sorted(
        str(path.relative_to(project))
        for path in (project / "networkx").rglob("test_*.py")
        if word.search(path.read_text(encoding="utf-8"))
    )


PYTEST_FROM_COPY = (
    "import sys, networkx, pytest\n"
    "if not networkx.__file__.startswith(sys.argv[1]):\n"
    "    sys.exit(f'networkx came from {networkx.__file__}, not the copy')\n"
    "sys.exit(pytest.main(sys.argv[2:]))\n"
)


def tests_pass(project: Path, tests: list[str]) -> bool:
    """Whether ``tests`` pass in a fresh process that imports networkx from ``project``
    (it fails when networkx would come from anywhere else)."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PYTEST_FROM_COPY,
            str(project),
            *tests,
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return done.returncode == 0


def run_session(
    name: str,
    project: Path,
    target: str,
    tests: list[str],
    setup: str,
    bench: str,
    rounds: int,
    root: Path | None = None,
) -> dict:
    argv = [
        "code-session",
        target,
        *[x for t in tests for x in ("--tests", t)],
        "--setup",
        setup,
        "--bench",
        bench,
        "--llm",
        "local",
        "--auto",
        "--rounds",
        str(rounds),
        "--repeat",
        "5",
        "--session-dir",
        f"session-{name}",
        *(["--root", str(root)] if root else []),
    ]
    started = time.perf_counter()
    log = io.StringIO()
    previous = Path.cwd()
    os.chdir(project)
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = cli_main(argv)
    finally:
        os.chdir(previous)
    seconds = time.perf_counter() - started
    report_path = project / f"session-{name}" / "report.json"
    if code != 0 or not report_path.exists():
        return {
            "name": name,
            "error": f"exit code {code}: {log.getvalue()[-500:]}",
            "seconds": seconds,
        }
    report = json.loads(report_path.read_text())
    speedup = report["result"]["speedup"]
    statuses = [c["status"] for c in report["candidates"]]
    return {
        "name": name,
        "accepted": report["result"]["accepted_candidate"] is not None,
        "speedup": speedup["value"] if speedup else None,
        "range": (speedup["low"], speedup["high"]) if speedup else None,
        "written": report["result"]["written_back"],
        "rounds": report["rounds"]["done"],
        "statuses": statuses,
        "calls": report["llm_usage"]["calls"],
        "tokens": report["llm_usage"]["total_tokens"],
        "completion_tokens": report["llm_usage"]["completion_tokens"],
        "llm_seconds": report["llm_usage"]["seconds"],
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="cases to run (default: all of the suite)")
    parser.add_argument("--suite", choices=("small", "networkx"), default="small")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="seed of the benchmark inputs")
    parser.add_argument(
        "--pairs",
        type=int,
        default=7,
        help="process pairs of the independent alternated timing of accepted versions (default 7)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="work in DIR (must not exist) and keep it: projects, sessions and their reports",
    )
    args = parser.parse_args()
    cases = NETWORKX_CASES if args.suite == "networkx" else CASES
    names = args.names or list(cases)
    unknown = [n for n in names if n not in cases]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(cases)}")
    if args.keep is not None and args.keep.exists():
        parser.error(f"--keep {args.keep} already exists; give a new directory")
    with contextlib.ExitStack() as stack:
        if args.keep is None:
            work = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-code-session-"))
            )
        else:
            args.keep.mkdir(parents=True)
            work = args.keep.resolve()
        os.environ["TRACE_ENGINE_CACHE_DIR"] = str(work / "llm-cache")
        if args.suite == "networkx":
            project = work / "project"
            project.mkdir()
            copy_networkx(project)
        print(
            f"{'function':<16} {'accepted':>8} {'speedup':>9} {'range':>15} {'independent':>23} "
            f"{'tests after':>11} {'tests using':>11} {'rounds':>6} {'calls':>5} {'tokens':>7} "
            f"{'wall s':>7}  candidates"
        )
        for name in names:
            if args.suite == "networkx":
                row = run_networkx_case(name, args.rounds, args.seed, project, args.pairs)
            else:
                row = run_case(name, args.rounds, work)
            print_row(row)


def print_row(row: dict) -> None:
    name = row["name"]
    if "error" in row:
        print(f"{name:<16} error after {row['seconds']:.0f} s: {row['error']}", flush=True)
        return
    speedup = f"{row['speedup']:.2f}x" if row["speedup"] else "-"
    spread = f"{row['range'][0]:.2f}x-{row['range'][1]:.2f}x" if row["range"] else "-"
    found = row.get("independent")
    if found:
        ind = found["independent"]
        verdict = "agree" if found["agrees"] else "DIFFER"
        independent = f"{ind['value']:.2f}x {verdict}"
    else:
        independent = "-"
    shown = {True: "pass", False: "FAIL", None: "-"}
    print(
        f"{name:<16} {('yes' if row['accepted'] else 'no'):>8} {speedup:>9} {spread:>15} "
        f"{independent:>23} {shown[row.get('tests_after')]:>11} "
        f"{shown[row.get('tests_using')]:>11} {row['rounds']:>6} {row['calls']:>5} "
        f"{row['tokens']:>7} {row['seconds']:>7.0f}  {', '.join(row['statuses'])}",
        flush=True,
    )
    if found:
        ind = found["independent"]
        print(
            f"{'':<16} independent: {ind['value']:.2f}x ({ind['low']:.2f}x-{ind['high']:.2f}x), "
            f"session {found['session']:.2f}x: "
            f"{'within' if found['agrees'] else 'NOT within'} {AGREEMENT:.0%}",
            flush=True,
        )


if __name__ == "__main__":
    main()
