"""The job a code session's sandboxed runs execute (see ``runs.py``).

A job (its input, JSON) names the target file, the text to load it from
(original or candidate) and the tasks to run: tests, record (the tests and
the benchmark run with every call of the function snapshotted as JSON, sent
to the host, which compares them), profile, or ``bench`` (evaluate the
benchmark expression ``loops`` times, for the host to time from outside). The job's state is sent
to the host after every stage, so when the process is killed (timeout,
memory) the host still knows where it was. The exit status is 0 only when
every task ran and the tests (when they ran) passed.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from workflows.code_session.checks import run_tests
from workflows.code_session.measure import line_profile, own_function, profile_expression
from workflows.code_session.patching import Recorder, exception_name, install_target
from workflows.isolation.channel import Results, open_results, read_input


class _Job:
    def __init__(self, spec: dict[str, Any], results: Results):
        self.spec = spec
        self.result: dict[str, Any] = {"stage": "starting", "warnings": []}
        self.results = results

    def stage(self, name: str) -> None:
        self.result["stage"] = name
        self.results.send({"state": self.result})

    def run(self) -> None:
        spec = self.spec
        fn_name = spec["fn_name"]
        tasks = spec["tasks"]
        recorder = (
            Recorder(spec["record_limit"], spec.get("ignore_attrs", []))
            if "record" in tasks
            else None
        )

        def after_exec(module: ModuleType) -> None:
            fn = module.__dict__.get(fn_name)
            if recorder is not None and callable(fn):
                module.__dict__[fn_name] = recorder.wrap(fn, fn_name)

        sys.path.insert(0, spec["import_root"])
        install_target(Path(spec["target_file"]), spec["text"], after_exec)
        self.stage("import")
        module = importlib.import_module(spec["module_name"])
        fn = getattr(module, fn_name, None)
        if not callable(fn):
            raise TypeError(f"after import, {spec['module_name']}.{fn_name} is not a function")
        if "tests" in tasks:
            self.stage("tests")
            self.result["tests"] = run_tests(
                spec["tests"], on_test=recorder.set_scope if recorder else None
            )
        if recorder is not None:
            self.stage("benchmark")
            recorder.set_scope("benchmark")
            namespace = self._bench_namespace(fn)
            try:
                eval(compile(spec["bench"], "<benchmark>", "eval"), namespace)
            except Exception as exc:
                # The recorded calls say what the function did; the host decides what it means.
                self.result["bench_error"] = _error_of(exc, "benchmark")
            recorder.enabled = False
            self.stage("recording")
            self.results.send({"records": recorder.records})
        if "bench" in tasks:
            self.stage("benchmark")
            namespace = self._bench_namespace(fn)
            benchmark = compile(spec["bench"], "<benchmark>", "eval")
            eval(benchmark, namespace)  # the warm-up call every timed run makes
            for _ in range(spec["loops"]):
                eval(benchmark, namespace)
        if "profile" in tasks and self.checks_passed() and "bench_error" not in self.result:
            self.stage("profiling")
            namespace = self._bench_namespace(fn)
            self.result["profile"] = profile_expression(spec["bench"], namespace)
            own = own_function(fn, spec["target_file"], fn_name)
            if own is None:
                self.result["warnings"].append(
                    f"could not find {fn_name}'s own code under its decorators; no line profile"
                )
                self.result["line_profile"] = []
            else:
                self.result["line_profile"] = line_profile(spec["bench"], namespace, own.__code__)
        self.stage("done")

    def checks_passed(self) -> bool:
        """The tests passed (when they ran)."""
        return self.result.get("tests", {"ok": True})["ok"]

    def _bench_namespace(self, fn: Any) -> dict:
        namespace = {"__name__": "__benchmark__", self.spec["fn_name"]: fn}
        if self.spec.get("setup"):
            exec(compile(self.spec["setup"], "<setup>", "exec"), namespace)
        return namespace


def _error_of(exc: BaseException, stage: str) -> dict[str, str]:
    return {
        "stage": stage,
        "type": exception_name(exc),
        "message": str(exc)[:600],
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-3000:],
    }


def main() -> int:
    spec = json.loads(read_input())
    job = _Job(spec, open_results())
    try:
        job.run()
    except BaseException as exc:
        job.result["error"] = _error_of(exc, job.result["stage"])
        job.results.send({"state": job.result})
        return 1
    return 0 if job.checks_passed() else 1


if __name__ == "__main__":
    sys.exit(main())
