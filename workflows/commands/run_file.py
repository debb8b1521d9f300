"""``run.json``: the settings a command started a run with, so that a resume is faithful.

A run directory's ``run.json`` names the command that made it (``kind``) and
every setting that shapes the run: the LLM spec as resolved when the run began
(not whatever ``$TRACE_ENGINE_LLM`` says later), the data, the step limit, the
budget. Resuming takes those values; a flag given again may change a setting
that does not define the data (the LLM, the steps, the budget), and the command
says so; a flag that would change the data or the optimizer is refused. The
file is also the mark of a directory a command made, which is what lets
``demo`` replace its own runs and refuse to touch anything else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from trace_engine.files import atomic_write_json
from workflows.cli import UsageError

RUN_FILE = "run.json"


def read_run(directory: str | os.PathLike, kind: str | None = None) -> dict[str, Any] | None:
    """The settings saved in ``directory`` (``None`` if it holds none); one of another
    ``kind`` or an unreadable file is an input error naming the file."""
    path = Path(directory) / RUN_FILE
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UsageError(f"{path} is not a readable run file ({_reason(exc)})") from None
    if not isinstance(saved, dict):
        raise UsageError(f"{path} is not a run file (it holds no JSON object)")
    saved_kind = saved.get("kind", "optimize")  # files from before kinds were recorded
    if kind is not None and saved_kind != kind:
        raise UsageError(
            f"{path} belongs to a run of `trace-engine {saved_kind}`, not `trace-engine {kind}`"
        )
    return saved


def write_run(directory: str | os.PathLike, kind: str, settings: dict[str, Any]) -> Path:
    return atomic_write_json(Path(directory) / RUN_FILE, {"kind": kind, **settings})


def resolve(
    given: dict[str, Any],
    saved: dict[str, Any] | None,
    *,
    fixed: Collection[str],
    defaults: dict[str, Any],
) -> tuple[dict[str, Any], list[str]]:
    """Settings from flags (``None``: not given), a resumed run's ``saved`` ones and
    ``defaults``, in that order; returns them with a line for each saved setting a flag
    overrides. A flag that differs from a saved setting in ``fixed`` is refused."""
    saved = saved or {}
    settings: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in given.items():
        value = str(value) if isinstance(value, Path) else value
        flag = "--" + key.replace("_", "-")
        if key not in saved:
            settings[key] = defaults.get(key) if value is None else value
        elif value is None or value == saved[key]:
            settings[key] = saved[key]
        elif key in fixed:
            raise UsageError(
                f"{flag} {value} differs from the run being resumed ({saved[key]}); "
                "leave it out to continue with the saved value, or start a new run"
            )
        else:
            settings[key] = value
            notes.append(f"{flag} {value} replaces the run's {saved[key]}")
    return settings, notes


SELF_CONTAINED_LLMS = ("local", "openai", "litellm")
"""Spec kinds a saved run may choose by itself: the embedded model, or a provider named
by model only, whose key the user already set for it. Any other spec names a server
address, a key variable or a file, which a run directory someone sent must not pick."""


def check_saved_llm(saved: dict[str, Any] | None, given: str | None, current: str) -> None:
    """Refuse a saved run's LLM that ``--llm`` did not restate when it names where prompts
    (and keys) go: a run directory may come from someone else, and its ``run.json`` must
    not send the user's data or ``$VAR`` to a server or load a file of its choosing."""
    from trace_engine.llm import SpecError
    from trace_engine.llm.config import parse_spec

    spec = (saved or {}).get("llm")
    if given is not None or spec is None or spec == current:
        return
    if not isinstance(spec, str):
        raise UsageError(f"the saved run's LLM {spec!r} is not a spec string; pass --llm SPEC")
    try:
        kind = parse_spec(spec).kind
    except SpecError:
        kind = ""
    if kind not in SELF_CONTAINED_LLMS:
        raise UsageError(
            f"the saved run names the LLM {spec!r}, which would receive your prompts and keys; "
            f"pass --llm {spec} to use it, or --llm another"
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return " ".join(str(exc).split())[:160]
