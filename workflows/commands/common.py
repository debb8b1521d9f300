"""Options and helpers shared by the commands.

Not a command itself (it is not in ``COMMAND_MODULES``). Every command takes
:func:`general_options` (``-v``/``-q``, ``--no-progress``); every command that
calls a model takes :func:`llm_options` (``--llm``, ``--no-cache``), so each
flag means the same everywhere.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workflows.cli import UsageError

OPTIMIZERS = ("optoprime", "optoprime-multi", "opro", "textgrad", "archive")
LLM_HELP = (
    "model to use: local (the embedded model, default unless $TRACE_ENGINE_LLM is set), "
    "openai:MODEL, openai-compatible:URL#MODEL, llamacpp:PATH.gguf, transformers:PATH"
)


def general_options() -> argparse.ArgumentParser:
    """The parent parser of every command: how much it says on standard error."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("output")
    verbosity = group.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="say more on standard error: retried LLM calls (-vv: debugging detail and tracebacks)",
    )
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="only errors on standard error, no progress bars"
    )
    group.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (they are off anyway when standard error is not a terminal)",
    )
    return parent


def llm_options() -> argparse.ArgumentParser:
    """The parent parser of every command that calls a model."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("model")
    group.add_argument("--llm", metavar="SPEC", default=None, help=LLM_HELP)
    group.add_argument(
        "--no-cache",
        action="store_true",
        help="do not answer from (or fill) the disk cache of LLM completions",
    )
    return parent


def executor_options(parser: argparse.ArgumentParser) -> None:
    """``--parallel``, ``--executor`` and ``--ray-address``: where evaluations run."""
    parser.add_argument(
        "--parallel",
        type=positive_int,
        default=2,
        help="evaluations at once (threads, or Ray tasks in flight) (default: 2)",
    )
    parser.add_argument(
        "--executor",
        choices=("thread", "ray"),
        default="thread",
        help="run evaluations in threads here (default) or as tasks on a Ray cluster "
        '(pip install "trace-engine[ray]")',
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="the Ray cluster to join (HOST:PORT, ray://HOST:PORT or auto); default: "
        "$RAY_ADDRESS, else a local Ray is started",
    )


def check_executor_options(args: argparse.Namespace) -> None:
    """Refuse executor options that do not go together, before any work."""
    if args.ray_address is not None and args.executor != "ray":
        raise UsageError("--ray-address is for --executor ray; add --executor ray or leave it out")


def make_executor(args: argparse.Namespace) -> Any:
    """The executor ``--executor``/``--ray-address``/``--parallel`` ask for; a problem
    (an address for threads, no cluster there) is one line."""
    from trace_engine.executors import ExecutorError
    from trace_engine.executors import make_executor as make

    check_executor_options(args)
    try:
        return make(args.executor, workers=args.parallel, address=args.ray_address)
    except (ValueError, ExecutorError) as exc:
        raise UsageError(f"--executor {args.executor}: {exc}") from None


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only for a person watching: not asked away, and stderr is a terminal."""
    quiet = getattr(args, "quiet", False) or getattr(args, "no_progress", False)
    return not quiet and sys.stderr.isatty()


def llm_spec(spec: str | None) -> str:
    """The spec ``--llm`` stands for: itself, else ``$TRACE_ENGINE_LLM``, else ``local``.
    Recorded in a run so that resuming it uses the same model whatever the environment."""
    from trace_engine.llm.registry import default_spec

    return (spec or default_spec()).strip()


def make_llm(
    spec: str | None,
    *,
    cache: bool = True,
    budget: Any = None,
    check: bool = True,
    timeout: float | None = None,
) -> Any:
    """The LLM for ``--llm`` (``None``: the configured default), checked before any work
    unless ``check`` is false (then call :func:`check_usable` once the other inputs are
    validated): a bad spec, an unusable model (no model files, no key, a server that is
    down or rejects the key), a USD ``budget`` on an unpriced model or an unreadable
    cache is a usage error, one line saying what is wrong and how to fix it. ``timeout``
    (seconds per HTTP request) replaces the backend's default."""
    from trace_engine.llm import SpecError, get_llm

    if cache:
        check_cache(None)
    try:
        options = {"timeout": timeout} if timeout else {}
        llm = get_llm(llm_spec(spec), cache=cache, **options)
    except SpecError as exc:
        raise UsageError(f"--llm {llm_spec(spec)}: {exc}") from None
    if check:
        check_usable(llm, spec, budget)
    return llm


def check_usable(llm: Any, spec: str | None, budget: Any = None) -> None:
    """Stop with one line if ``llm`` cannot do the work (see :func:`make_llm`)."""
    from trace_engine.llm import LLMError, check_llm

    try:
        check_llm(llm, budget=budget)
    except LLMError as exc:
        raise UsageError(f"--llm {llm_spec(spec)}: {exc}") from None


def check_cache(directory: str | None) -> Path:
    """Open the completion cache in ``directory`` (``None``: the default one) now, so that a
    corrupt one is one clear line before any work rather than a failure in every call."""
    import sqlite3

    from trace_engine.llm.cache import CacheUnusable, default_cache_dir, open_cache

    path = Path(directory).expanduser() if directory else default_cache_dir()
    try:
        open_cache(path)
    except (CacheUnusable, sqlite3.Error, OSError) as exc:
        raise UsageError(
            f"the completion cache in {path} cannot be opened ({exc}); it only holds cached "
            f"answers: delete that directory, or run without it (--no-cache)"
        ) from None
    return path


def make_optimizer(
    name: str,
    parameters: list,
    llm: Any,
    *,
    score: Callable | None = None,
    seed: int = 0,
    **options: Any,
) -> Any:
    """One of :data:`OPTIMIZERS` over ``parameters``; ``optoprime-multi`` picks among its
    candidates by ``score(values)`` when given (applying none unless it beats the
    current values), else by majority vote. ``archive`` is an
    :class:`~optimizers.archive.ArchiveSearch` proposing with OptoPrime (its
    candidates are scored by the Trainer on the training split); ``seed`` seeds its
    crossovers and sampling."""
    import optimizers
    from optimizers.archive import ArchiveSearch

    if name == "archive":
        return ArchiveSearch(optimizers.OptoPrime(parameters, llm, **options), seed=seed)

    classes = {
        "optoprime": optimizers.OptoPrime,
        "optoprime-multi": optimizers.OptoPrimeMulti,
        "opro": optimizers.OPRO,
        "textgrad": optimizers.TextGrad,
    }
    if name not in classes:
        raise UsageError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if name == "optoprime-multi":
        choice = (
            {"select": "score", "score": score, "keep_current": True}
            if score
            else {"select": "majority"}
        )
        options = {**options, **choice}
    return classes[name](parameters, llm, **options)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (``nan`` and ``inf`` are refused: they would never stop anything)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def short(text: str, limit: int = 160) -> str:
    """One line of at most ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
