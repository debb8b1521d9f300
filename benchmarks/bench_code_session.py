"""Code sessions with the embedded local model on deliberately slow functions.

Each function in ``benchmarks/code_session_targets/`` (with its tests) is copied
into a temporary directory and optimized with ``trace-engine code-session
--auto --rounds 3``; the originals are never touched. Prints, per function:
accepted or not, the speedup of the accepted version, rounds, LLM tokens and
wall time. Run it alone (the model uses every core):

    python benchmarks/bench_code_session.py [--rounds N] [NAME ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

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


def run_case(name: str, rounds: int, work: Path) -> dict:
    fn, setup, bench = CASES[name]
    project = work / name
    project.mkdir()
    shutil.copy(TARGETS / f"{name}.py", project)
    shutil.copy(TARGETS / f"test_{name}.py", project)
    argv = [
        "code-session",
        f"{name}.py::{fn}",
        "--tests",
        f"test_{name}.py",
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
        "session",
    ]
    started = time.perf_counter()
    log = io.StringIO()
    previous = Path.cwd()
    os.chdir(project)
    try:
        with contextlib.redirect_stdout(log):
            code = cli_main(argv)
    finally:
        os.chdir(previous)
    seconds = time.perf_counter() - started
    report_path = project / "session" / "report.json"
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
        "rounds": report["rounds"]["done"],
        "statuses": statuses,
        "tokens": report["llm_usage"]["total_tokens"],
        "completion_tokens": report["llm_usage"]["completion_tokens"],
        "llm_seconds": report["llm_usage"]["seconds"],
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", help=f"cases to run (default: all of {', '.join(CASES)})"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    names = args.names or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    with tempfile.TemporaryDirectory(prefix="bench-code-session-") as tmp:
        work = Path(tmp)
        os.environ["TRACE_ENGINE_CACHE_DIR"] = str(work / "llm-cache")
        print(
            f"{'function':<12} {'accepted':>8} {'speedup':>9} {'rounds':>6} {'tokens':>7} {'wall s':>7}  candidates"
        )
        for name in names:
            row = run_case(name, args.rounds, work)
            if "error" in row:
                print(f"{name:<12} error after {row['seconds']:.0f} s: {row['error']}")
                continue
            speedup = f"{row['speedup']:.2f}x" if row["speedup"] else "-"
            print(
                f"{name:<12} {('yes' if row['accepted'] else 'no'):>8} {speedup:>9} {row['rounds']:>6} "
                f"{row['tokens']:>7} {row['seconds']:>7.0f}  {', '.join(row['statuses'])}",
                flush=True,
            )


if __name__ == "__main__":
    main()
