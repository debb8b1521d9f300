"""Running independent pieces of work: in threads here, or as tasks on a Ray cluster.

One interface for everything that evaluates many things at once (the Trainer's
rollouts, DynaICL labelling, the candidate scores of best-of-n and beam search,
report tables), so that moving the work to a cluster is a switch, not a rewrite::

    from trace_engine.executors import make_executor

    with make_executor("thread", workers=8) as ex:          # or make_executor("ray")
        scores = ex.map(score_one, examples)                 # in the order of examples

``map(fn, items)`` returns ``[fn(x) for x in items]``, in order. Each call runs
in a copy of the caller's ``contextvars`` context, so tracing switches, active
:class:`~trace_engine.llm.Budget` s and meter tags of the caller apply inside.

When a call raises, calls not yet started are cancelled, the running ones end,
and the exception of the failed call with the lowest index is raised as it was
(its type kept, so callers catch what they caught before), with
``task_index`` set on it and a note naming the item. A Ray worker that dies and
a cluster that cannot be reached are :class:`ExecutorError` s.

``on_result(index, result)``, if given, is called in the caller's thread as each
result arrives (in completion order): save progress, advance a progress bar.

``parameters``: the caller's :class:`~trace_engine.nodes.Parameter` s that the
calls read. Threads share them already; on Ray each task works on copies, and
every copy found in a returned result (e.g. among the parents of an output node)
is replaced by the caller's original, so ``optimizer.backward(output, ...)``
reaches the caller's parameters. Parameters not listed come back as copies.

With Ray, ``fn`` and each item are pickled (cloudpickle) and sent to worker
processes: pass the smallest function that does the work (a module-level function,
or ``functools.partial(evaluate_one, user_evaluate)``), not a bound method of an
object holding an optimizer, a progress bar, a lock or an open file; results must
pickle too. LLMs made by ``get_llm``/spec strings are rebuilt in the worker; a
plain scripted callable travels as it is.

Kinds: ``"thread"`` (default; ``workers`` threads, ``None``: one per item, at
most 32) and ``"ray"`` (``pip install "trace-engine[ray]"``; ``address`` joins a
running cluster, ``$RAY_ADDRESS`` is honoured, else a local Ray is started;
``workers`` bounds the tasks in flight, ``None``: as many as Ray schedules). See
:mod:`trace_engine.ray_executor` for what travels to Ray workers and how.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from trace_engine.errors import TraceEngineError

T = TypeVar("T")
R = TypeVar("R")

KINDS = ("thread", "ray")
MAX_THREADS = 32
OnResult = Callable[[int, Any], None]


class ExecutorError(TraceEngineError):
    """The executor itself failed (not the work): no cluster, a dead worker, bad settings."""


class Executor(Protocol):
    """What every executor offers (see the module docstring)."""

    kind: str
    workers: int | None

    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        parameters: Sequence[Any] = (),
        on_result: OnResult | None = None,
    ) -> list[R]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


def make_executor(
    kind: str = "thread", *, workers: int | None = None, address: str | None = None
) -> Executor:
    """An executor of ``kind`` (``"thread"`` or ``"ray"``).

    ``workers``: calls running at once (``None``: see the module docstring).
    ``address`` (Ray only): a running cluster to join (``HOST:PORT``, ``ray://HOST:PORT``
    or ``auto``); ``None`` uses ``$RAY_ADDRESS`` or starts a local Ray.
    Raises ``ValueError`` for an unknown kind or bad ``workers``,
    :class:`~trace_engine.extras.MissingExtra` without ray, :class:`ExecutorError`
    when the cluster cannot be reached.
    """
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ValueError(f"workers must be an int >= 1 or None, got {workers!r}")
    if kind == "thread":
        if address is not None:
            raise ValueError("address is for the ray executor; the thread executor runs here")
        return ThreadExecutor(workers)
    if kind == "ray":
        from trace_engine.ray_executor import RayExecutor

        return RayExecutor(workers, address)
    raise ValueError(f"unknown executor {kind!r}; choose one of {', '.join(KINDS)}")


def as_executor(executor: Executor | str | None, workers: int | None = None) -> Executor:
    """``executor`` itself, or a new one of that kind (``None``: threads), for functions
    that accept either an executor or a kind name."""
    if executor is None:
        return ThreadExecutor(workers)
    if isinstance(executor, str):
        return make_executor(executor, workers=workers)
    if not callable(getattr(executor, "map", None)):
        raise TypeError(f"expected an executor or one of {', '.join(KINDS)}, got {executor!r}")
    return executor


def mark_failed(exc: BaseException, index: int, count: int) -> BaseException:
    """Tag ``exc`` with the index of the call that raised it (``task_index`` and a note)."""
    try:
        exc.task_index = index  # type: ignore[attr-defined]
    except AttributeError:
        pass
    if hasattr(exc, "add_note"):
        exc.add_note(f"(raised by task {index} of {count} in an executor's map)")
    return exc


class ThreadExecutor:
    """Calls in threads of this process (a new pool per ``map``, so nested maps cannot
    starve each other)."""

    kind = "thread"

    def __init__(self, workers: int | None = None):
        self.workers = workers

    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        parameters: Sequence[Any] = (),
        on_result: OnResult | None = None,
    ) -> list[R]:
        items = list(items)
        if not items:
            return []
        threads = min(len(items), self.workers or MAX_THREADS)
        if threads == 1:
            return self._serial(fn, items, on_result)
        results: list[Any] = [None] * len(items)
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="executor")
        try:
            futures: dict[Future, int] = {
                pool.submit(contextvars.copy_context().run, fn, x): i for i, x in enumerate(items)
            }
            pending = set(futures)
            failed = False
            while pending and not failed:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in sorted(done, key=futures.__getitem__):
                    if future.exception() is not None:
                        failed = True
                    elif not failed:
                        results[futures[future]] = future.result()
                        if on_result is not None:
                            on_result(futures[future], results[futures[future]])
            if failed:
                for future in pending:
                    future.cancel()
                wait(pending)
                first, exc = min(
                    (i, f.exception())
                    for f, i in futures.items()
                    if not f.cancelled() and f.exception() is not None
                )
                raise mark_failed(exc, first, len(items))
            return results
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C does not wait for calls

    @staticmethod
    def _serial(fn: Callable, items: list, on_result: OnResult | None) -> list:
        results = []
        for i, x in enumerate(items):
            try:
                results.append(contextvars.copy_context().run(fn, x))
            except Exception as exc:
                mark_failed(exc, i, len(items))
                raise
            if on_result is not None:
                on_result(i, results[-1])
        return results

    def close(self) -> None:
        """Nothing to release: each ``map`` makes and ends its own pool."""

    def __enter__(self) -> ThreadExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ThreadExecutor(workers={self.workers})"
