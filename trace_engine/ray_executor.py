"""The ``ray`` executor: each call of ``map`` is one Ray task (``pip install "trace-engine[ray]"``).

Joining: ``address`` (``HOST:PORT`` of a cluster's head, ``ray://HOST:PORT`` for Ray
Client, or ``auto``), else ``$RAY_ADDRESS``, else a local Ray is started with this
machine's CPUs. A Ray already initialised in this process is used as it is. An
address where nothing answers within ``connect_timeout`` seconds is one
:class:`ClusterUnreachable` line, not a hang.

Each task gets one CPU and is not retried (a rollout may have side effects; a
retry would also hide a crash). A task that raises gives back its exception
(type kept, see :mod:`trace_engine.executors`); a worker that dies gives
:class:`WorkerDied`. What crosses to the workers and back (parameters, meters,
budgets, LLMs) is described in :mod:`trace_engine.travel`.

On a cluster, every node needs trace-engine and the libraries the work imports
installed, the model files of ``local``/``llamacpp:`` specs at the same paths,
and the API keys of remote models in its environment; each node keeps its own
completion cache (same keys), in ``$TRACE_ENGINE_CACHE_DIR`` or its user cache
directory unless the LLM was given a cache directory.
"""

from __future__ import annotations

import contextvars
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from trace_engine.executors import ExecutorError, OnResult, mark_failed
from trace_engine.extras import require_extra
from trace_engine.travel import Outgoing, Reply, run_call

CONNECT_TIMEOUT = 10.0


class ClusterUnreachable(ExecutorError):
    """No Ray cluster answered at the address given."""


class WorkerDied(ExecutorError):
    """The process running a task ended before the task did (crash, ``os._exit``, OOM)."""


class TaskFailed(ExecutorError):
    """A task raised an exception that could not be sent back as itself."""


def _ray():
    return require_extra("ray", extra="ray", purpose="the ray executor")


def _check_reachable(address: str, timeout: float) -> None:
    """Open (and close) a TCP connection to ``address`` within ``timeout`` seconds."""
    target = address if "://" in address else f"tcp://{address}"
    try:
        parts = urlsplit(target)
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise ClusterUnreachable(
            f"the Ray address {address!r} is not HOST:PORT, ray://HOST:PORT or auto; "
            "give the head node's address (ray start --head prints it)"
        )
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ClusterUnreachable(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
            "`ray start --head` or give the right --ray-address / RAY_ADDRESS"
        ) from None


def connect(address: str | None = None, connect_timeout: float = CONNECT_TIMEOUT) -> bool:
    """Make sure Ray is initialised here; returns whether this call started it."""
    ray = _ray()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address not in (None, "auto", "local"):
        _check_reachable(address, connect_timeout)
    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level="WARNING",
            log_to_driver=False,
            configure_logging=True,
        )
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = f"at {address}" if address else "locally"
        raise ClusterUnreachable(f"Ray could not start or join a cluster {where}: {exc}") from None
    return True


class RayExecutor:
    """Runs each call of ``map`` as a Ray task; see the module docstring."""

    kind = "ray"

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
    ):
        self.workers = workers
        self.address = address
        self._started = connect(address, connect_timeout)
        ray = _ray()
        self._task = ray.remote(max_retries=0, num_cpus=1)(run_call)

    def map(
        self,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        parameters: Sequence[Any] = (),
        on_result: OnResult | None = None,
    ) -> list[Any]:
        items = list(items)
        if not items:
            return []
        ray = _ray()
        context = contextvars.copy_context()
        outgoing = Outgoing(parameters)
        fn_ref = ray.put(outgoing.send(fn, "the function given to map"))
        blobs = [outgoing.send(x, f"item {i}") for i, x in enumerate(items)]
        shared = ray.put(outgoing.shared())
        limit = self.workers or len(items)
        results: list[Any] = [None] * len(items)
        running: dict[Any, int] = {}
        waiting = iter(range(len(items)))
        failures: dict[int, BaseException] = {}

        def submit() -> None:
            for i in waiting:
                running[self._task.remote(shared, fn_ref, blobs[i])] = i
                if len(running) >= limit:
                    return

        submit()
        try:
            while running:
                done, _ = ray.wait(list(running), num_returns=1)
                index = running.pop(done[0])
                try:
                    reply = outgoing.read_reply(ray.get(done[0]))
                except ray.exceptions.RayError as exc:
                    failures[index] = _crash(exc, index, len(items))
                else:
                    context.run(outgoing.settle, reply)
                    if reply.error is not None or reply.error_text:
                        failures[index] = _raised(reply, index, len(items))
                    elif not failures:
                        results[index] = reply.value
                        if on_result is not None:
                            on_result(index, reply.value)
                if failures:
                    first = min(failures)
                    for ref, i in list(running.items()):
                        if i > first:
                            ray.cancel(ref)
                            running.pop(ref)
                    waiting = iter(())
                else:
                    submit()
        finally:
            for ref in running:
                ray.cancel(ref)
        if failures:
            first = min(failures)
            raise failures[first]
        return results

    def close(self) -> None:
        """Stop the local Ray this executor started (a joined cluster keeps running)."""
        if self._started:
            ray = _ray()
            if ray.is_initialized():
                ray.shutdown()
            self._started = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RayExecutor(workers={self.workers}, address={self.address!r})"


def _raised(reply: Reply, index: int, count: int) -> BaseException:
    if reply.error is not None:
        if hasattr(reply.error, "add_note"):
            reply.error.add_note(f"in the Ray worker:\n{reply.error_text.rstrip()}")
        return mark_failed(reply.error, index, count)
    return TaskFailed(f"task {index} of {count} failed in its Ray worker: {reply.error_text}")


def _crash(exc: Exception, index: int, count: int) -> ExecutorError:
    if isinstance(exc, _ray().exceptions.RayTaskError):
        return TaskFailed(f"task {index} of {count} could not run in its Ray worker: {exc}")
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return WorkerDied(
        f"task {index} of {count}: its Ray worker died before finishing "
        f"({type(exc).__name__}: {first_line}); nothing it did was kept"
    )
