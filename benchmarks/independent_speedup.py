"""An independent measurement of a code session's reported speedup.

The session times original and candidate itself (CPU time of fresh sandboxed
processes, start-up subtracted). This script measures the same benchmark
another way, sharing no code with the session: two copies of the project's
package, one with the target file as the session found it (kept in its
state), one with the file as the session wrote it (``accepted_<file>``), and
plain ``python -c`` processes (no sandbox) that import the function from one
copy and time the benchmark with :mod:`timeit` (the process's CPU time, so
other jobs on the machine weigh less; median of five repeats). Processes run
in pairs, original and candidate alternately, the order swapped every pair;
a pair's ratio is one speedup sample. Each process checks that it imported
the function from its own copy, not from an installed library.

    python benchmarks/independent_speedup.py WORK_DIR [--pairs N]

``WORK_DIR`` is a directory kept by ``bench_code_session.py --keep``; every
session in it that accepted a candidate is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

AGREEMENT = 0.30
"""The largest relative difference between the two speedups that counts as agreeing."""

PROBE = r"""
import importlib, json, statistics, sys, time, timeit
tree, module_name, fn_name, setup, bench = sys.argv[1:6]
module = importlib.import_module(module_name)
if not module.__file__.startswith(tree):
    sys.exit(f"{module_name} came from {module.__file__}, not from {tree}")
namespace = {fn_name: getattr(module, fn_name)}
exec(setup, namespace)
timer = timeit.Timer(bench, timer=time.process_time, globals=namespace)
number, _ = timer.autorange()
times = timer.repeat(repeat=5, number=number)
print(json.dumps({"per_call": statistics.median(times) / number, "file": module.__file__}))
"""


def time_once(tree: Path, module: str, fn: str, setup: str, bench: str) -> float:
    """Seconds per call of ``bench`` in a fresh process importing ``module`` from ``tree``."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tree), module, fn, setup, bench],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"timing in {tree} failed: {done.stderr.strip()[-600:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["per_call"]


def alternated_speedup(
    original: Path, candidate: Path, module: str, fn: str, setup: str, bench: str, pairs: int
) -> dict:
    """Median and range of the per-pair speedups (original's time over the candidate's)."""
    ratios = []
    for number in range(pairs):
        sides = [("original", original), ("candidate", candidate)]
        if number % 2:
            sides.reverse()
        times = {name: time_once(tree, module, fn, setup, bench) for name, tree in sides}
        ratios.append(times["original"] / times["candidate"])
    return {"value": statistics.median(ratios), "low": min(ratios), "high": max(ratios)}


def agrees(session: float, independent: float) -> bool:
    """Whether the session's speedup is within ``AGREEMENT`` of the independent one."""
    return abs(session - independent) <= AGREEMENT * independent


def project_copy(root: Path, into: Path, relative: Path, text: str) -> Path:
    """``into`` holding a copy of the package (or single module) of ``root / relative``,
    with that file's text replaced by ``text``."""
    top = relative.parts[0]
    if len(relative.parts) > 1:
        shutil.copytree(root / top, into / top, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        into.mkdir(parents=True)
    (into / relative).write_text(text, encoding="utf-8")
    return into


def check_session(session_dir: Path, pairs: int) -> dict | None:
    """The independent speedup of the session's accepted version, or None if none was accepted."""
    state = json.loads((session_dir / "state.json").read_text(encoding="utf-8"))
    if state["accepted_id"] is None:
        return None
    target = state["target"]
    root = Path(target["import_root"])
    path = Path(target["path"])
    relative = path.relative_to(root)
    accepted = session_dir / f"accepted_{path.name}"
    session_speedup = next(
        c["evaluation"]["speedup"]["value"]
        for c in state["candidates"]
        if c["id"] == state["accepted_id"]
    )
    workload = state["workload"]
    with tempfile.TemporaryDirectory(prefix="independent-speedup-") as tmp:
        original = project_copy(root, Path(tmp) / "original", relative, state["original_text"])
        candidate = project_copy(
            root, Path(tmp) / "candidate", relative, accepted.read_text(encoding="utf-8")
        )
        independent = alternated_speedup(
            original,
            candidate,
            target["module_name"],
            target["fn_name"],
            workload["setup"],
            workload["bench"],
            pairs,
        )
    return {
        "session": session_speedup,
        "independent": independent,
        "agrees": agrees(session_speedup, independent["value"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path, help="a directory kept by bench_code_session --keep")
    parser.add_argument("--pairs", type=int, default=7, help="alternated process pairs (default 7)")
    args = parser.parse_args()
    sessions = sorted(args.work_dir.glob("*/session-*/state.json"))
    if not sessions:
        parser.error(f"no sessions under {args.work_dir}; give a directory kept with --keep")
    for state in sessions:
        found = check_session(state.parent, args.pairs)
        name = state.parent.name.removeprefix("session-")
        if found is None:
            print(f"{name:<18} nothing accepted")
            continue
        ind = found["independent"]
        print(
            f"{name:<18} session {found['session']:.2f}x  independent {ind['value']:.2f}x "
            f"({ind['low']:.2f}x-{ind['high']:.2f}x)  "
            f"{'agree' if found['agrees'] else 'DISAGREE'} within {AGREEMENT:.0%}",
            flush=True,
        )


if __name__ == "__main__":
    main()
