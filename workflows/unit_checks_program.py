"""Runs a test suite against candidate code; the job a sandbox runs for ``unit_checks.py``.

Reads a JSON request on standard input ({"setup", "code", "tests",
"entry_point"}) and takes the run's result pipe before anything untrusted
runs. The candidate code is defined in a process of its own
(``isolation.candidate``), forked before the request is read (so it never holds
the tests), that cannot reach that pipe; the statements of the
tests' ``check(candidate)`` run here, one by one, calling it across the
process boundary and comparing plain values, so every failing check can be
reported (with what the candidate returned and what was expected). Before
each check it sends the check's text, so a host that kills a stuck run knows
where it was; at the end it sends the result.
"""

import ast
import json
import sys

from workflows.isolation.candidate import CandidateError, CandidateProcess, last_line_in
from workflows.isolation.channel import open_results, read_input

CANDIDATE_FILE = "<candidate>"
REPR_LIMIT = 300


def _short(text, limit=REPR_LIMIT):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_repr(value):
    try:
        return _short(repr(value))
    except Exception as exc:  # a value whose repr fails still deserves a report
        return f"<unrepresentable {type(value).__name__}: {exc}>"


def _where(line, code_lines):
    if not isinstance(line, int):
        return ""
    text = code_lines[line - 1].strip() if 0 < line <= len(code_lines) else ""
    return f"line {line}: {text}"


def _error(exc, code_lines):
    """An exception raised by the candidate (in its process) or by the checks, in words."""
    where = _where(getattr(exc, "candidate_line", None), code_lines)
    message = (
        _short(str(exc))
        if isinstance(exc, CandidateError)
        else f"{type(exc).__name__}: {_short(str(exc))}"
    )
    return message + (f" (at {where})" if where else "")


def _compare_parts(test, namespace):
    """For ``assert A == B`` that failed: the values of A and B."""
    if not (isinstance(test, ast.Compare) and len(test.comparators) == 1):
        return None
    try:
        got = eval(compile(ast.Expression(test.left), "<check>", "eval"), namespace)
        expected = eval(compile(ast.Expression(test.comparators[0]), "<check>", "eval"), namespace)
    except Exception:
        return None
    return _safe_repr(got), _safe_repr(expected)


def _checks(tests):
    """The module-level part of the tests and the statements of check()'s body."""
    tree = ast.parse(tests)
    check = None
    rest = []
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "check":
            check = stmt
        else:
            rest.append(stmt)
    if check is None:
        raise ValueError("the tests define no check(candidate) function")
    param = check.args.args[0].arg if check.args.args else "candidate"
    return ast.Module(body=rest, type_ignores=[]), check.body, param


def _is_check(stmt):
    """A statement of check()'s body that asserts something (others only set up)."""
    return any(isinstance(n, ast.Assert) for n in ast.walk(stmt))


def _statement_text(stmt, test_lines):
    first = test_lines[stmt.lineno - 1].strip() if stmt.lineno <= len(test_lines) else ""
    multi = (stmt.end_lineno or stmt.lineno) > stmt.lineno
    return _short(first + (" ..." if multi else ""), 300)


def _failing_text(exc, stmt, text, test_lines):
    """The statement, and for a block (a loop) the line inside it that failed."""
    if (stmt.end_lineno or stmt.lineno) == stmt.lineno:
        return text
    line = last_line_in(exc, "<check>")
    if line is None or not 0 < line <= len(test_lines):
        return text
    inner = test_lines[line - 1].strip()
    return _short(f"{inner} (inside `{text}`)", 400)


def _define_from(payload):
    """What the waiting candidate's process runs with the payload it is sent."""
    return _define(payload["setup"], payload["code"], payload["entry_point"])()


def _define(setup, code, entry_point):
    """What the candidate's process runs: the setup, then the code; the function."""

    def define():
        namespace = {"__name__": "__candidate__"}
        exec(compile(setup or "", "<setup>", "exec"), namespace)
        exec(compile(code, CANDIDATE_FILE, "exec"), namespace)
        function = namespace.get(entry_point)
        if not callable(function):
            raise LookupError(f"the code defines no function named {entry_point!r}")
        return function

    return define


def _definition_error(defined, code_lines):
    kind, message = defined.get("raised", ""), str(defined.get("message", ""))
    if kind == "LookupError" and message.startswith("the code defines no function"):
        return message
    if not kind:
        return f"defining the code failed: {message}"
    where = _where(defined.get("line"), code_lines)
    return f"defining the code raised {kind}: {_short(message)}" + (
        f" (at {where})" if where else ""
    )


def run(request, results, candidate):
    code = request["code"]
    code_lines = code.splitlines()
    result = {"status": "error", "passed": 0, "total": 0, "failures": [], "error": None}
    try:
        ast.parse(code)
    except SyntaxError as exc:
        result["error"] = f"the code does not parse: {exc.msg} (line {exc.lineno})"
        return result
    test_ns = {"__name__": "__checks__"}
    try:
        exec(compile(request.get("setup") or "", "<setup>", "exec"), test_ns)
    except Exception as exc:
        result["error"] = f"the setup code failed: {type(exc).__name__}: {exc}"
        return result
    payload = {"setup": request.get("setup") or "", "code": code}
    candidate.define_with(
        {**payload, "entry_point": request["entry_point"]}, f"`{request['entry_point']}`"
    )
    try:
        if not candidate.defined.get("defined"):
            result["error"] = _definition_error(candidate.defined, code_lines)
            return result
        module, body, param = _checks(request["tests"])
        exec(compile(module, "<tests>", "exec"), test_ns)
        test_ns[param] = candidate
        test_ns[request["entry_point"]] = candidate
        test_lines = request["tests"].splitlines()
        result["total"] = sum(1 for stmt in body if _is_check(stmt))
        for stmt in body:
            text = _statement_text(stmt, test_lines)
            results.send({"running": text})
            try:
                exec(compile(ast.Module(body=[stmt], type_ignores=[]), "<check>", "exec"), test_ns)
                if _is_check(stmt):
                    result["passed"] += 1
            except AssertionError as exc:
                failure = {"check": _failing_text(exc, stmt, text, test_lines), "kind": "assertion"}
                parts = _compare_parts(stmt.test, test_ns) if isinstance(stmt, ast.Assert) else None
                if parts:
                    failure["got"], failure["expected"] = parts
                if str(exc):
                    failure["message"] = _short(str(exc))
                result["failures"].append(failure)
            except Exception as exc:
                result["failures"].append(
                    {
                        "check": _failing_text(exc, stmt, text, test_lines),
                        "kind": "error",
                        "message": _error(exc, code_lines),
                    }
                )
    finally:
        candidate.close()
    result["status"] = "passed" if result["passed"] == result["total"] else "failed"
    return result


def main():
    # The candidate's process is forked before the input is read, so its memory never
    # holds the tests (a candidate that walks frames cannot look up the expected values).
    candidate = CandidateProcess(_define_from, "the candidate", CANDIDATE_FILE, waits=True)
    request = json.loads(read_input())
    results = open_results()
    sys.setrecursionlimit(3000)
    try:
        result = run(request, results, candidate)
    except Exception as exc:  # a broken test suite is reported, not a crash
        result = {
            "status": "error",
            "passed": 0,
            "total": 0,
            "failures": [],
            "error": f"the test run stopped: {type(exc).__name__}: {_short(str(exc))}",
        }
        import traceback  # only here: loading it costs every check a few milliseconds

        traceback.print_exc()
    finally:
        candidate.close()
    results.send({"result": result})


if __name__ == "__main__":
    main()
