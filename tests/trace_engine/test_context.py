import asyncio
import threading

import pytest

from trace_engine import is_tracing, no_trace, node


def test_no_trace_is_reentrant_and_restores_after_errors():
    assert is_tracing()
    with pytest.raises(RuntimeError), no_trace():
        with no_trace():
            assert not is_tracing()
        assert not is_tracing()
        raise RuntimeError
    assert is_tracing()


def test_no_trace_in_one_thread_does_not_affect_another():
    inside = threading.Event()
    release = threading.Event()
    seen = {}

    def quiet():
        with no_trace():
            seen["quiet"] = is_tracing()
            inside.set()
            release.wait(5)

    def loud():
        inside.wait(5)
        x = node(1)
        seen["loud"] = (x + 1).parents[0] is x
        release.set()

    threads = [threading.Thread(target=quiet), threading.Thread(target=loud)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"quiet": False, "loud": True}


def test_no_trace_is_per_asyncio_task():
    async def quiet(started, done):
        with no_trace():
            started.set()
            await done.wait()
            return is_tracing()

    async def loud(started, done):
        await started.wait()
        result = is_tracing()
        done.set()
        return result

    async def main():
        started, done = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(quiet(started, done), loud(started, done))

    assert asyncio.run(main()) == [False, True]
