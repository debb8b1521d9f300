"""OptoPrime: show the LLM the trace and the feedback, get new values back.

The feedback subgraph is rendered as a problem (:mod:`optimizers.problem`); the
LLM answers ``{"reasoning", "answer", "suggestion": {name: value}}``. The JSON
schema sent with the request lists exactly the trainable variables with their
JSON types, so a backend that enforces schemas (llama.cpp grammars, OpenAI
structured output) cannot suggest changes to inputs or invent names. Prompts are
short and concrete so that a 1.5B local model can follow them.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from typing import Any

from optimizers.base import Optimizer, Proposal, StepResult
from optimizers.problem import (
    DEFAULT_TITLES,
    DEFAULT_TOKEN_BUDGET,
    Problem,
    elide,
    estimate_tokens,
    render_problem,
    show_feedback,
)
from optimizers.replies import read_reply
from optimizers.values import jsonable, value_schema
from trace_engine import CodeParameter, FeedbackGraph, Parameter, StateError
from trace_engine.llm import Budget

DEFAULT_OBJECTIVE = (
    "Change the values in {variables} so that the outputs get better feedback in {feedback}."
)
MEMORY_TITLE = "#Past attempts"
REASONING_CHARS = 600
"""Longest reasoning the schema allows: keeps small models from rambling."""
REQUIRE_ALL_UP_TO = 4
"""With at most this many variables, the schema asks for a value for each of them."""

SYSTEM_PROMPT = """\
You improve a program by changing its variables. The problem has these sections:
{instruction}: the task.
{code}: the calls that ran, in order, written `result = function(argument=name)`.
{documentation}: what each function does.
{variables}: the values you may change, with their types.
{constraints}: rules the new values must follow.
{inputs}: fixed values; you cannot change them.
{others}: intermediate values computed by the code.
{outputs}: the results.
{feedback}: what is wrong with the outputs.

Work out how each variable flows through the code to the outputs, then suggest values that
fix the feedback exactly (solve for the value; do not just nudge it).
Reply with one JSON object only:
{{"reasoning": "<one or two short sentences>", "suggestion": {{"<variable name>": <new value>}}}}
Use only names from {variables}. Write each value in its type (numbers as numbers).
For a (code) variable, write the complete new function from its def line, same name and arguments.
If nothing needs to change, reply TERMINATE."""

WORKED_EXAMPLE = """\
Problem:
#Code
y = multiply(a=x, b=int_0)
#Variables
(int) x=2
#Inputs
(int) int_0=3
#Outputs
(int) y=6
#Feedback
y should be 12.
Reply:
{"reasoning": "y = x * 3 and y must be 12, so x must be 4.", "suggestion": {"x": 4}}"""
"""The worked example shown by default (about 100 tokens; ``example=""`` leaves it out)."""


def suggestion_schema(parameters: list[Parameter]) -> dict[str, Any]:
    """The reply's JSON schema: suggestion keys limited to ``parameters``' names and types."""
    suggestion: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: value_schema(p) for p in parameters},
        "additionalProperties": False,
    }
    if len(parameters) <= REQUIRE_ALL_UP_TO:
        suggestion["required"] = [p.name for p in parameters]
    return {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string", "maxLength": REASONING_CHARS},
            "suggestion": suggestion,
            "answer": {"type": "string"},
        },
        "required": ["reasoning", "suggestion"],
        "additionalProperties": False,
    }


def reply_tokens(parameters: list[Parameter]) -> int:
    """Room for a reply: the reasoning plus each value, code and text given extra room."""
    room = 250
    for p in parameters:
        size = estimate_tokens(p.data if isinstance(p.data, str) else repr(p.data))
        room += 2 * size + 40 if isinstance(p, CodeParameter) or isinstance(p.data, str) else 30
    return min(room, 4000)


class OptoPrime(Optimizer):
    """The OptoPrime optimizer (Cheng et al., 2024), with validated, schema-bound updates.

    ``memory_size=k`` shows the last ``k`` (variables, feedback) pairs; ``objective``
    replaces the #Instruction text; ``example`` is the worked example added to the
    system prompt (default :data:`WORKED_EXAMPLE`, ``""`` for none); ``prompt_tokens`` bounds the
    rendered problem; ``titles`` renames sections (keys of
    :data:`~optimizers.problem.DEFAULT_TITLES`, plus ``"memory"``).
    """

    def __init__(
        self,
        parameters,
        llm: Any = None,
        *,
        memory_size: int = 0,
        objective: str | None = None,
        example: str | None = None,
        prompt_tokens: int = DEFAULT_TOKEN_BUDGET,
        max_tokens: int | None = None,
        titles: Mapping[str, str] | None = None,
        budget: Budget | None = None,
    ):
        super().__init__(parameters, llm, budget=budget)
        if not isinstance(memory_size, int) or memory_size < 0:
            raise ValueError(f"memory_size must be an int >= 0, got {memory_size!r}")
        if not isinstance(prompt_tokens, int) or prompt_tokens <= 0:
            raise ValueError(f"prompt_tokens must be a positive int, got {prompt_tokens!r}")
        for label, text in (("objective", objective), ("example", example)):
            if text is not None and not isinstance(text, str):
                raise TypeError(f"{label} must be a str, got {type(text).__name__}")
        titles = dict(titles or {})
        self.memory_title = titles.pop("memory", MEMORY_TITLE)
        self.titles = {**DEFAULT_TITLES, **titles}
        if set(self.titles) != set(DEFAULT_TITLES):
            unknown = sorted(set(self.titles) - set(DEFAULT_TITLES))
            raise ValueError(
                f"unknown section key(s) {unknown}; known: {', '.join(DEFAULT_TITLES)}, memory"
            )
        self.memory_size = memory_size
        self.memory: deque[dict[str, Any]] = deque(maxlen=memory_size or None)
        self.objective = objective
        self.example = example
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.last_problem: Problem | None = None

    # Prompt -------------------------------------------------------------------
    def system_prompt(self) -> str:
        text = SYSTEM_PROMPT.format(**self.titles)
        example = WORKED_EXAMPLE if self.example is None else self.example
        return f"{text}\n\nExample:\n{example}" if example else text

    def instruction(self) -> str:
        text = self.objective or DEFAULT_OBJECTIVE
        return text.format(**self.titles) if self.objective is None else text

    def memory_text(self) -> str:
        if not self.memory_size or not self.memory:
            return ""
        lines = []
        for i, entry in enumerate(self.memory, 1):
            variables = elide(json.dumps(entry["variables"], ensure_ascii=False), 400)
            lines.append(
                f"{i}. variables: {variables}\n   feedback: {elide(entry['feedback'], 400)}"
            )
        return f"{self.memory_title}\n" + "\n".join(lines)

    def problem(self, graph: FeedbackGraph) -> Problem:
        memory = self.memory_text()
        budget = max(self.prompt_tokens - estimate_tokens(memory), 1)
        problem = render_problem(
            graph,
            instruction=self.instruction(),
            titles=self.titles,
            token_budget=budget,
            count_tokens=self.token_counter(),
        )
        self.last_problem = problem
        return problem

    def messages(self, graph: FeedbackGraph) -> list[dict[str, str]]:
        """The chat messages for one proposal."""
        user = self.problem(graph).text
        memory = self.memory_text()
        if memory:
            user = f"{user}\n\n{memory}"
        return [
            {"role": "system", "content": self.system_prompt()},
            {"role": "user", "content": user},
        ]

    # Proposing ----------------------------------------------------------------
    def propose(
        self,
        graph: FeedbackGraph,
        *,
        temperature: float = 0.0,
        seed: int | None = None,
        messages: list[dict[str, str]] | None = None,
    ) -> Proposal:
        """One proposal; ``messages`` (from :meth:`messages`) saves re-rendering."""
        visible = graph.parameters
        messages = messages or self.messages(graph)
        completion = self.complete(
            messages,
            temperature=temperature,
            seed=seed,
            max_tokens=self.reply_room(messages, self.max_tokens or reply_tokens(visible)),
            json_schema=suggestion_schema(visible),
        )
        reply = read_reply(completion.text, completion.json, names=[p.name for p in visible])
        return Proposal.from_reply(reply)

    # Memory -------------------------------------------------------------------
    def after_step(
        self, result: StepResult, before: dict[str, Any], graph: FeedbackGraph | None
    ) -> None:
        if not self.memory_size or graph is None:
            return
        feedback = "; ".join(show_feedback(f) for o in graph.outputs for f in o._feedback)
        shown = {p.name: jsonable(before[p.name]) for p in graph.parameters}
        self.memory.append({"variables": shown, "feedback": feedback})

    def extra_state(self) -> dict[str, Any]:
        return {"memory": list(self.memory)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        memory = state.get("memory", [])
        if not isinstance(memory, list) or not all(
            isinstance(m, dict) and {"variables", "feedback"} <= set(m) for m in memory
        ):
            raise StateError("optimizer state 'memory' must be a list of {variables, feedback}")
        self.memory = deque(memory, maxlen=self.memory_size or None)
