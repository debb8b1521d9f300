"""Options shared by the training commands: the LLM, the optimizer, the budget.

Not a command itself (it is not in ``COMMAND_MODULES``); ``demo``, ``optimize``
and ``eval`` use it so that ``--llm``, ``--optimizer`` and ``--budget-usd``
mean the same everywhere.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from workflows.cli import UsageError

OPTIMIZERS = ("optoprime", "optoprime-multi", "opro", "textgrad")


def add_llm_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--llm",
        metavar="SPEC",
        default=None,
        help="model to use: local (the embedded model, default unless $TRACE_ENGINE_LLM is set), "
        "openai:MODEL, openai-compatible:URL#MODEL, llamacpp:PATH.gguf, transformers:PATH",
    )


def make_llm(spec: str | None) -> Any:
    """The LLM for ``--llm`` (``None``: the configured default); a bad spec is a usage error."""
    from trace_engine.llm import SpecError, get_llm

    try:
        return get_llm(spec)
    except SpecError as exc:
        raise UsageError(f"--llm: {exc}") from None


def make_optimizer(
    name: str, parameters: list, llm: Any, *, score: Callable | None = None, **options: Any
) -> Any:
    """One of :data:`OPTIMIZERS` over ``parameters``; ``optoprime-multi`` picks among its
    candidates by ``score(values)`` when given (applying none unless it beats the
    current values), else by majority vote."""
    import optimizers

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
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def short(text: str, limit: int = 160) -> str:
    """One line of at most ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
