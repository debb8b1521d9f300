"""TextGrad: textual gradients passed backward through the trace.

Starting from the feedback on the outputs, the feedback subgraph is walked in
reverse topological order. For each operation whose result has feedback, one
LLM call critiques each of its inputs that lies on a path from a parameter
("how should this input change?"); a node reached from several operations
collects several critiques, which are aggregated. Finally, one call per
parameter turns its aggregated critique into an improved value: a schema-bound
JSON reply for a value, a fenced ```python block for a code variable (see
:mod:`optimizers.code_replies`). Code variables come after the values, and each
code call is shown the values chosen in the same step.

``max_backward_calls`` bounds the per-step cost on long chains: once it is spent,
an operation passes the feedback on its result unchanged to its inputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from optimizers.base import DEFAULT_MAX_ERRORS, Optimizer, Proposal, StepResult
from optimizers.code_replies import (
    code_call_messages,
    code_reply_format,
    read_code_reply,
    split_code,
)
from optimizers.problem import elide, show_feedback, show_value
from optimizers.prompts import GRADIENT_PROMPT, UPDATE_PROMPT, UPDATE_TASK
from optimizers.prompts import TEXTGRAD_MEMORY_TITLE as MEMORY_TITLE
from optimizers.replies import Reply, ReplyError, read_object
from optimizers.schemas import REASONING_CHARS
from optimizers.values import jsonable, type_label, value_schema
from trace_engine import CodeParameter, FeedbackGraph, Node, Parameter, StateError
from trace_engine.llm import Budget, Completion

CRITIQUE_CHARS = 300
VALUE_CHARS = 600


def read_code_update(text: str, code: Sequence[CodeParameter]) -> Reply:
    """:func:`~optimizers.code_replies.read_code_reply` for one code variable, also reading
    a reply in the older ``{"reasoning", "value"}`` format."""
    try:
        return read_code_reply(text, code)
    except ReplyError as exc:
        failure = exc
    try:
        value = read_object(text)
    except ReplyError:
        raise failure from None
    if len(code) != 1 or "value" not in value:
        raise failure
    return Reply(
        reasoning=str(value.get("reasoning") or ""), suggestion={code[0].name: value["value"]}
    )


def aggregate(critiques: list[str]) -> str:
    """Several critiques of one node as one text (one critique is returned as is)."""
    if len(critiques) == 1:
        return critiques[0]
    return "\n".join(f"{i}. {c}" for i, c in enumerate(critiques, 1))


class TextGrad(Optimizer):
    """TextGrad (Yuksekgonul et al., 2024): backward critiques, then per-variable updates.

    ``memory_size=k`` (TextGrad's momentum) shows each variable's update request
    its last ``k`` values with the critique each received; 0 shows none.
    """

    def __init__(
        self,
        parameters,
        llm: Any = None,
        *,
        max_backward_calls: int = 16,
        objective: str | None = None,
        max_tokens: int | None = None,
        memory_size: int = 0,
        budget: Budget | None = None,
        max_errors: int | None = DEFAULT_MAX_ERRORS,
    ):
        super().__init__(parameters, llm, budget=budget, max_errors=max_errors)
        if not isinstance(max_backward_calls, int) or max_backward_calls < 0:
            raise ValueError(f"max_backward_calls must be an int >= 0, got {max_backward_calls!r}")
        if not isinstance(memory_size, int) or isinstance(memory_size, bool) or memory_size < 0:
            raise ValueError(f"memory_size must be an int >= 0, got {memory_size!r}")
        self.max_backward_calls = max_backward_calls
        self.objective = objective
        self.max_tokens = max_tokens
        self.memory_size = memory_size
        self.memory: dict[str, list[dict[str, Any]]] = {}
        """Per variable name: its earlier values with their critiques, oldest first."""

    def gradients(
        self, graph: FeedbackGraph, *, temperature: float = 0.0, seed: int | None = None
    ) -> dict[Node, str]:
        """Aggregated critique of each node on the path, outputs included."""
        critiques: dict[int, list[str]] = {}
        for o in graph.outputs:
            critiques.setdefault(id(o), []).extend(show_feedback(f) for f in o._feedback)
        on_path = {id(n) for n in graph.nodes}
        calls = 0
        for n in reversed(graph.nodes):
            if n.op is None or id(n) not in critiques:
                continue
            targets = {arg: p for arg, p in n.inputs.items() if id(p) in on_path}
            if not targets:
                continue
            feedback = aggregate(critiques[id(n)])
            if calls < self.max_backward_calls:
                calls += 1
                per_input = self._critique(n, targets, feedback, temperature, seed)
            else:
                per_input = dict.fromkeys(targets, feedback)
            for arg, p in targets.items():
                critiques.setdefault(id(p), []).append(per_input[arg])
        return {n: aggregate(critiques[id(n)]) for n in graph.nodes if id(n) in critiques}

    def _critique(
        self, n: Node, targets: dict[str, Node], feedback: str, temperature, seed
    ) -> dict[str, str]:
        args = ", ".join(f"{arg}={p.name}" for arg, p in n.inputs.items())
        values = "\n".join(
            f"{arg} = {p.data.rstrip() if isinstance(p, CodeParameter) else elide(show_value(p.data), VALUE_CHARS)}"
            for arg, p in n.inputs.items()
        )
        doc = f"\nWhat {n.op_name} does: {n.op.doc}" if n.op.doc else ""
        user = (
            f"Step: {n.name} = {n.op_name}({args}){doc}\nInputs:\n{values}\n"
            f"Result: {elide(show_value(n._data), VALUE_CHARS)}\n"
            f"Feedback on the result: {feedback}\n"
            f"Give feedback for: {', '.join(targets)}"
        )
        schema = {
            "type": "object",
            "properties": {arg: {"type": "string", "maxLength": CRITIQUE_CHARS} for arg in targets},
            "required": list(targets),
            "additionalProperties": False,
        }
        completion = self.complete(
            [{"role": "system", "content": GRADIENT_PROMPT}, {"role": "user", "content": user}],
            temperature=temperature,
            seed=seed,
            max_tokens=60 + 100 * len(targets),
            json_schema=schema,
        )
        reply = read_object(completion.text, completion.json)
        return {arg: str(reply.get(arg) or feedback) for arg in targets}

    def update_request(self, p: Parameter, critique: str) -> str:
        """The user message asking for ``p``'s improved value: the variable, the goal,
        its description and constraint, its current value and its critique."""
        current = p.data.rstrip() if isinstance(p, CodeParameter) else repr(p.data)
        lines = [f"Variable: {p.name} ({type_label(p)})"]
        if self.objective:
            lines.append(f"Goal: {self.objective}")
        if p.description and not isinstance(p, CodeParameter):
            lines.append(f"Description: {p.description}")
        if p.constraint is not None:
            lines.append(f"Constraint: {p.constraint.describe()}")
        earlier = self.memory.get(p.name, [])
        if earlier:
            lines.append(MEMORY_TITLE)
            lines += [
                f"{i}. {elide(json.dumps(e['value'], ensure_ascii=False), VALUE_CHARS)}\n"
                f"   feedback: {elide(e['feedback'], CRITIQUE_CHARS)}"
                for i, e in enumerate(earlier, 1)
            ]
        lines += [f"Current value:\n{current}", f"Feedback:\n{critique}"]
        return "\n".join(lines)

    def after_step(
        self, result: StepResult, before: dict[str, Any], graph: FeedbackGraph | None
    ) -> None:
        """Remember each criticised variable's value and critique (``memory_size``)."""
        if not self.memory_size:
            return
        for name, critique in result.details.get("gradients", {}).items():
            if name in before:
                entry = {"value": jsonable(before[name]), "feedback": critique}
                kept = self.memory.get(name, []) + [entry]
                self.memory[name] = kept[-self.memory_size :]

    def extra_state(self) -> dict[str, Any]:
        return {"memory": {k: list(v) for k, v in self.memory.items()}}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        memory = state.get("memory", {})
        if not isinstance(memory, dict) or not all(
            isinstance(v, list)
            and all(isinstance(e, dict) and {"value", "feedback"} <= set(e) for e in v)
            for v in memory.values()
        ):
            raise StateError("TextGrad state 'memory' must map names to lists of {value, feedback}")
        self.memory = {k: list(v) for k, v in memory.items()}

    def _improve(self, p: Parameter, critique: str, options: dict[str, Any]) -> Reply:
        schema = {
            "type": "object",
            "properties": {
                "reasoning": {"type": "string", "maxLength": REASONING_CHARS},
                "value": value_schema(p),
            },
            "required": ["reasoning", "value"],
            "additionalProperties": False,
        }

        def read(completion: Completion) -> Reply:
            reply = read_object(completion.text, completion.json)
            if "value" not in reply:
                raise ReplyError(f"the reply for {p.name} has no 'value'")
            return Reply(str(reply.get("reasoning") or ""), suggestion={p.name: reply["value"]})

        messages = [
            {"role": "system", "content": UPDATE_PROMPT},
            {"role": "user", "content": self.update_request(p, critique)},
        ]
        return self.ask_values(
            messages, [p], schema=schema, read=read, max_tokens=self.max_tokens, **options
        )

    def _improve_code(
        self,
        p: CodeParameter,
        critique: str,
        chosen: Mapping[str, Any],
        options: dict[str, Any],
    ) -> Reply:
        system = f"{UPDATE_TASK}\n{code_reply_format([p])}"
        messages = code_call_messages(system, self.update_request(p, critique), chosen)
        return self.ask_code(
            messages, [p], read=read_code_update, max_tokens=self.max_tokens, **options
        )

    def propose(
        self, graph: FeedbackGraph, *, temperature: float = 0.0, seed: int | None = None
    ) -> Proposal:
        """Critiques walked backward, then one improved value per parameter with a critique:
        the values first, then the functions, each code call shown the chosen values."""
        gradients = self.gradients(graph, temperature=temperature, seed=seed)
        code, others = split_code(graph.parameters)
        values, reasons = {}, []
        options = {"temperature": temperature, "seed": seed}
        for p in others:
            if p in gradients:
                reply = self._improve(p, gradients[p], options)
                values.update(reply.suggestion)
                reasons.append(f"{p.name}: {reply.reasoning}")
        chosen = dict(values)
        for p in code:
            if p in gradients:
                reply = self._improve_code(p, gradients[p], chosen, options)
                if p.name in reply.suggestion:
                    values[p.name] = reply.suggestion[p.name]
                why = "TERMINATE" if reply.terminated else reply.reasoning
                reasons.append(f"{p.name}: {why}")
        details = {"gradients": {n.name: text for n, text in gradients.items() if n.trainable}}
        return Proposal(values, "\n".join(reasons), details=details)
