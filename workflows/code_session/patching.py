"""Inside a sandbox process: load the target module from a candidate's text, and record calls.

The import hook makes every import of the target file (under whatever module
name the tests use) execute the candidate's version of the whole file, exactly
what writing the candidate back would produce. The recorder wraps the function
to record its calls (inputs, outcome, argument changes) for the differential check.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import linecache
import os
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from workflows.code_session.checks import render
from workflows.code_session.snapshot import Materialized, Snapshot, Unrecordable, type_name


class _CandidateLoader(importlib.machinery.SourceFileLoader):
    """Loads the target file from the candidate's text instead of the disk (and never from a .pyc)."""

    def __init__(
        self, fullname: str, path: str, text: str, after_exec: Callable[[ModuleType], None]
    ):
        super().__init__(fullname, path)
        self._text = text
        self._after_exec = after_exec

    def get_source(self, fullname: str) -> str:
        return self._text

    def get_code(self, fullname: str) -> Any:
        linecache.cache[self.path] = (len(self._text), None, self._text.splitlines(True), self.path)
        return compile(self._text, self.path, "exec", dont_inherit=True)

    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        self._after_exec(module)


class _TargetFinder(importlib.abc.MetaPathFinder):
    def __init__(self, path: Path, text: str, after_exec: Callable[[ModuleType], None]):
        self._path = os.path.realpath(path)
        self._text = text
        self._after_exec = after_exec

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not spec.origin or os.path.realpath(spec.origin) != self._path:
            return None
        spec.loader = _CandidateLoader(fullname, spec.origin, self._text, self._after_exec)
        return spec


def install_target(
    path: Path, text: str, after_exec: Callable[[ModuleType], None] = lambda m: None
) -> None:
    """Make imports of ``path`` run ``text``; call ``after_exec(module)`` once each is executed."""
    sys.meta_path.insert(0, _TargetFinder(path, text, after_exec))


class Recorder:
    """Wraps the target function to record its outermost calls as JSON snapshots.

    Each call is keyed by the test it ran in (or ``benchmark``) and its position
    there, so the original's and a candidate's runs of the same workload can be
    compared call by call. Generator and builtin-iterator arguments are read to
    the end first and handed to the function as fresh iterators of the same kind
    (other iterators are replayed as generators); an iterator result is read
    the same way and the caller gets a fresh one. Calls whose values cannot be
    snapshotted are kept as ``unrecordable`` entries naming why.
    """

    def __init__(self, limit: int, ignore_attrs: tuple[str, ...] | list[str] = ()):
        self.limit = limit
        self.snapshot = Snapshot(ignore_attrs)
        self.records: list[dict] = []
        self.scope = "import"
        self.enabled = True
        self._counts: dict[str, int] = {}
        self._depth = 0

    def set_scope(self, scope: str) -> None:
        self.scope = scope

    def wrap(self, fn: Callable, name: str) -> Callable:
        @functools.wraps(fn)
        def recording(*args: Any, **kwargs: Any) -> Any:
            if not self.enabled or self._depth:
                return fn(*args, **kwargs)
            number = self._counts.get(self.scope, 0)
            self._counts[self.scope] = number + 1
            if len(self.records) >= self.limit:
                return fn(*args, **kwargs)
            self._depth += 1
            try:
                return self._record(fn, name, f"{self.scope}#{number}", args, kwargs)
            finally:
                self._depth -= 1

        return recording

    def _record(self, fn: Callable, name: str, key: str, args: tuple, kwargs: dict) -> Any:
        seen = {}
        args = tuple(_replayable(a, seen) for a in args)
        kwargs = {k: _replayable(v, seen) for k, v in kwargs.items()}
        shown_args = tuple(seen.get(id(a), a) for a in args)
        shown_kwargs = {k: seen.get(id(v), v) for k, v in kwargs.items()}
        try:
            before = self._call_snapshot(shown_args, shown_kwargs)
        except Unrecordable as exc:
            self.records.append(
                {"key": key, "call": _plain_call(name, args, kwargs), "unrecordable": str(exc)}
            )
            return fn(*args, **kwargs)
        call = _call_text(name, before)
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            self._keep(
                key,
                call,
                before,
                {"raised": exception_name(exc), "message": str(exc)[:300]},
                shown_args,
                shown_kwargs,
            )
            raise
        materialized = _replayable(result, seen)
        try:
            returned = self.snapshot.take(seen.get(id(materialized), result), "result")
        except Unrecordable as exc:
            self.records.append({"key": key, "call": call, "unrecordable": str(exc)})
            return materialized
        self._keep(key, call, before, {"returned": returned}, shown_args, shown_kwargs)
        return materialized

    def _call_snapshot(self, args: tuple, kwargs: dict) -> dict:
        return {
            "args": [self.snapshot.take(a, f"args[{i}]") for i, a in enumerate(args)],
            "kwargs": {k: self.snapshot.take(v, f"kwargs[{k!r}]") for k, v in kwargs.items()},
        }

    def _keep(
        self, key: str, call: str, before: dict, outcome: dict, args: tuple, kwargs: dict
    ) -> None:
        try:
            after = self._call_snapshot(args, kwargs)
        except Unrecordable as exc:
            self.records.append(
                {"key": key, "call": call, "unrecordable": f"after the call, {exc}"}
            )
            return
        self.records.append(
            {"key": key, "call": call, "before": before, "outcome": outcome, "after": after}
        )


MAX_ITEMS = 100_000
_REPLAYED_AS_IS = {"list_iterator": list, "tuple_iterator": tuple}


def _replayable(value: Any, seen: dict[int, Materialized]) -> Any:
    """``value``, or for a generator or builtin iterator a fresh iterator over what it yields.

    The items read are remembered in ``seen`` (by the new iterator's id) for the snapshot.
    Iterators of other kinds (files, sockets, user classes) are passed through untouched.
    """
    kind = type(value)
    if not isinstance(value, types.GeneratorType) and not (
        isinstance(value, Iterator) and kind.__module__ in ("builtins", "itertools")
    ):
        return value
    items: list = []
    error: BaseException | None = None
    try:
        for item in value:
            items.append(item)
            if len(items) > MAX_ITEMS:
                break
    except Exception as exc:
        error = exc
    if len(items) > MAX_ITEMS:
        return _replay(items, None, value)
    maker = _REPLAYED_AS_IS.get(kind.__name__)
    fresh = iter(maker(items)) if maker is not None and error is None else _replay(items, error)
    seen[id(fresh)] = Materialized(type_name(value), items, error)
    return fresh


def _replay(items: list, error: BaseException | None, rest: Any = ()) -> Iterator:
    yield from items
    if error is not None:
        raise error
    yield from rest


def _call_text(name: str, before: dict) -> str:
    parts = [render(a, 80) for a in before["args"]]
    parts += [f"{k}={render(v, 80)}" for k, v in before["kwargs"].items()]
    return f"{name}({', '.join(parts)})"


def _plain_call(name: str, args: tuple, kwargs: dict) -> str:
    parts = [type_name(a) for a in args] + [f"{k}={type_name(v)}" for k, v in kwargs.items()]
    return f"{name}(<{'>, <'.join(parts)}>)" if parts else f"{name}()"


def exception_name(exc: BaseException) -> str:
    """``ValueError`` for builtins, ``module.Class`` otherwise: how records name exceptions."""
    kind = type(exc)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
