"""The ``trace-engine`` command.

Each subcommand lives in its own module under ``workflows/commands/`` exposing
``register(subparsers)``; a command's handler returns an exit code. User mistakes
raise :class:`UsageError` and are printed without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from trace_engine.errors import TraceEngineError

COMMAND_MODULES = [
    "workflows.commands.graph",
    "workflows.commands.code_session",
    "workflows.commands.cache",
    "workflows.commands.models",
    "workflows.commands.demo",
    "workflows.commands.optimize",
    "workflows.commands.eval",
]


class UsageError(TraceEngineError):
    """A mistake in how the command was called: printed plainly, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    from trace_engine import __version__

    parser = argparse.ArgumentParser(
        prog="trace-engine",
        description="Optimize computational workflows with LLMs.",
    )
    parser.add_argument("--version", action="version", version=f"trace-engine {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from trace_engine.collisions import PackageCollision, check_packages
    from trace_engine.extras import MissingExtra

    try:
        check_packages()  # another distribution's workflows/__init__.py may have let us get here
    except PackageCollision as exc:
        print(f"trace-engine: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except (UsageError, MissingExtra) as exc:
        print(f"trace-engine {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    from workflows.cli import main as installed_main  # one UsageError class, not two

    sys.exit(installed_main())
