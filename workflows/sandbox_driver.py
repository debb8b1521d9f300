"""Runs candidate code against a test suite; executed as a separate Python process.

Reads a JSON request on stdin ({"setup", "code", "tests", "entry_point"}), runs
the statements of the tests' ``check(candidate)`` one by one so that every
failing check can be reported (with what the candidate returned and what was
expected), and prints one JSON result line after ``RESULT_MARKER``. Before each
check it names it on stderr, so a caller that kills a stuck run knows where it
was. Uses only the standard library: it runs with ``python -I``.
"""

import ast
import contextlib
import io
import json
import sys
import traceback

RESULT_MARKER = "@@trace-engine-sandbox-result@@"
RUNNING_MARKER = "@@running@@ "
CANDIDATE_FILE = "<candidate>"
MEMORY_LIMIT = 2 * 1024**3
REPR_LIMIT = 300


def _limit_memory():
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):
        pass


def _short(text, limit=REPR_LIMIT):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_repr(value):
    try:
        return _short(repr(value))
    except Exception as exc:  # a value whose repr fails still deserves a report
        return f"<unrepresentable {type(value).__name__}: {exc}>"


def _where(exc, code_lines):
    """The last line of the candidate's code the exception passed through."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == CANDIDATE_FILE]
    if not frames:
        return ""
    n = frames[-1].lineno
    text = code_lines[n - 1].strip() if 0 < n <= len(code_lines) else ""
    return f"line {n}: {text}"


def _error(exc, code_lines):
    where = _where(exc, code_lines)
    message = f"{type(exc).__name__}: {_short(str(exc))}"
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
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<check>"]
    if not frames or not 0 < frames[-1].lineno <= len(test_lines):
        return text
    inner = test_lines[frames[-1].lineno - 1].strip()
    return _short(f"{inner} (inside `{text}`)", 400)


def run(request):
    code = request["code"]
    code_lines = code.splitlines()
    namespace = {"__name__": "__candidate__"}
    captured = io.StringIO()
    result = {"status": "error", "passed": 0, "total": 0, "failures": [], "error": None}
    with contextlib.redirect_stdout(captured):
        try:
            exec(compile(request.get("setup") or "", "<setup>", "exec"), namespace)
        except Exception as exc:
            result["error"] = f"the setup code failed: {type(exc).__name__}: {exc}"
            return result
        try:
            exec(compile(code, CANDIDATE_FILE, "exec"), namespace)
        except SyntaxError as exc:
            result["error"] = f"the code does not parse: {exc.msg} (line {exc.lineno})"
            return result
        except Exception as exc:
            result["error"] = f"defining the code raised {_error(exc, code_lines)}"
            return result
        candidate = namespace.get(request["entry_point"])
        if not callable(candidate):
            result["error"] = f"the code defines no function named {request['entry_point']!r}"
            return result
        module, body, param = _checks(request["tests"])
        test_ns = namespace  # as in HumanEval: the tests may use the program's names
        exec(compile(module, "<tests>", "exec"), test_ns)
        test_ns[param] = candidate
        test_lines = request["tests"].splitlines()
        result["total"] = sum(1 for stmt in body if _is_check(stmt))
        for stmt in body:
            text = _statement_text(stmt, test_lines)
            print(RUNNING_MARKER + text, file=sys.stderr, flush=True)
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
    result["status"] = "passed" if result["passed"] == result["total"] else "failed"
    result["output"] = _short(captured.getvalue(), 500)
    return result


def main():
    request = json.loads(sys.stdin.read())
    _limit_memory()
    sys.setrecursionlimit(3000)
    try:
        result = run(request)
    except BaseException as exc:  # report anything, even SystemExit raised by the candidate
        result = {
            "status": "error",
            "passed": 0,
            "total": 0,
            "failures": [],
            "error": f"the test run stopped: {type(exc).__name__}: {_short(str(exc))}",
        }
    sys.stdout.write("\n" + RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
