"""Calls a function an LLM wrote; the job the sandbox runs for ``code_calls.py``.

Reads a JSON request on standard input ({"module", "name", "source", "modules",
"values", "args", "kwargs"}) and takes the run's result pipe before anything
untrusted runs. The function is defined and called in a process of its own
(``isolation.candidate``) that cannot reach that pipe; this process only passes
plain data: what the call returned, or the exception it raised, becomes one
result message.
"""

import builtins
import importlib
import json

from trace_engine.source import compile_checked
from workflows.isolation import plain
from workflows.isolation.candidate import CandidateProcess
from workflows.isolation.channel import open_results, read_input

SOURCE_FILE = "<written code>"


def _define(request):
    """What the function's process runs: the module's modules and constants, then the code."""

    def define():
        namespace = {"__name__": request["module"], "__builtins__": builtins}
        for name, module in request["modules"].items():
            try:
                namespace[name] = importlib.import_module(module)
            except ImportError:
                continue
        namespace.update(plain.decode(request["values"]))
        exec(compile_checked(request["source"], SOURCE_FILE), namespace)
        return namespace[request["name"]]

    return define


def run(request):
    candidate = CandidateProcess(_define(request), f"`{request['name']}`", SOURCE_FILE)
    try:
        if not candidate.defined.get("defined"):
            return {
                "raised": candidate.defined.get("raised") or "CandidateError",
                "message": f"defining it failed: {candidate.defined.get('message', '')}",
                "line": candidate.defined.get("line"),
            }
        try:
            value = candidate(*plain.decode(request["args"]), **plain.decode(request["kwargs"]))
        except Exception as exc:  # the call's error, rebuilt here (a CandidateError if it died)
            line = getattr(exc, "candidate_line", None)
            return {"raised": type(exc).__name__, "message": str(exc), "line": line}
        return {"returned": plain.encode(value)}
    finally:
        candidate.close()


def main():
    request = json.loads(read_input())
    results = open_results()
    results.send({"result": run(request)})


if __name__ == "__main__":
    main()
