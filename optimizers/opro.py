"""OPRO: optimization by prompting, the graph-free baseline.

The LLM sees no trace: only the variables, and the values tried so far with
their scores (worst first, so the best sit next to the question) or, without
scores, their feedback in order. It is asked for values better than all of them.
A score comes from ``backward(output, feedback, score=...)``, from numeric
feedback, or from a feedback dict's ``"score"`` entry.
"""

from __future__ import annotations

import json
from typing import Any

from optimizers.base import Optimizer, Proposal
from optimizers.optoprime import reply_tokens, suggestion_schema
from optimizers.problem import elide, show_feedback
from optimizers.replies import read_reply
from optimizers.values import jsonable, type_label
from trace_engine import CodeParameter, FeedbackGraph, Node, StateError
from trace_engine.llm import Budget

SYSTEM_PROMPT = """\
You find better values for the variables of a program. You see earlier values
with their score or feedback. Propose new values that do better than all of them
and differ from them. Reply with one JSON object only:
{"reasoning": "<one short sentence>", "suggestion": {"<variable name>": <new value>}}
Write each value in its type. For a (code) variable, write the complete function."""


def score_of(feedback: Any) -> float | None:
    """The score in a feedback value: a number, or a dict's ``"score"``."""
    if isinstance(feedback, bool):
        return None
    if isinstance(feedback, (int, float)):
        return float(feedback)
    if isinstance(feedback, dict) and isinstance(feedback.get("score"), (int, float)):
        return float(feedback["score"])
    return None


class OPRO(Optimizer):
    """Optimization by PROmpting (Yang et al., 2023) over this library's parameters.

    ``history_size`` bounds the pairs shown; ``higher_is_better`` orders scores.
    """

    def __init__(
        self,
        parameters,
        llm: Any = None,
        *,
        history_size: int = 20,
        objective: str | None = None,
        higher_is_better: bool = True,
        max_tokens: int | None = None,
        budget: Budget | None = None,
    ):
        super().__init__(parameters, llm, budget=budget)
        if not isinstance(history_size, int) or history_size < 1:
            raise ValueError(f"history_size must be an int >= 1, got {history_size!r}")
        self.history_size = history_size
        self.objective = objective
        self.higher_is_better = higher_is_better
        self.max_tokens = max_tokens
        self.trajectory: list[dict[str, Any]] = []
        self._pending_score: float | None = None

    def backward(self, output: Node, feedback: Any, *, score: float | None = None) -> None:
        """As :meth:`Optimizer.backward`; ``score`` rates the current values explicitly."""
        super().backward(output, feedback)
        found = score if score is not None else score_of(feedback)
        if found is not None:
            self._pending_score = float(found)

    def zero_feedback(self) -> None:
        super().zero_feedback()
        self._pending_score = None

    def record(self, graph: FeedbackGraph) -> None:
        """Add the current values with their score/feedback to the trajectory."""
        values = {p.name: jsonable(p.data) for p in self.parameters}
        feedback = "; ".join(show_feedback(f) for o in graph.outputs for f in o._feedback)
        entry = {"values": values, "score": self._pending_score, "feedback": feedback}
        self.trajectory = [e for e in self.trajectory if e["values"] != values] + [entry]

    def shown(self) -> list[dict[str, Any]]:
        """The pairs shown to the LLM: unscored in order, then scored worst first."""
        recent = self.trajectory[-self.history_size :]
        unscored = [e for e in recent if e["score"] is None]
        scored = sorted(
            (e for e in recent if e["score"] is not None),
            key=lambda e: e["score"] if self.higher_is_better else -e["score"],
        )
        return unscored + scored

    def messages(self) -> list[dict[str, str]]:
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
        user = (
            f"#Goal\n{goal}\n\n#Variables\n"
            + "\n".join(lines)
            + "\n\n#Earlier values\n"
            + "\n\n".join(past)
        )
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]

    def propose(
        self, graph: FeedbackGraph, *, temperature: float = 0.0, seed: int | None = None
    ) -> Proposal:
        self.record(graph)
        completion = self.complete(
            self.messages(),
            temperature=temperature,
            seed=seed,
            max_tokens=self.max_tokens or reply_tokens(self.parameters),
            json_schema=suggestion_schema(self.parameters),
        )
        names = [p.name for p in self.parameters]
        return Proposal.from_reply(read_reply(completion.text, completion.json, names=names))

    def extra_state(self) -> dict[str, Any]:
        return {"trajectory": list(self.trajectory)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        trajectory = state.get("trajectory", [])
        if not isinstance(trajectory, list) or not all(
            isinstance(e, dict) and {"values", "score", "feedback"} <= set(e) for e in trajectory
        ):
            raise StateError("OPRO state 'trajectory' must be a list of {values, score, feedback}")
        self.trajectory = list(trajectory)
