"""Graph-work benchmark: building, backward and per-parameter subgraph extraction,
and the cost of a ``@bundle`` call beside trace-opt's.

Shapes: a chain (one parameter, N ops), a wide fan-in (N/2 parameters, each
scaled, all joined by one op) and a wide fan-out (one parameter, N outputs each
with feedback). Prints microseconds per operation for each phase (median and
range over the repeats), memory per node, and the growth from 10k to 100k
operations. The bundle section times the same bundled function in trace-engine
and, when installed, in trace-opt (``pip install trace-opt``), interleaved in one
run so both see the same machine load.
Run: python benchmarks/bench_graph.py --seed 0 --repeats 3
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import subprocess
import sys
import time
import tracemalloc

from trace_engine import bundle, feedback_graph, node
from trace_engine.nodes import apply
from trace_engine.operators import TO_LIST


def chain(n: int):
    x = node(0.0, trainable=True, name="x")
    step = node(1.0, name="step")
    out = x
    for _ in range(n):
        out = out + step
    return [x], [out]


def fan_in(n: int):
    params = [node(1.0, trainable=True, name="p") for _ in range(n // 2)]
    factor = node(2.0, name="factor")
    scaled = [p * factor for p in params]
    joined = apply(TO_LIST, *scaled)
    return params, [joined]


def fan_out(n: int):
    x = node(1.0, trainable=True, name="x")
    return [x], [x + i for i in range(n)]


def measure(shape, n: int) -> dict[str, float]:
    gc.collect()
    tracemalloc.start()
    kept = shape(n)
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    gc.collect()
    start = time.perf_counter()
    params, outputs = shape(n)
    build = time.perf_counter() - start
    start = time.perf_counter()
    for out in outputs:
        out.backward("feedback")
    graph = feedback_graph(params, outputs)
    backward = time.perf_counter() - start
    start = time.perf_counter()
    extracted = sum(len(graph.subgraph(p)) for p in params)
    extract = time.perf_counter() - start
    nodes = len(graph)
    result = {
        "build_us_per_op": build / n * 1e6,
        "backward_us_per_op": backward / n * 1e6,
        "extract_us_per_op": extract / n * 1e6,
        "backward_plus_extract_s": backward + extract,
        "bytes_per_node": memory / max(nodes, 1),
        "nodes": nodes,
        "extracted": extracted,
    }
    del params, outputs, graph
    return result


def import_time() -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import trace_engine"], check=True)
        with_import = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        runs.append((with_import, time.perf_counter() - start))
    return statistics.median(a for a, _ in runs), statistics.median(b for _, b in runs)


def bundle_call_us(calls: int, values: list[int]) -> float:
    """Microseconds per call of a bundled two-argument function in trace-engine."""

    @bundle()
    def add(x, y):
        """Adds."""
        return x + y

    x, y = node(values[0]), node(values[1])
    start = time.perf_counter()
    for _ in range(calls):
        add(x, y)
    return (time.perf_counter() - start) / calls * 1e6


def trace_opt_bundle_call_us(calls: int, values: list[int]) -> float | None:
    """The same in trace-opt; ``None`` when trace-opt is not installed."""
    try:
        from opto.trace import GRAPH
        from opto.trace import bundle as opto_bundle
        from opto.trace import node as opto_node
    except ImportError:
        return None

    def add(x, y):
        """Adds."""
        return x + y

    add = opto_bundle()(add)
    x, y = opto_node(values[0]), opto_node(values[1])
    GRAPH.clear()
    start = time.perf_counter()
    for _ in range(calls):
        add(x, y)
    elapsed = time.perf_counter() - start
    GRAPH.clear()
    return elapsed / calls * 1e6


def spread(values: list[float], fmt: str = ".2f") -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def bundle_section(repeats: int, rng: random.Random) -> None:
    calls = 2000
    ours, theirs = [], []
    for _ in range(repeats):
        values = [rng.randint(0, 100), rng.randint(0, 100)]
        ours.append(bundle_call_us(calls, values))
        other = trace_opt_bundle_call_us(calls, values)
        if other is not None:
            theirs.append(other)
    print(f"@bundle call, {calls} calls x {repeats} repeats (median [min-max] us per call)")
    print(f"  trace-engine {spread(ours)}")
    if not theirs:
        print("  trace-opt    not installed (pip install trace-opt) - comparison skipped")
        return
    ratios = [b / a for a, b in zip(ours, theirs)]
    print(f"  trace-opt    {spread(theirs)}")
    print(f"  trace-opt / trace-engine per repeat: {spread(ratios, '.1f')}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"seed {args.seed}; median [min-max] of {args.repeats} runs per size")
    sizes = [1_000, 10_000, 100_000]
    print(
        f"{'shape':8} {'ops':>7} {'build us/op':>20} {'backward us/op':>15} "
        f"{'extract us/op':>14} {'bwd+extract s':>22} {'bytes/node':>11}"
    )
    shapes = [chain, fan_in, fan_out]
    rng.shuffle(shapes)
    for shape in shapes:
        results = {}
        for n in sizes:
            runs = [measure(shape, n) for _ in range(args.repeats)]
            r = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            results[n] = r
            build = spread([run["build_us_per_op"] for run in runs])
            total = spread([run["backward_plus_extract_s"] for run in runs], ".3f")
            print(
                f"{shape.__name__:8} {n:>7} {build:>20} "
                f"{r['backward_us_per_op']:>15.2f} {r['extract_us_per_op']:>14.2f} "
                f"{total:>22} {r['bytes_per_node']:>11.0f}"
            )
        growth = (
            results[100_000]["backward_plus_extract_s"] / results[10_000]["backward_plus_extract_s"]
        )
        print(f"{shape.__name__:8} growth of backward+extract from 10k to 100k ops: {growth:.1f}x")
    bundle_section(args.repeats, rng)
    with_import, bare = import_time()
    print(
        f"python -c 'import trace_engine': {with_import:.3f} s (bare interpreter {bare:.3f} s, "
        f"import alone {with_import - bare:.3f} s)"
    )


if __name__ == "__main__":
    main()
