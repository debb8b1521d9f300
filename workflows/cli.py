"""The ``trace-engine`` command.

Each subcommand lives in its own module under ``workflows/commands/`` exposing
``register(subparsers)``; a command's handler returns an exit code: 0 success,
1 the job failed, 2 a usage or input error. User mistakes raise
:class:`UsageError` and are printed as one line, without a traceback; so is
anything else that stops a command (``-vv`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import logging
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
PACKAGES = ("trace_engine", "optimizers", "agents", "workflows")
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(TraceEngineError):
    """A mistake in how the command was called or in its input: printed plainly, exit code 2."""


class JobFailed(TraceEngineError):
    """The command ran but could not do its job: printed plainly, exit code 1."""


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


class _StderrHandler(logging.Handler):
    """Log records as ``level: message`` lines on standard error, above any progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(f"{record.levelname.lower()}: {self.format(record)}", file=sys.stderr)
        except Exception:
            self.handleError(record)


def configure_logging(verbose: int, quiet: bool) -> None:
    """Warnings (failed steps) by default, retries with ``-v``, debugging with ``-vv``,
    errors only with ``-q``; for this project's loggers, not the libraries' under them."""
    level = (
        logging.ERROR
        if quiet
        else logging.DEBUG
        if verbose > 1
        else logging.INFO
        if verbose
        else logging.WARNING
    )
    handler = _StderrHandler()
    for name in PACKAGES:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers = [handler]
        logger.propagate = False


def _known_failure(exc: BaseException) -> int | None:
    """The exit code of an exception that ends a command with a known cause (else ``None``)."""
    from optimizers.base import TooManyFailedSteps
    from trace_engine.extras import MissingExtra
    from workflows.run_lock import RunDirectoryBusy
    from workflows.trainer import TrainingFailed

    if isinstance(exc, (JobFailed, TooManyFailedSteps, TrainingFailed)):
        return EXIT_FAILED
    if isinstance(exc, (UsageError, RunDirectoryBusy, MissingExtra)):
        return EXIT_USAGE
    return None


def main(argv: Sequence[str] | None = None) -> int:
    from trace_engine.collisions import PackageCollision, check_packages

    try:
        check_packages()  # another distribution's workflows/__init__.py may have let us get here
    except PackageCollision as exc:
        print(f"trace-engine: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    verbose = getattr(args, "verbose", 0)
    configure_logging(verbose, getattr(args, "quiet", False))
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        code = _known_failure(exc)
        if code is None:
            if verbose > 1:
                raise
            code = EXIT_FAILED
            message = f"{type(exc).__name__}: {exc} (-vv shows where)"
        else:
            message = str(exc)
        print(f"trace-engine {args.command}: error: {' '.join(message.split())}", file=sys.stderr)
        return code


if __name__ == "__main__":
    from workflows.cli import main as installed_main  # one UsageError class, not two

    sys.exit(installed_main())
