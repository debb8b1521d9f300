"""Scaling out: concurrent model calls, and rollouts serial vs threads vs Ray tasks.

    python benchmarks/bench_scale.py --seed 0 --calls 64 --delay 0.1 --repeats 3
    python benchmarks/bench_scale.py --part rollouts --seed 0 --rollouts 64 --repeats 3

Rollouts (``--part rollouts``; needs ray): each of ``--rollouts`` rollouts runs a
traced program whose trainable prompt goes to a scripted backend that answers
after ``--model-seconds`` (a sleep: a model server's latency, no CPU), then a
check that spends ``--check-seconds`` of CPU time in Python (holding the GIL,
as a test run or a parser would). They run through ``trace_engine.executors``:
serially (one thread), on ``--threads`` threads, and as Ray tasks on a local Ray
started with ``--ray-cpus`` CPUs, in an order shuffled per repeat from
``--seed``. Every mode must return the same scores, and every returned output
must reach the caller's own parameter. Speedups are serial's wall time over
each mode's in the same repeat; Ray's start-up is outside the timings.

Calls (``--part calls``):
A loopback OpenAI-compatible server (the tests' ScriptedServer: 127.0.0.1,
threaded) stands in for vLLM: it answers each request after ``--delay`` seconds, +-25% drawn per prompt from
``--seed`` (so every concurrency level meets the same delays). Each repeat
sends the same ``--calls`` distinct prompts through ``get_llm(...).complete_many``
(cache off) at each concurrency of ``--levels``, in an order shuffled per repeat; the
speedup of a level is its wall time over the wall time of concurrency 1 in that
repeat. One warm-up call per level comes first, outside the timings. Prints the
median and the range over repeats.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.workflows.scripted_server import ScriptedServer  # noqa: E402
from trace_engine import bundle, node  # noqa: E402
from trace_engine.executors import make_executor  # noqa: E402
from trace_engine.llm import CallableLLM, Metered, get_llm  # noqa: E402


def sleeping_reply(delay: float, seed: int):
    """An answer to each prompt after a seeded, per-prompt delay: a model server's latency."""

    def reply(messages: list[dict]) -> str:
        prompt = messages[-1]["content"]
        time.sleep(delay * random.Random(f"{seed}:{prompt}").uniform(0.75, 1.25))
        return f"re:{prompt}"

    return reply


def run_level(spec: str, prompts: list[str], concurrency: int) -> float:
    llm = get_llm(spec, cache=False, retries=1, max_concurrency=concurrency)
    start = time.perf_counter()
    answers = llm.complete_many(prompts, max_tokens=8)
    seconds = time.perf_counter() - start
    if [a.text for a in answers] != [f"re:{p}" for p in prompts]:
        raise SystemExit("bench_scale: answers came back wrong or out of order")
    return seconds


def spend_cpu(seconds: float) -> int:
    """Busy Python work until this thread has used ``seconds`` of CPU time."""
    start, rounds = time.thread_time(), 0
    while time.thread_time() - start < seconds:
        rounds += sum(i * i for i in range(2000)) % 7
    return rounds


def make_rollout(model_seconds: float, check_seconds: float) -> tuple[object, Callable]:
    """A trainable prompt and ``rollout(question) -> (score, output node)``."""
    prompt = node("Answer in one word:", trainable=True, name="prompt")

    def slow_model(messages: list[dict]) -> str:
        time.sleep(model_seconds)
        return messages[-1]["content"].split()[-1].upper()

    llm = Metered(CallableLLM(slow_model, name="slow_model"))

    @bundle()
    def ask(instruction: str, question: str) -> str:
        return llm.complete(f"{instruction} {question}").text

    def rollout(question: str) -> tuple[float, object]:
        answer = ask(prompt, question)
        spend_cpu(check_seconds)
        return float(answer.data == question.split()[-1].upper()), answer

    return prompt, rollout


def run_rollouts(args: argparse.Namespace) -> None:
    import ray

    ray.init(num_cpus=args.ray_cpus, include_dashboard=False, logging_level="WARNING")
    prompt, rollout = make_rollout(args.model_seconds, args.check_seconds)
    modes = {
        "serial": make_executor("thread", workers=1),
        f"thread x{args.threads}": make_executor("thread", workers=args.threads),
        f"ray ({args.ray_cpus} CPUs)": make_executor("ray"),
    }
    questions = [f"question {i} word{i % 5}" for i in range(args.rollouts)]
    for executor in modes.values():  # imports, Ray workers' start: outside the timings
        executor.map(rollout, questions[: args.ray_cpus * 2], parameters=[prompt])
    rng = random.Random(args.seed)
    times: dict[str, list[float]] = {m: [] for m in modes}
    reference = None
    for _ in range(args.repeats):
        order = list(modes)
        rng.shuffle(order)
        for mode in order:
            start = time.perf_counter()
            results = modes[mode].map(rollout, questions, parameters=[prompt])
            times[mode].append(time.perf_counter() - start)
            scores = [score for score, _ in results]
            if reference is None:
                reference = scores
            if scores != reference or any(prompt not in out.parents for _, out in results):
                raise SystemExit(f"bench_scale: {mode} gave other results than the first mode")
    ray.shutdown()
    serial = times["serial"]
    print(
        f"{args.rollouts} rollouts, model {args.model_seconds:g}s (sleep) + check "
        f"{args.check_seconds:g}s CPU each, seed {args.seed}, {args.repeats} repeats "
        "(median [min-max])"
    )
    for mode, t in times.items():
        s = [a / b for a, b in zip(serial, t)]
        print(
            f"{mode:<16} {statistics.median(t):6.2f}s [{min(t):.2f}-{max(t):.2f}]  "
            f"speedup {statistics.median(s):.2f}x [{min(s):.2f}-{max(s):.2f}]"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("calls", "rollouts"), default="calls")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calls", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds per request")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--levels", default="1,8", help="concurrency levels, 1 first")
    parser.add_argument("--rollouts", type=int, default=64)
    parser.add_argument("--model-seconds", type=float, default=0.2)
    parser.add_argument("--check-seconds", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--ray-cpus", type=int, default=2)
    args = parser.parse_args()
    if args.part == "rollouts":
        if min(args.rollouts, args.repeats, args.threads, args.ray_cpus) < 1:
            raise SystemExit("bench_scale: --rollouts, --repeats, --threads, --ray-cpus >= 1")
        run_rollouts(args)
        return
    levels = [int(x) for x in args.levels.split(",")]
    if levels[0] != 1 or any(c < 1 for c in levels) or args.calls < 1 or args.repeats < 1:
        raise SystemExit("bench_scale: --levels must start with 1; --calls, --repeats >= 1")
    rng = random.Random(args.seed)
    times: dict[int, list[float]] = {c: [] for c in levels}
    speedups: dict[int, list[float]] = {c: [] for c in levels}
    with ScriptedServer(sleeping_reply(args.delay, args.seed)) as server:
        for c in levels:  # the SDK's import and each backend's client, outside the timings
            run_level(server.spec, ["warm-up"], c)
        for _ in range(args.repeats):
            order = levels[:]
            rng.shuffle(order)
            prompts = [f"question {i}" for i in range(args.calls)]
            got = {c: run_level(server.spec, prompts, c) for c in order}
            for c in levels:
                times[c].append(got[c])
                speedups[c].append(got[1] / got[c])
    print(
        f"{args.calls} calls, server delay {args.delay:g}s +-25% per prompt, "
        f"seed {args.seed}, {args.repeats} repeats (median [min-max])"
    )
    for c in levels:
        t, s = times[c], speedups[c]
        print(
            f"concurrency {c:>2}: {statistics.median(t):.2f}s [{min(t):.2f}-{max(t):.2f}]  "
            f"speedup {statistics.median(s):.2f}x [{min(s):.2f}-{max(s):.2f}]"
        )


if __name__ == "__main__":
    main()
