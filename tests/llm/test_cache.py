import asyncio
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from trace_engine.llm import Cached, LLMError, as_llm, cache_stats, clear_cache, default_cache_dir
from trace_engine.llm.cache import cache_key

REPO = Path(__file__).resolve().parents[2]


def test_miss_then_hit(scripted, tmp_path, meter):
    inner = scripted()
    llm = Cached(inner, tmp_path, meter=meter)
    first = llm.complete("hello", max_tokens=5)
    second = llm.complete("hello", max_tokens=5)
    assert not first.cached and second.cached
    assert second.texts == first.texts and second.usage == first.usage
    assert len(inner.calls) == 1
    assert meter.total.cache_hits == 1


def test_hit_takes_well_under_a_millisecond(scripted, tmp_path):
    llm = Cached(scripted(), tmp_path)
    prompt = [{"role": "system", "content": "x" * 20000}, {"role": "user", "content": "q"}]
    llm.complete(prompt)
    times = []
    for _ in range(200):
        start = time.perf_counter()
        assert llm.complete(prompt).cached
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.001


@pytest.mark.parametrize(
    "change",
    [
        {"messages": "other"},
        {"max_tokens": 6},
        {"temperature": 0.5},
        {"stop": ["\n"]},
        {"json_schema": {"type": "object"}},
    ],
)
def test_answer_changing_options_miss(scripted, tmp_path, change):
    inner = scripted(reply=lambda m, o: '{"a": 1}')
    llm = Cached(inner, tmp_path)
    base = {"messages": "q", "max_tokens": 5}
    llm.complete(**base)
    llm.complete(**{**base, **change})
    assert len(inner.calls) == 2


def test_seed_is_ignored_at_temperature_zero():
    a = cache_key("m", [{"role": "user", "content": "q"}], 0, temperature=0, seed=1)
    b = cache_key("m", [{"role": "user", "content": "q"}], 0, temperature=0, seed=2)
    c = cache_key("m", [{"role": "user", "content": "q"}], 0, temperature=0.7, seed=1)
    d = cache_key("m", [{"role": "user", "content": "q"}], 0, temperature=0.7, seed=2)
    assert a == b and c != d


def test_samples_are_cached_by_index(scripted, tmp_path):
    counter = iter(range(100))
    inner = scripted(reply=lambda m, o: f"s{next(counter)}")
    llm = Cached(inner, tmp_path)
    two = llm.complete("q", temperature=0.8, n=2)
    three = llm.complete("q", temperature=0.8, n=3)
    assert three.texts[:2] == two.texts and three.texts[2] not in two.texts
    assert [c["n"] for c in inner.calls] == [2, 1]
    assert not three.cached
    assert llm.complete("q", temperature=0.8, n=3).cached


def test_seeded_samples_use_seed_plus_index_so_reruns_match(scripted, tmp_path):
    inner = scripted(reply=lambda m, o: f"seed{o['seed']}")
    llm = Cached(inner, tmp_path)
    first = llm.complete("q", temperature=1.0, n=3, seed=10)
    assert first.texts == ["seed10", "seed11", "seed12"]
    fresh = Cached(scripted(reply=lambda m, o: f"seed{o['seed']}"), tmp_path / "other")
    assert fresh.complete("q", temperature=1.0, n=3, seed=10).texts == first.texts
    assert llm.complete("q", temperature=1.0, n=3, seed=10).cached


def test_failed_calls_are_not_cached(tmp_path):
    attempts = []

    def flaky(msgs):
        attempts.append(1)
        if len(attempts) == 1:
            raise LLMError("temporary", retryable=True)
        return "fine"

    llm = Cached(as_llm(flaky), tmp_path)
    with pytest.raises(LLMError):
        llm.complete("q")
    assert llm.complete("q").text == "fine"
    assert llm.complete("q").cached
    assert len(attempts) == 2


def test_unparseable_json_answers_are_not_cached(scripted, tmp_path):
    inner = scripted(reply=lambda m, o: "not json")
    llm = Cached(inner, tmp_path)
    c = llm.complete("q", json_schema={"type": "object"})
    assert c.parsed == [None]
    llm.complete("q", json_schema={"type": "object"})
    assert len(inner.calls) == 2


def test_parsed_json_round_trips(scripted, tmp_path):
    llm = Cached(scripted(reply=lambda m, o: 'ok {"a": [1, 2]}'), tmp_path)
    llm.complete("q", json_schema={"type": "object"})
    hit = llm.complete("q", json_schema={"type": "object"})
    assert hit.cached and hit.json == {"a": [1, 2]}


def test_async_path(scripted, tmp_path):
    inner = scripted()
    llm = Cached(inner, tmp_path)
    first = asyncio.run(llm.acomplete("q"))
    second = asyncio.run(llm.acomplete("q"))
    assert second.cached and second.text == first.text and len(inner.calls) == 1


def test_stats_and_clear(scripted, tmp_path):
    llm = Cached(scripted(model="a"), tmp_path)
    llm.complete("1")
    llm.complete("2", temperature=0.5, n=2)
    stats = cache_stats(tmp_path)
    assert stats["entries"] == 3 and stats["by_llm"] == {"scripted:a": 3}
    assert stats["size_bytes"] > 0
    assert clear_cache(tmp_path) == 3
    assert cache_stats(tmp_path)["entries"] == 0


def test_env_var_sets_the_default_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACE_ENGINE_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"


WRITER = textwrap.dedent(
    """
    import sys
    from trace_engine.llm import Cached, as_llm
    tag, directory = sys.argv[1], sys.argv[2]
    llm = Cached(as_llm(lambda msgs: tag + ":" + msgs[-1]["content"]), directory)
    for i in range(150):
        llm.complete(f"own-{tag}-{i}")
        llm.complete(f"shared-{i}")
    """
)


def test_two_processes_write_concurrently(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, tag, str(tmp_path)], env=env, stderr=subprocess.PIPE
        )
        for tag in ("p1", "p2")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert cache_stats(tmp_path)["entries"] == 150 * 3
    reader = Cached(as_llm(lambda msgs: "never called"), tmp_path)
    for i in (0, 77, 149):
        assert reader.complete(f"own-p1-{i}").text == f"p1:own-p1-{i}"
        assert reader.complete(f"own-p2-{i}").text == f"p2:own-p2-{i}"
        assert reader.complete(f"shared-{i}").text in (f"p1:shared-{i}", f"p2:shared-{i}")
