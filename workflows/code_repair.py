"""Code repair: trainable functions optimized against their unit tests.

Each task's function is a ``@bundle(trainable=True)`` function whose starting
code is a stub (signature and docstring, empty body) or a buggy body. Its code
parameter feeds one traced operation, ``run_unit_tests``, which runs the code
against the task's tests in a separate process with a timeout; the test report
(which checks failed, what the function returned and what was expected, the
error and the line it came from, or a timeout) is the feedback the optimizer
reads. For a stub the feedback first says that the body is empty and is to be
written from the docstring: listing only the failing checks (mostly edge cases
like an empty input) led the small model to patch those cases into the stub
instead of implementing the function. One :class:`CodeRepair` module holds the functions of several tasks; the
trainer optimizes them one task per step.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import itertools
import linecache
import re
import sys
import threading
import types
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizers.drafts import is_stub
from trace_engine.bundle import Bundle, bundle
from trace_engine.code import CodeParameter
from trace_engine.errors import InvalidCodeError
from trace_engine.modules import Module
from trace_engine.source import (
    check_definitions,
    check_proposal,
    compile_checked,
    find_function,
    first_line,
    signature_of,
)
from workflows.datasets import DatasetError, HumanEvalProblem, load_humaneval, load_jsonl
from workflows.trainer import Evaluation
from workflows.unit_checks import TestReport, run_tests

DEFAULT_TIMEOUT = 10.0
_module_ids = itertools.count(1)


@dataclass(frozen=True)
class RepairTask:
    """A function to get right: its starting code, the code it may use, its tests.

    ``code`` defines ``entry_point`` (and only it); ``setup`` is the code before it
    (imports, helper functions) that the candidate may call; ``tests`` defines
    ``check(candidate)``, HumanEval's form, each statement of whose body is one check.
    """

    name: str
    entry_point: str
    code: str
    tests: str
    setup: str = ""


def split_prompt(prompt: str, entry_point: str) -> tuple[str, str]:
    """Split a HumanEval prompt into ``(setup, function header with docstring)``."""
    definition = find_function(prompt, entry_point)
    if definition is None:
        raise DatasetError(f"the prompt defines no function {entry_point!r}")
    first = first_line(definition)
    lines = prompt.splitlines(keepends=True)
    return "".join(lines[: first - 1]), "".join(lines[first - 1 :]).rstrip() + "\n"


def stub_from_header(header: str) -> str:
    """A function with the header's signature and docstring and an empty body (``pass``)."""
    definition = ast.parse(header).body[0]
    body = definition.body
    indent = " " * (body[0].col_offset if body else definition.col_offset + 4)
    return header.rstrip() + f"\n{indent}pass\n"


def humaneval_task(problem: HumanEvalProblem, *, start: str = "stub") -> RepairTask:
    """A repair task from a HumanEval problem, starting from a stub (or the reference, for checks)."""
    setup, header = split_prompt(problem.prompt, problem.entry_point)
    if start == "stub":
        code = stub_from_header(header)
    elif start == "reference":
        code = header + problem.canonical_solution
    else:
        raise ValueError(f"start must be 'stub' or 'reference', got {start!r}")
    return RepairTask(problem.task_id, problem.entry_point, code, problem.test, setup)


def humaneval_tasks(task_ids: Sequence[str | int] | None = None) -> list[RepairTask]:
    return [humaneval_task(p) for p in load_humaneval(task_ids)]


def load_repair_tasks(path: str | Path) -> list[RepairTask]:
    """Tasks from JSONL: ``{"entry_point", "code", "tests"}`` per line, optional ``name``, ``setup``."""
    tasks = []
    for example in load_jsonl(path, input_key="code", target_key="tests"):
        where = f"{path}:{example.meta['line']}"
        entry_point = example.meta.get("entry_point")
        if not isinstance(entry_point, str) or not entry_point:
            raise DatasetError(f"{where}: missing 'entry_point' (the function's name)")
        if not isinstance(example.input, str) or not isinstance(example.target, str):
            raise DatasetError(f"{where}: 'code' and 'tests' must be strings of Python source")
        setup = example.meta.get("setup", "")
        if not isinstance(setup, str):
            raise DatasetError(f"{where}: 'setup' must be a string of Python source")
        for key, source in (("code", example.input), ("tests", example.target), ("setup", setup)):
            try:
                ast.parse(source)
            except SyntaxError as exc:
                raise DatasetError(f"{where}: '{key}' does not parse: {exc.msg}") from None
        if "def check(" not in example.target:
            raise DatasetError(f"{where}: 'tests' must define check(candidate)")
        name = str(example.meta.get("name") or example.meta.get("id") or entry_point)
        tasks.append(RepairTask(name, entry_point, example.input, example.target, setup))
    return tasks


def trainable_function(task: RepairTask) -> Bundle:
    """Define ``task.code`` in a module of its own (holding ``task.setup``) and bundle it trainable.

    Task files are data: the setup may hold only imports, functions and constants,
    the code only imports and the function (see :mod:`trace_engine.source`). Their
    imports are not executed here: a name is bound only to a module the host had
    already loaded (:func:`_bind_loaded_imports`), so reading a task runs no code
    of any module it names; the tests import what they need in the sandbox.
    """
    slug = re.sub(r"\W+", "_", task.name).strip("_") or "task"
    module_name = f"trace_engine_candidates.{slug}_{next(_module_ids)}"
    definition = find_function(task.code, task.entry_point)
    try:
        check_definitions(task.setup, f"{task.name}: the setup")
        if definition is None:
            raise InvalidCodeError(
                f"{task.name}: the starting code defines no function {task.entry_point!r}"
            )
        check_proposal(
            task.code, task.entry_point, signature_of(definition), f"{task.name}: the starting code"
        )
    except InvalidCodeError as exc:
        raise DatasetError(str(exc)) from None
    module = types.ModuleType(module_name)
    sys.modules[module_name] = module
    try:
        exec(_without_imports(task.setup, f"<setup {task.name}>", module.__dict__), module.__dict__)
    except Exception as exc:
        raise DatasetError(
            f"{task.name}: its setup code raised {type(exc).__name__}: {exc}"
        ) from None
    filename = f"<{module_name}>"
    linecache.cache[filename] = (len(task.code), None, task.code.splitlines(True), filename)
    namespace = dict(module.__dict__)
    try:
        code = _without_imports(task.code, filename, namespace)
    except ModuleNotFoundError as exc:
        raise DatasetError(f"{task.name}: its code imports {exc.name!r}, which is not installed") from None
    exec(code, namespace)
    return bundle(trainable=True)(namespace[task.entry_point])


def _without_imports(source: str, filename: str, namespace: dict[str, Any]) -> types.CodeType:
    """The code of checked ``source`` less its imports, whose names are bound in
    ``namespace`` from already loaded modules only (annotations stay text)."""
    tree = ast.parse(source)
    imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    _bind_loaded_imports(imports, namespace)
    tree.body = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
    return compile_checked(tree, filename)


def _bind_loaded_imports(imports: Sequence[ast.stmt], namespace: dict[str, Any]) -> None:
    """Bind what ``imports`` name, taken from ``sys.modules`` without importing anything:
    a module the host has not loaded (or a relative import) is left unbound here, and
    one that is not installed at all is :class:`ModuleNotFoundError` (found by looking,
    not by importing)."""
    for statement in imports:
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.name not in sys.modules:
                    _require_installed(alias.name)
                    continue
                if alias.asname:
                    namespace[alias.asname] = sys.modules[alias.name]
                else:
                    top = alias.name.partition(".")[0]
                    if top in sys.modules:
                        namespace[top] = sys.modules[top]
        elif isinstance(statement, ast.ImportFrom) and statement.level == 0:
            module = sys.modules.get(statement.module or "")
            if module is None:
                _require_installed(statement.module or "")
                continue
            for alias in statement.names:
                found = vars(module).get(alias.name, sys.modules.get(f"{module.__name__}.{alias.name}"))
                if found is not None:
                    namespace[alias.asname or alias.name] = found


def _require_installed(name: str) -> None:
    """:class:`ModuleNotFoundError` when no top-level module ``name`` can be found; the
    search runs none of the module's code."""
    top = name.partition(".")[0]
    if top and top not in sys.modules and importlib.util.find_spec(top) is None:
        raise ModuleNotFoundError(f"No module named {top!r}", name=top)


def _test_operation(
    task: RepairTask, timeout: float, tested: Callable[[str], TestReport]
) -> Bundle:
    def run_unit_tests(code: str) -> dict[str, Any]:
        report = tested(code)
        return {
            "status": report.status,
            "passed": report.passed,
            "total": report.total,
            "report": report.summary(),
        }

    return bundle(
        description=(
            f"Runs the unit tests of `{task.entry_point}` against the given code in a fresh "
            f"Python process (killed after {timeout:g}s) and reports how many checks passed "
            "and how the failing ones failed (the value returned vs the value expected, or "
            "the error and the line it came from)."
        ),
        catch_errors=False,
    )(run_unit_tests)


def report_from_output(data: dict[str, Any]) -> TestReport:
    return TestReport(status=data["status"], passed=data["passed"], total=data["total"])


class CodeRepair(Module):
    """Trainable functions for ``tasks``, each evaluated against its own tests.

    ``code`` maps task name to the function's code parameter; use
    :meth:`function` to call a function with its current code.
    """

    def __init__(self, tasks: Sequence[RepairTask], *, timeout: float = DEFAULT_TIMEOUT):
        if not tasks:
            raise ValueError("CodeRepair needs at least one task")
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique, got {names}")
        self.tasks = {t.name: t for t in tasks}
        self._timeout = timeout
        self._functions = {t.name: trainable_function(t) for t in tasks}
        self._tests = {
            t.name: _test_operation(t, timeout, functools.partial(self._report, t.name))
            for t in tasks
        }
        self.code = {name: fn.parameter for name, fn in self._functions.items()}
        self._reports: dict[tuple[str, str], Future[TestReport]] = {}
        self._reports_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Sent to another process (a Ray worker) without the remembered reports and their
        lock, which do not pickle: the copy tests again what it is asked."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_reports", "_reports_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reports = {}
        self._reports_lock = threading.Lock()

    def function(self, name: str) -> Bundle:
        """The trainable bundled function of task ``name`` (runs its current code in-process)."""
        return self._functions[name]

    def parameter(self, name: str) -> CodeParameter:
        return self.code[name]

    def evaluate(self, task: RepairTask) -> Evaluation:
        """Run the task's tests on its current code (traced): score = share of checks passed."""
        output = self._tests[task.name](self.code[task.name])
        report = report_from_output(output.data)
        if report.solved:
            feedback = f"Correct: {output.data['report']}."
        elif is_stub(self.code[task.name].data, task.entry_point):
            feedback = (
                f"`{task.entry_point}` has no implementation yet: its body is empty, so every "
                f"check fails. Write its body so that it does what its docstring describes. "
                f"{output.data['report']}"
            )
        else:
            feedback = (
                f"The code of `{task.entry_point}` fails its unit tests. "
                f"{output.data['report']}\n"
                f"Rewrite `{task.entry_point}` so that every check passes; keep its name and "
                "parameters and follow its docstring."
            )
        return Evaluation(score=report.score, feedback=feedback, output=output, details=output.data)

    def score(self, values: Mapping[str, Any]) -> float:
        """The mean share of checks passed with the code in ``values`` (parameter name ->
        source; a function not in it keeps its current code), for candidate search:
        ``OptoPrimeMulti(..., score=repair.score)``. Scoring a candidate that changes one
        function runs only that function's tests (see :meth:`_report`).
        """
        passed = [
            self._report(name, values.get(p.name, p.data)).score for name, p in self.code.items()
        ]
        return sum(passed) / len(passed)

    def _report(self, name: str, code: str) -> TestReport:
        """Task ``name``'s test report for ``code``: each (task, code) pair is tested once
        in the sandbox and the report remembered (also across the threads that evaluate
        in parallel), so evaluating, scoring and reporting the same code never re-run
        identical tests. Only settled verdicts are remembered: a run that timed out or
        ended without a result (which the machine's load or memory may have caused) is
        run again the next time it is asked for.
        """
        key = (name, code)
        with self._reports_lock:
            known = self._reports.get(key)
            if known is None:
                pending: Future[TestReport] = Future()
                self._reports[key] = pending
        if known is not None:
            return known.result()
        task = self.tasks[name]
        try:
            report = run_tests(
                code, task.tests, task.entry_point, setup=task.setup, timeout=self._timeout
            )
        except BaseException as exc:
            self._forget(key)
            pending.set_exception(exc)
            raise
        if report.status not in ("passed", "failed"):
            self._forget(key)
        pending.set_result(report)
        return report

    def _forget(self, key: tuple[str, str]) -> None:
        with self._reports_lock:
            del self._reports[key]

    def test(self, name: str) -> TestReport:
        """Task ``name``'s test report for its current code, untraced (for reports); the
        tests run in the sandbox unless this very code was already tested."""
        return self._report(name, self.code[name].data)
