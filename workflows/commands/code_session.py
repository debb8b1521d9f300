"""``trace-engine code-session TARGET``: an LLM proposes faster versions of a function; you decide."""

from __future__ import annotations

import argparse
import ast
import math
import shutil
import time
from pathlib import Path
from typing import Any

from workflows.cli import UsageError
from workflows.commands.common import general_options, llm_options, llm_spec, make_llm

DEFAULT_ROUNDS = 3
DEFAULT_MIN_SPEEDUP = 1.1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "code-session",
        parents=[general_options(), llm_options()],
        help="make a Python function faster with an LLM; tests and timings decide, you accept",
        description=(
            "Optimize one function: measure it, let the LLM propose faster versions, check each "
            "in a sandbox (tests + differential comparison with the original), time it, and "
            "review it (or --auto). The accepted version is written back atomically; the "
            "original, a diff and a report are kept in the session directory."
        ),
    )
    parser.add_argument(
        "target",
        nargs="?",
        help="path/to/module.py::function or package.module:function (not needed with --resume)",
    )
    parser.add_argument(
        "--tests",
        action="append",
        default=[],
        metavar="PATH_OR_NODEID",
        help="pytest tests that must keep passing (repeatable)",
    )
    parser.add_argument("--bench", metavar="EXPR", help="the expression to time, e.g. 'f(data)'")
    parser.add_argument("--setup", default="", metavar="CODE", help="code run once before timing")
    parser.add_argument("--rounds", type=int, help=f"optimizer rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument(
        "--auto", action="store_true", help="no questions: accept the best candidate"
    )
    parser.add_argument(
        "--min-speedup",
        type=float,
        help=f"--auto accepts only candidates at least this much faster (default {DEFAULT_MIN_SPEEDUP})",
    )
    parser.add_argument(
        "--session-dir",
        type=Path,
        help="where state, report, diff and backup go (default: .code-sessions/FN-TIME)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the session in --session-dir"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds each sandboxed check may take (default: from the baseline); the sandbox "
        "is bubblewrap where it works, else rlimits only (the report says which)",
    )
    parser.add_argument(
        "--memory-mb",
        type=int,
        default=4096,
        help="address-space limit of sandboxed code (default 4096)",
    )
    parser.add_argument(
        "--repeat", type=int, default=7, help="timing samples per measurement (default 7)"
    )
    parser.add_argument(
        "--root",
        type=Path,
        help="the project the target belongs to (default: the current directory); "
        "package.module targets are looked up there",
    )
    parser.add_argument(
        "--allow-outside",
        action="store_true",
        help="allow a target outside --root or inside an installed library "
        "(the session writes its result into that file)",
    )
    parser.add_argument(
        "--ignore-attr",
        action="append",
        default=[],
        metavar="NAME",
        help="an attribute (NAME or Class.NAME) the differential check leaves out, "
        "e.g. a cache (repeatable)",
    )
    parser.add_argument(
        "--llm-timeout",
        type=float,
        metavar="SECONDS",
        help="seconds one LLM request may take (HTTP backends; default 120)",
    )
    parser.set_defaults(handler=run)


def _check_numbers(args: argparse.Namespace) -> None:
    if args.rounds is not None and args.rounds < 1:
        raise UsageError(f"--rounds must be at least 1, got {args.rounds}")
    for flag, value in (("--min-speedup", args.min_speedup), ("--timeout", args.timeout)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UsageError(f"{flag} must be a finite number > 0, got {value}")
    if args.memory_mb < 64:
        raise UsageError(f"--memory-mb must be at least 64, got {args.memory_mb}")
    if args.repeat < 1:
        raise UsageError(f"--repeat must be at least 1, got {args.repeat}")
    if args.llm_timeout is not None and not 0 < args.llm_timeout < float("inf"):
        raise UsageError(
            f"--llm-timeout must be a positive number of seconds, got {args.llm_timeout}"
        )


def _check_code(text: str, mode: str, flag: str) -> None:
    try:
        ast.parse(text, mode=mode)
    except SyntaxError as exc:
        raise UsageError(f"{flag} is not valid Python: {exc.msg} in {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from workflows.code_session import (
        BaselineError,
        CodeSession,
        SessionError,
        SessionState,
        StateFileError,
        TargetError,
        TerminalReviewer,
        Workload,
        parse_target,
        start_session,
    )

    _check_numbers(args)
    cwd = Path.cwd()
    say = _printer()
    try:
        if args.resume:
            if args.session_dir is None:
                raise UsageError("--resume needs --session-dir DIR (the session to continue)")
            state = SessionState.load(args.session_dir)
            if args.rounds is not None:
                state.rounds = args.rounds
            if args.llm and llm_spec(args.llm) != state.llm:
                say(
                    f"resuming with --llm {llm_spec(args.llm)} instead of the session's {state.llm}"
                )
                state.llm = llm_spec(args.llm)
            state.auto = args.auto or state.auto
            if args.min_speedup is not None:
                state.min_speedup = args.min_speedup
            if args.llm_timeout is not None:
                state.llm_timeout = args.llm_timeout
            llm = make_llm(state.llm, cache=not args.no_cache, timeout=state.llm_timeout)
            say(f"resuming {state.target.spec}: {state.rounds_done} of {state.rounds} rounds done")
            session_dir = args.session_dir
        else:
            if not args.target:
                raise UsageError(
                    "give a TARGET (path/to/module.py::function or package.module:function)"
                )
            if not args.bench:
                raise UsageError("give --bench EXPR: the workload to time, e.g. --bench 'f(data)'")
            _check_code(args.bench, "eval", "--bench")
            _check_code(args.setup, "exec", "--setup")
            target = parse_target(
                args.target, cwd, root=args.root, allow_outside=args.allow_outside
            )
            say(f"target: {target.fn_name} in {target.path} (module {target.module_name})")
            llm = make_llm(args.llm, cache=not args.no_cache, timeout=args.llm_timeout)
            session_dir = args.session_dir or cwd / ".code-sessions" / (
                f"{target.fn_name}-{time.strftime('%Y%m%d-%H%M%S')}"
            )
            workload = Workload(
                bench=args.bench,
                setup=args.setup,
                tests=list(args.tests),
                repeat=args.repeat,
                timeout_s=args.timeout,
                memory_mb=args.memory_mb,
                ignore_attrs=list(args.ignore_attr),
            )
            say(
                f"measuring the original {target.fn_name} (tests, recorded inputs, timing, profile)..."
            )
            made = not session_dir.exists()
            try:
                state = start_session(
                    target,
                    workload,
                    session_dir,
                    rounds=args.rounds or DEFAULT_ROUNDS,
                    auto=args.auto,
                    min_speedup=args.min_speedup or DEFAULT_MIN_SPEEDUP,
                    llm=llm_spec(args.llm),
                    cwd=cwd,
                    llm_timeout=args.llm_timeout,
                )
            except BaseException:
                if made:  # a failed start leaves nothing behind
                    shutil.rmtree(session_dir, ignore_errors=True)
                raise
            say(f"baseline: {state.baseline.timing.describe()}; session directory: {session_dir}")
        for warning in state.warnings:
            say(f"warning: {warning}")
        proposer = _proposer(state, llm)
        reviewer = None if state.auto else TerminalReviewer()
        session = CodeSession(
            state, session_dir, proposer=proposer, cwd=cwd, reviewer=reviewer, say=say
        )
        code = session.run()
        steps = proposer.optimizer.history
        if steps and not any(step.ok for step in steps):
            say(f"failed: every optimizer step failed; the last error: {steps[-1].error}")
            return 1
        return code
    except (TargetError, BaselineError, SessionError, StateFileError) as exc:
        raise UsageError(str(exc)) from None


def _proposer(state, llm: Any):
    from workflows.code_session import OptoPrimeProposer

    definition = next(
        n
        for n in ast.parse(state.original_text).body
        if isinstance(n, ast.FunctionDef) and n.name == state.target.fn_name
    )
    return OptoPrimeProposer(
        fn_name=state.target.fn_name,
        signature=state.signature,
        module_name=state.target.module_name,
        source=state.current_source,
        docstring=ast.get_docstring(definition) or "",
        llm=llm,
    )


def _printer():
    def say(text: str) -> None:
        print(text.rstrip(), flush=True)

    return say
