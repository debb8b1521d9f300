"""A feedback subgraph rendered as a problem for an LLM optimizer.

The trace becomes a short pseudo-program: the calls in topological order
(``out = op(a=x, b=y)``), what each operation does, the trainable variables
with their types, their constraints, the fixed inputs, intermediate values, the
outputs and the feedback. Sections are titled from a plain mapping, so prompts
can be re-worded without touching code.

Rendering is linear in the size of the subgraph and fits a token budget: values
are elided from the middle, repeated calls of one operation are folded, and as
a last resort only the calls nearest the variables and the outputs are kept.
Trainable variables and feedback are never shortened. Output is deterministic.

Nodes other than the variables are shown under local names: a node's name
without the process-wide counter suffix, numbered again within the problem
(``run_unit_tests_107`` shows as ``run_unit_tests``). So the same computation
renders to the same text whatever else the process traced before it, which
keeps completion-cache keys stable and a small model's greedy answer from
flipping on a counter (the 1.5B model solved a HumanEval problem traced alone
and failed it when traced after nineteen others, for this difference only).
Variables keep their real names: replies refer to them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from optimizers.values import type_label
from trace_engine import CodeParameter, ExceptionNode, FeedbackGraph, Node
from trace_engine.graph import Labels

DEFAULT_TITLES: dict[str, str] = {
    "instruction": "#Instruction",
    "code": "#Code",
    "documentation": "#Documentation",
    "variables": "#Variables",
    "constraints": "#Constraints",
    "inputs": "#Inputs",
    "others": "#Others",
    "outputs": "#Outputs",
    "feedback": "#Feedback",
}
"""Section keys in rendering order, with their default titles."""

DEFAULT_TOKEN_BUDGET = 6000
CHARS_PER_TOKEN = 3.5
"""Characters per token assumed when no tokenizer is available (errs long)."""

_VALUE_CAP = 4000
# (longest value shown, calls kept at each end per operation, calls kept at each end overall)
_LEVELS: tuple[tuple[int, int | None, int | None], ...] = (
    (2000, None, None),
    (500, None, None),
    (500, 100, None),
    (300, 24, None),
    (300, 8, None),
    (200, 4, None),
    (100, 2, None),
    (60, 1, None),
    (60, 1, 24),
    (40, 1, 6),
)


def estimate_tokens(text: str) -> int:
    """Token count of ``text`` estimated from its length."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def elide(text: str, limit: int) -> str:
    """``text`` shortened to about ``limit`` characters by cutting out its middle."""
    if len(text) <= limit:
        return text
    head = max(limit // 2, 1)
    tail = max(limit - head, 1)
    return f"{text[:head]} ...[{len(text) - head - tail} chars elided]... {text[-tail:]}"


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")


def show_value(value: Any) -> str:
    """A value as the optimizer sees it (``repr``, long strings cut before ``repr``).

    Memory addresses in default reprs (``<Agent object at 0x...>``, the ``self`` input
    of a bundled method) are dropped: they say nothing to the optimizer and would
    make the same problem read differently in every process."""
    if isinstance(value, str) and len(value) > _VALUE_CAP:
        cut = len(value) - _VALUE_CAP
        value = f"{value[: _VALUE_CAP // 2]} ...[{cut} chars elided]... {value[-_VALUE_CAP // 2 :]}"
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} whose repr raised {type(exc).__name__}>"
    return elide(_ADDRESS.sub(">", text), _VALUE_CAP)


def show_feedback(feedback: Any) -> str:
    if isinstance(feedback, str):
        return feedback
    try:
        return json.dumps(feedback)
    except (TypeError, ValueError):
        return repr(feedback)


def error_text(error: ExceptionNode) -> str:
    """``Type: message (at line N of f: source)`` for an error node."""
    exc = error.exception
    text = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    return f"{text} (at {error.failed_line})" if error.failed_line else text


@dataclass
class Problem:
    """A rendered problem: section bodies by key, titles, and what was shortened."""

    sections: dict[str, str]
    titles: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TITLES))
    folded: int = 0
    """Calls hidden by folding."""
    elided: int = 0
    """Values shown shortened."""
    tokens: int = 0
    """Size of :attr:`text` in tokens (the tokenizer's count when one was given)."""
    over_budget: bool = False
    """True when even the most compact rendering exceeds the budget (the variables
    and feedback, never shortened, are larger than it)."""

    @property
    def text(self) -> str:
        parts = []
        for key, body in self.sections.items():
            if body:
                parts.append(f"{self.titles.get(key, key)}\n{body}")
        return "\n\n".join(parts)

    def __str__(self) -> str:
        return self.text


class _Facts:
    """Everything about the subgraph that does not depend on how compact the text is."""

    def __init__(self, graph: FeedbackGraph):
        self.parameters = list(graph.parameters)
        trainable = {id(p) for p in self.parameters}
        in_graph = {id(n) for n in graph.nodes}
        outputs = {id(o) for o in graph.outputs}
        self.outputs = list(graph.outputs)
        self.ops: list[Node] = [
            n for n in graph.nodes if n.op is not None and id(n) not in trainable
        ]
        self.is_output = [id(n) in outputs for n in self.ops]
        self.inputs: list[list[Node]] = []
        for n in self.ops:
            self.inputs.append([p for p in n._parents if id(p) not in in_graph])
        self.names = Labels(self.parameters)
        for n, outside in zip(self.ops, self.inputs):
            for p in outside:
                self.names.label(p)  # labelled in order of appearance
            self.names.label(n)
        self.lines = [_call_line(n, self.names) for n in self.ops]
        self.values = [_node_value(n) for n in self.ops]
        self.input_text: dict[int, str] = {}
        self.occurrence: list[int] = []
        self.totals: dict[str, int] = {}
        for n, outside in zip(self.ops, self.inputs):
            for p in outside:
                if id(p) not in self.input_text:
                    self.input_text[id(p)] = f"({_type_of(p)}) {self.names[p]}={show_value(p.data)}"
            self.occurrence.append(self.totals.get(n.op_name, 0))
            self.totals[n.op_name] = self.totals.get(n.op_name, 0) + 1


def _type_of(n: Node) -> str:
    return type_label(n) if n.trainable else type(n._data).__name__


def _call_line(n: Node, names: Labels) -> str:
    args = ", ".join(f"{arg}={names[p]}" for arg, p in n.inputs.items())
    line = f"{names[n]} = {n.op_name}({args})"
    if isinstance(n, ExceptionNode):
        line += f"  # raised {error_text(n)}"
    return line


def _node_value(n: Node) -> str:
    if isinstance(n, ExceptionNode):
        return error_text(n)
    return show_value(n._data)


def _variables(facts: _Facts) -> tuple[str, str]:
    variables, constraints = [], []
    for p in facts.parameters:
        if isinstance(p, CodeParameter):
            variables.append(f"(code) {p.name}:\n{p.data.rstrip()}")
        else:
            note = f"  # {p.description}" if p.description else ""
            variables.append(f"({type_label(p)}) {p.name}={p.data!r}{note}")
        if p.constraint is not None:
            constraints.append(f"{p.name}: {p.constraint.describe()}")
    return "\n".join(variables), "\n".join(constraints)


def _feedback(facts: _Facts) -> str:
    lines = []
    single = len(facts.outputs) == 1
    for o in facts.outputs:
        for fb in o._feedback:
            text = show_feedback(fb)
            lines.append(text if single else f"{facts.names[o]}: {text}")
    return "\n".join(lines)


def _visible(facts: _Facts, keep: int | None, window: int | None) -> list[bool]:
    shown = []
    for i, n in enumerate(facts.ops):
        if keep is None or facts.is_output[i]:
            shown.append(True)
            continue
        k, total = facts.occurrence[i], facts.totals[n.op_name]
        shown.append(k < keep or k >= total - keep)
    if window is not None:
        kept = [i for i, s in enumerate(shown) if s]
        drop = set(kept[window:-window]) if len(kept) > 2 * window else set()
        shown = [s and (i not in drop or facts.is_output[i]) for i, s in enumerate(shown)]
    return shown


def _fold_lines(pending: dict[str, int]) -> list[str]:
    """One line per folded operation, or one line in all when many differ."""
    if len(pending) <= 3:
        return [f"# ... {n} more call(s) of {op} folded ..." for op, n in pending.items()]
    names = list(pending)
    return [
        f"# ... {sum(pending.values())} more calls of {len(names)} operations "
        f"({names[0]} ... {names[-1]}) folded ..."
    ]


def _layout(
    facts: _Facts, limit: int, keep: int | None, window: int | None
) -> tuple[dict, int, int]:
    shown = _visible(facts, keep, window)
    code, docs, inputs, others, outputs = [], {}, {}, [], []
    folded_ops: dict[str, int] = {}
    pending: dict[str, int] = {}
    elided = 0
    for i, n in enumerate(facts.ops):
        if not shown[i]:
            folded_ops[n.op_name] = folded_ops.get(n.op_name, 0) + 1
            pending[n.op_name] = pending.get(n.op_name, 0) + 1
            continue
        code.extend(_fold_lines(pending))
        pending.clear()
        code.append(elide(facts.lines[i], 2 * limit))
        if n.op_name not in docs:
            docs[n.op_name] = f"[{n.op_name}] {n.op.doc}".rstrip() if n.op.doc else ""
        for p in facts.inputs[i]:
            inputs.setdefault(id(p), facts.input_text[id(p)])
        value = facts.values[i]
        if len(value) > limit:
            elided += 1
        entry = f"({type(n._data).__name__}) {facts.names[n]}={elide(value, limit)}"
        (outputs if facts.is_output[i] else others).append(entry)
    code.extend(_fold_lines(pending))
    input_lines = [elide(text, limit + 40) for text in inputs.values()]
    elided += sum(1 for text in inputs.values() if len(text) > limit + 40)
    sections = {
        "code": "\n".join(code),
        "documentation": "\n".join(d for d in docs.values() if d),
        "inputs": "\n".join(input_lines),
        "others": "\n".join(others),
        "outputs": "\n".join(outputs),
    }
    return sections, sum(folded_ops.values()), elided


def render_problem(
    graph: FeedbackGraph,
    *,
    instruction: str = "",
    titles: Mapping[str, str] | None = None,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    count_tokens: Callable[[str], int] | None = None,
) -> Problem:
    """Render ``graph`` (from :func:`trace_engine.feedback_graph`) within ``token_budget``.

    ``count_tokens`` is the backend's tokenizer when one is available; without it
    sizes are estimated from the text's length. ``titles`` overrides section titles
    by key (see :data:`DEFAULT_TITLES`).
    """
    if not isinstance(graph, FeedbackGraph):
        raise TypeError(f"render_problem() needs a FeedbackGraph, got {type(graph).__name__}")
    if not isinstance(token_budget, int) or token_budget <= 0:
        raise ValueError(f"token_budget must be a positive int, got {token_budget!r}")
    unknown = set(titles or ()) - set(DEFAULT_TITLES)
    if unknown:
        raise ValueError(
            f"unknown section key(s) {sorted(unknown)}; known: {', '.join(DEFAULT_TITLES)}"
        )
    merged = {**DEFAULT_TITLES, **(titles or {})}
    facts = _Facts(graph)
    variables, constraints = _variables(facts)
    fixed = {
        "instruction": instruction.strip(),
        "variables": variables,
        "constraints": constraints,
        "feedback": _feedback(facts),
    }
    char_budget = token_budget * CHARS_PER_TOKEN
    for _attempt in range(3):
        problem = _fit(facts, fixed, merged, char_budget)
        problem.tokens = (
            count_tokens(problem.text) if count_tokens else estimate_tokens(problem.text)
        )
        if problem.tokens <= token_budget or problem.over_budget:
            return problem
        char_budget *= 0.95 * token_budget / problem.tokens
    problem.over_budget = True
    return problem


def _fit(
    facts: _Facts, fixed: dict[str, str], titles: dict[str, str], char_budget: float
) -> Problem:
    problem = None
    for limit, keep, window in _LEVELS:
        flexible, folded, elided = _layout(facts, limit, keep, window)
        sections = {key: fixed.get(key, flexible.get(key, "")) for key in DEFAULT_TITLES}
        problem = Problem(sections, dict(titles), folded, elided)
        if len(problem.text) <= char_budget:
            return problem
    problem.over_budget = True
    return problem
