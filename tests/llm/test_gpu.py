"""The transformers/GPU backend: batching logic always, the model only on a CUDA machine."""

import threading
import time

import pytest

from trace_engine.llm.batching import Batcher
from trace_engine.llm.gpu import TransformersLLM


def test_concurrent_requests_share_batches():
    seen = []

    def run(key, requests):
        seen.append((key, list(requests)))
        time.sleep(0.02)
        return [f"{key}:{r}" for r in requests]

    batcher = Batcher(run, max_batch=4, window=0.05)
    results = {}

    def worker(i):
        results[i] = batcher.submit("k", [i])[0]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"k:{i}" for i in range(8)}
    assert max(batcher.batch_sizes) == 4 and sum(batcher.batch_sizes) == 8
    assert len(batcher.batch_sizes) < 8


def test_requests_with_different_settings_are_not_mixed():
    batcher = Batcher(lambda key, reqs: [(key, r) for r in reqs], max_batch=8, window=0.05)
    out = {}
    threads = [
        threading.Thread(target=lambda k=k, i=i: out.__setitem__((k, i), batcher.submit(k, [i])[0]))
        for k in ("a", "b")
        for i in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(v == key for key, v in out.items())


def test_a_failing_batch_fails_its_callers_only():
    def run(key, reqs):
        if key == "bad":
            raise RuntimeError("out of memory")
        return reqs

    batcher = Batcher(run, window=0.0)
    with pytest.raises(RuntimeError, match="out of memory"):
        batcher.submit("bad", [1])
    assert batcher.submit("good", [1, 2]) == [1, 2]


@pytest.mark.gpu
def test_generates_on_cuda_with_batching():
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from trace_engine.llm.weights import ensure_model

    llm = TransformersLLM(str(ensure_model()))
    results = [None] * 4

    def ask(i):
        results[i] = llm.complete(f"What is {i} + 1? Answer with the number only.", max_tokens=8)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(str(i + 1) in r.text for i, r in enumerate(results))
    assert max(llm.loaded().batcher.batch_sizes) > 1
    assert all(r.usage.completion_tokens > 0 for r in results)
