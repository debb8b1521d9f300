"""OPRO: optimization by prompting, the graph-free baseline.

The LLM sees no trace: only the variables, and the values tried so far with
their scores (worst first, so the best sit next to the question) or, without
scores, their feedback in order. It is asked for values better than all of them.
A score comes from ``backward(output, feedback, score=...)``, from numeric
feedback, or from a feedback dict's ``"score"`` entry.

Values are asked for as one schema-bound JSON object; new functions for code
variables as fenced ```python blocks (see :mod:`optimizers.code_replies`), as in
OptoPrime: one plain-text call when every variable is code, else the JSON call
for the other values first and a code-block call told what it chose.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from optimizers.base import DEFAULT_MAX_ERRORS, Optimizer, Proposal
from optimizers.code_replies import code_reply_format, split_code
from optimizers.problem import elide, show_feedback
from optimizers.prompts import CODE_LATER, OPRO_CODE_INLINE, OPRO_JSON_REPLY, OPRO_TASK
from optimizers.values import jsonable, type_label
from trace_engine import CodeParameter, FeedbackGraph, StateError
from trace_engine.llm import Budget


class OPRO(Optimizer):
    """Optimization by PROmpting (Yang et al., 2023) over this library's parameters.

    ``memory_size`` bounds the earlier values shown (the most recent ones);
    ``higher_is_better`` orders scores.
    """

    def __init__(
        self,
        parameters,
        llm: Any = None,
        *,
        memory_size: int = 20,
        objective: str | None = None,
        higher_is_better: bool = True,
        max_tokens: int | None = None,
        budget: Budget | None = None,
        max_errors: int | None = DEFAULT_MAX_ERRORS,
    ):
        super().__init__(parameters, llm, budget=budget, max_errors=max_errors)
        if not isinstance(memory_size, int) or memory_size < 1:
            raise ValueError(f"memory_size must be an int >= 1, got {memory_size!r}")
        self.memory_size = memory_size
        self.objective = objective
        self.higher_is_better = higher_is_better
        self.max_tokens = max_tokens
        self.trajectory: list[dict[str, Any]] = []

    def record(self, graph: FeedbackGraph) -> None:
        """Add the current values with their score/feedback to the trajectory."""
        values = {p.name: jsonable(p.data) for p in self.parameters}
        feedback = "; ".join(show_feedback(f) for o in graph.outputs for f in o._feedback)
        entry = {"values": values, "score": self.feedback_score, "feedback": feedback}
        self.trajectory = [e for e in self.trajectory if e["values"] != values] + [entry]

    def shown(self) -> list[dict[str, Any]]:
        """The pairs shown to the LLM: unscored in order, then scored worst first."""
        recent = self.trajectory[-self.memory_size :]
        unscored = [e for e in recent if e["score"] is None]
        scored = sorted(
            (e for e in recent if e["score"] is not None),
            key=lambda e: e["score"] if self.higher_is_better else -e["score"],
        )
        return unscored + scored

    def system_prompt(self, code: Sequence[CodeParameter] = (), *, code_later: bool = False) -> str:
        """The system prompt asking for a JSON reply, or for code blocks for ``code``.

        ``code_later``: a JSON call whose code variables are asked for in a next call.
        """
        if code:
            return f"{OPRO_TASK}\n{code_reply_format(code)}"
        return OPRO_TASK + OPRO_JSON_REPLY + (CODE_LATER if code_later else OPRO_CODE_INLINE)

    def messages(self) -> list[dict[str, str]]:
        """The messages of a step's first call (code blocks when all variables are code)."""
        code, values = split_code(self.parameters)
        system = self.system_prompt(code_later=bool(code)) if values else self.system_prompt(code)
        return [{"role": "system", "content": system}, {"role": "user", "content": self.user()}]

    def user(self) -> str:
        """The goal, the variables and the earlier values with their scores or feedback."""
        lines = []
        for p in self.parameters:
            note = (
                f" - {p.description}" if p.description and not isinstance(p, CodeParameter) else ""
            )
            rule = f" (constraint: {p.constraint.describe()})" if p.constraint else ""
            lines.append(f"{p.name} ({type_label(p)}){note}{rule}")
        past = []
        for e in self.shown():
            values = elide(json.dumps(e["values"], ensure_ascii=False), 1500)
            judged = f"score: {e['score']:g}" if e["score"] is not None else ""
            if e["feedback"] and (e["score"] is None or e["feedback"] != f"{e['score']:g}"):
                judged = f"{judged}; feedback: {elide(e['feedback'], 400)}".lstrip("; ")
            past.append(f"values: {values}\n{judged}")
        direction = "higher" if self.higher_is_better else "lower"
        goal = self.objective or f"Find values with a {direction} score and better feedback."
        return (
            f"#Goal\n{goal}\n\n#Variables\n"
            + "\n".join(lines)
            + "\n\n#Earlier values\n"
            + "\n\n".join(past)
        )

    def propose(
        self, graph: FeedbackGraph, *, temperature: float = 0.0, seed: int | None = None
    ) -> Proposal:
        """Values from a schema-bound JSON call, functions from a code-block call that,
        when both are asked for, follows the JSON call and is shown its choices."""
        self.record(graph)
        code, values = split_code(self.parameters)
        reply = self.ask(
            self.messages(),
            values,
            code,
            code_system=self.system_prompt(code),
            max_tokens=self.max_tokens,
            temperature=temperature,
            seed=seed,
        )
        return Proposal.from_reply(reply)

    def extra_state(self) -> dict[str, Any]:
        return {"trajectory": list(self.trajectory)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        trajectory = state.get("trajectory", [])
        if not isinstance(trajectory, list) or not all(
            isinstance(e, dict) and {"values", "score", "feedback"} <= set(e) for e in trajectory
        ):
            raise StateError("OPRO state 'trajectory' must be a list of {values, score, feedback}")
        self.trajectory = list(trajectory)
