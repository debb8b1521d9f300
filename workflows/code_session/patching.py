"""Inside a sandbox process: load the target module from a candidate's text, and record calls.

The import hook makes every import of the target file (under whatever module
name the tests use) execute the candidate's version of the whole file, exactly
what writing the candidate back would produce. The recorder wraps the function
to capture representative inputs and outputs for the differential check.
"""

from __future__ import annotations

import copy
import functools
import importlib.abc
import importlib.machinery
import linecache
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any


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
    """Wraps the target function to keep (arguments, outcome) of its outermost calls.

    Each record is pickled on the spot so later mutation of the objects cannot
    change it; calls whose arguments or result cannot be pickled are skipped.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.records: list[bytes] = []
        self._seen: set[bytes] = set()
        self._depth = 0
        self.skipped = 0
        self.enabled = True

    def wrap(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def recording(*args: Any, **kwargs: Any) -> Any:
            if not self.enabled or self._depth or len(self.records) >= self.limit:
                return fn(*args, **kwargs)
            try:
                before = pickle.dumps((args, kwargs))
                call_args, call_kwargs = copy.deepcopy((args, kwargs))
            except Exception:
                self.skipped += 1
                return fn(*args, **kwargs)
            self._depth += 1
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                self._keep(
                    before,
                    call_args,
                    call_kwargs,
                    ("raise", exception_name(exc), str(exc)),
                    args,
                    kwargs,
                )
                raise
            finally:
                self._depth -= 1
            self._keep(before, call_args, call_kwargs, ("return", result), args, kwargs)
            return result

        return recording

    def _keep(
        self, key: bytes, args: Any, kwargs: Any, outcome: tuple, after_args: Any, after_kwargs: Any
    ) -> None:
        if key in self._seen:
            return
        try:
            record = pickle.dumps(
                {
                    "args": args,
                    "kwargs": kwargs,
                    "outcome": outcome,
                    "after": (after_args, after_kwargs),
                }
            )
        except Exception:
            self.skipped += 1
            return
        self._seen.add(key)
        self.records.append(record)


def exception_name(exc: BaseException) -> str:
    """``ValueError`` for builtins, ``module.Class`` otherwise: how records name exceptions."""
    kind = type(exc)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
