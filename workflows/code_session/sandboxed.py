"""The job a code session's sandboxed runs execute (see ``runs.py``).

A job (its input, JSON) names the target file, the text to load it from
(original or candidate) and the tasks to run: tests, record inputs,
differential check, profile, or ``bench`` (evaluate the benchmark expression
``loops`` times, for the host to time from outside). The job's state is sent
to the host after every stage, so when the process is killed (timeout,
memory) the host still knows where it was. The exit status is 0 only when
every task ran and the tests and the differential check (those that ran) passed.
"""

from __future__ import annotations

import base64
import importlib
import json
import pickle
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from workflows.code_session.checks import differential_check, run_tests, same_value, short_repr
from workflows.code_session.measure import line_profile, profile_expression
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
        recorder = Recorder(spec["record_limit"]) if "record" in spec["tasks"] else None
        originals: dict[str, Any] = {}

        def after_exec(module: ModuleType) -> None:
            fn = module.__dict__.get(fn_name)
            if recorder is not None and callable(fn):
                originals[module.__name__] = fn
                module.__dict__[fn_name] = recorder.wrap(fn)

        sys.path.insert(0, spec["import_root"])
        install_target(Path(spec["target_file"]), spec["text"], after_exec)
        self.stage("import")
        module = importlib.import_module(spec["module_name"])
        fn = getattr(module, fn_name, None)
        if not callable(fn):
            raise TypeError(f"after import, {spec['module_name']}.{fn_name} is not a function")
        tasks = spec["tasks"]
        if "tests" in tasks:
            self.stage("tests")
            self.result["tests"] = run_tests(spec["tests"])
        if "diff" in tasks:
            self.stage("differential check")
            records = pickle.loads(base64.b64decode(spec["records"]))
            self.result["diff"] = differential_check(fn, records, fn_name)
        if "record" in tasks:
            self.stage("benchmark")
            self._run_benchmark_twice(fn, recorder)
            self.stage("recording")
            recorder.enabled = False
            self._keep_repeatable_records(originals.get(spec["module_name"], fn), recorder)
        if "bench" in tasks:
            self.stage("benchmark")
            namespace = self._bench_namespace(fn)
            benchmark = compile(spec["bench"], "<benchmark>", "eval")
            eval(benchmark, namespace)  # the warm-up call every timed run makes
            for _ in range(spec["loops"]):
                eval(benchmark, namespace)
        if "profile" in tasks and self.checks_passed():
            self.stage("profiling")
            unwrapped = originals.get(spec["module_name"], fn)  # not the recorder's wrapper
            namespace = self._bench_namespace(unwrapped)
            self.result["profile"] = profile_expression(spec["bench"], namespace)
            self.result["line_profile"] = line_profile(spec["bench"], namespace, unwrapped.__code__)
        self.stage("done")

    def checks_passed(self) -> bool:
        """The tests and the differential check (those that ran) passed."""
        return all(self.result.get(key, {"ok": True})["ok"] for key in ("tests", "diff"))

    def _bench_namespace(self, fn: Any) -> dict:
        namespace = {"__name__": "__benchmark__", self.spec["fn_name"]: fn}
        if self.spec.get("setup"):
            exec(compile(self.spec["setup"], "<setup>", "exec"), namespace)
        return namespace

    def _run_benchmark_twice(self, fn: Any, recorder: Recorder) -> None:
        namespace = self._bench_namespace(fn)
        first = eval(compile(self.spec["bench"], "<benchmark>", "eval"), namespace)
        recorder.enabled = False
        second = eval(compile(self.spec["bench"], "<benchmark>", "eval"), namespace)
        self.result["bench_result"] = short_repr(first)
        if not same_value(first, second):
            self.result["warnings"].append(
                "the benchmark expression gave different results on two runs "
                f"({short_repr(first, 80)} then {short_repr(second, 80)}): the function may be "
                "non-deterministic or change its inputs"
            )

    def _keep_repeatable_records(self, original: Any, recorder: Recorder) -> None:
        records = recorder.records
        recheck = differential_check(
            original, records, self.spec["fn_name"], limit=len(records) + 1
        )
        failing = set(recheck["failing"])
        if failing:
            self.result["warnings"].append(
                f"{self.spec['fn_name']} gave a different result when called twice on the same "
                f"input ({recheck['mismatches'][0]}); it looks non-deterministic, so "
                f"{len(failing)} of {len(records)} recorded inputs are left out of the differential check"
            )
        kept = [r for i, r in enumerate(records) if i not in failing]
        self.results.send({"records": base64.b64encode(pickle.dumps(kept)).decode("ascii")})
        self.result["records"] = {
            "kept": len(kept),
            "dropped": len(failing),
            "skipped": recorder.skipped,
        }


def main() -> int:
    spec = json.loads(read_input())
    job = _Job(spec, open_results())
    try:
        job.run()
    except BaseException as exc:
        job.result["error"] = {
            "stage": job.result["stage"],
            "type": exception_name(exc),
            "message": str(exc)[:600],
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[
                -3000:
            ],
        }
        job.results.send({"state": job.result})
        return 1
    return 0 if job.checks_passed() else 1


if __name__ == "__main__":
    sys.exit(main())
