"""Every exception class the library defines shares one root, TraceEngineError."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

from trace_engine.errors import TraceEngineError

PACKAGES = ("trace_engine", "optimizers", "agents", "workflows")
# The sandbox supervisor runs alone in a bare interpreter (python -I) before the
# project is importable; its Stop only unwinds its own loop and never leaves it.
INTERNAL = {"workflows.isolation.supervisor.Stop"}


def _library_exceptions() -> list[type]:
    found = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            try:
                module = importlib.import_module(info.name)
            except ImportError:
                continue  # an optional extra that is not installed
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseException)
                    and value.__module__ == module.__name__
                    and f"{value.__module__}.{value.__qualname__}" not in INTERNAL
                ):
                    found.append(value)
    return found


def test_the_library_defines_exceptions_to_check():
    names = {cls.__name__ for cls in _library_exceptions()}
    assert {"LLMError", "BudgetExceeded", "NoFeedback", "DatasetError"} <= names


@pytest.mark.parametrize("cls", _library_exceptions(), ids=lambda cls: cls.__qualname__)
def test_every_library_exception_derives_from_the_root(cls):
    assert issubclass(cls, TraceEngineError)


def test_builtin_bases_are_kept_for_callers_that_catch_them():
    from optimizers.base import NoFeedback
    from trace_engine.llm.errors import LLMError, MissingDependency
    from trace_engine.llm.meter import BudgetExceeded

    assert issubclass(NoFeedback, ValueError)
    assert issubclass(LLMError, RuntimeError)
    assert issubclass(MissingDependency, ImportError)
    assert issubclass(BudgetExceeded, RuntimeError)
