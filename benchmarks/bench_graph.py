"""Graph-work benchmark: building, backward and per-parameter subgraph extraction.

Shapes: a chain (one parameter, N ops), a wide fan-in (N/2 parameters, each
scaled, all joined by one op) and a wide fan-out (one parameter, N outputs each
with feedback). Prints microseconds per operation for each phase, memory per
node, and the growth from 10k to 100k operations. Run: python benchmarks/bench_graph.py
"""

from __future__ import annotations

import gc
import statistics
import subprocess
import sys
import time
import tracemalloc

from trace_engine import feedback_graph, node, zero_feedback
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
    zero_feedback()
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
    graph = feedback_graph(params)
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
    zero_feedback()
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


REPEATS = 3


def main() -> None:
    print(f"best of {REPEATS} runs per size")
    sizes = [1_000, 10_000, 100_000]
    print(
        f"{'shape':8} {'ops':>7} {'build us/op':>12} {'backward us/op':>15} "
        f"{'extract us/op':>14} {'bwd+extract s':>14} {'bytes/node':>11}"
    )
    for shape in (chain, fan_in, fan_out):
        results = {}
        for n in sizes:
            runs = [measure(shape, n) for _ in range(REPEATS)]
            r = {key: min(run[key] for run in runs) for key in runs[0]}
            results[n] = r
            print(
                f"{shape.__name__:8} {n:>7} {r['build_us_per_op']:>12.2f} "
                f"{r['backward_us_per_op']:>15.2f} {r['extract_us_per_op']:>14.2f} "
                f"{r['backward_plus_extract_s']:>14.3f} {r['bytes_per_node']:>11.0f}"
            )
        growth = (
            results[100_000]["backward_plus_extract_s"] / results[10_000]["backward_plus_extract_s"]
        )
        print(f"{shape.__name__:8} growth of backward+extract from 10k to 100k ops: {growth:.1f}x")
    with_import, bare = import_time()
    print(
        f"python -c 'import trace_engine': {with_import:.3f} s (bare interpreter {bare:.3f} s, "
        f"import alone {with_import - bare:.3f} s)"
    )


if __name__ == "__main__":
    main()
