"""OptoPrime: show the LLM the trace and the feedback, get new values back.

The feedback subgraph is rendered as a problem (:mod:`optimizers.problem`); the
LLM answers ``{"reasoning", "answer", "suggestion": {name: value}}``. The JSON
schema sent with the request lists exactly the trainable variables with their
JSON types, so a backend that enforces schemas (llama.cpp grammars, OpenAI
structured output) cannot suggest changes to inputs or invent names. Prompts are
short and concrete so that a 1.5B local model can follow them.

Code variables are the exception: new functions are asked for as fenced
```python blocks (see :mod:`optimizers.code_replies`), because writing code
inside a JSON string breaks small models' code. When every variable in the
problem is code, one plain-text call returns reasoning and code blocks; when
code and other values are mixed, the JSON call (schema over the other values)
comes first and a code-block call follows, told what the JSON call chose.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from optimizers.base import DEFAULT_MAX_ERRORS, Optimizer, Proposal, StepResult
from optimizers.code_replies import code_reply_format, split_code
from optimizers.drafts import draft_messages, is_stub
from optimizers.problem import (
    DEFAULT_TITLES,
    DEFAULT_TOKEN_BUDGET,
    Problem,
    elide,
    estimate_tokens,
    render_problem,
    show_feedback,
)
from optimizers.prompts import (
    CODE_INLINE,
    CODE_LATER,
    DEFAULT_OBJECTIVE,
    JSON_REPLY_FORMAT,
    MEMORY_TITLE,
    SOLVE_DIRECTLY,
    SYSTEM_PROMPT,
    WORK_BACKWARD,
    Approach,
)
from optimizers.replies import Reply, ReplyError, merge_replies
from optimizers.values import jsonable
from trace_engine import CodeParameter, FeedbackGraph, Parameter, StateError
from trace_engine.llm import Budget

RESAMPLE_TEMPERATURE = 0.8
"""Temperature of a repeated request after a reply that changed nothing."""


def _unused(accepted: dict[str, Any], rejected: dict[str, str]) -> str | None:
    """Why a validated proposal would change nothing, or ``None`` when it changes something."""
    if accepted:
        return None
    if rejected:
        return "rejected: " + "; ".join(f"{k}: {v}" for k, v in rejected.items())
    return "no change"


def _without(reply: Reply, stubs: Sequence[CodeParameter]) -> Reply:
    """``reply`` less its code for ``stubs`` (drafted in calls of their own). The reply is
    read against the stubs too, so that a block of a stub's function is not taken for
    another variable's."""
    drafted = {p.name for p in stubs}
    kept = {k: v for k, v in reply.suggestion.items() if k not in drafted}
    return replace(reply, suggestion=kept)


class OptoPrime(Optimizer):
    """The OptoPrime optimizer (Cheng et al., 2024), with validated, schema-bound updates.

    ``memory_size=k`` shows the last ``k`` (variables, feedback) pairs; ``objective``
    replaces the #Instruction text; ``approach`` says how to solve the problem
    (default :data:`WORK_BACKWARD`); ``example`` replaces its worked example, shown
    with JSON replies (``""`` for none), and ``code_example`` is the one for
    code-block replies (default none); ``prompt_tokens``
    bounds the rendered problem; ``titles`` renames sections (keys of
    :data:`~optimizers.problem.DEFAULT_TITLES`, plus ``"memory"``).

    ``resample=k``: when a reply would change nothing (no readable suggestion, every
    value rejected, or every value equal to the current one) and is not TERMINATE,
    ask again, up to ``k`` times, at :data:`RESAMPLE_TEMPERATURE` with a new seed.
    Greedy decoding gives a small model the same wrong answer to the same prompt
    (in HumanEval repair the 1.5B model re-proposed identical failing code on every
    later step), so without this such steps are spent for nothing.

    ``draft_stubs=True``: a code variable whose body is still empty is written from
    its signature and docstring alone, in a call of its own (:mod:`optimizers.drafts`);
    once it has a body, it is repaired from the problem and its feedback.
    """

    def __init__(
        self,
        parameters,
        llm: Any = None,
        *,
        memory_size: int = 0,
        objective: str | None = None,
        approach: Approach = WORK_BACKWARD,
        example: str | None = None,
        code_example: str = "",
        prompt_tokens: int = DEFAULT_TOKEN_BUDGET,
        max_tokens: int | None = None,
        titles: Mapping[str, str] | None = None,
        budget: Budget | None = None,
        max_errors: int | None = DEFAULT_MAX_ERRORS,
        resample: int = 1,
        draft_stubs: bool = True,
    ):
        super().__init__(parameters, llm, budget=budget, max_errors=max_errors)
        if not isinstance(draft_stubs, bool):
            raise TypeError(f"draft_stubs must be a bool, got {type(draft_stubs).__name__}")
        self.draft_stubs = draft_stubs
        if not isinstance(resample, int) or isinstance(resample, bool) or resample < 0:
            raise ValueError(f"resample must be an int >= 0, got {resample!r}")
        self.resample = resample
        if not isinstance(memory_size, int) or memory_size < 0:
            raise ValueError(f"memory_size must be an int >= 0, got {memory_size!r}")
        if not isinstance(prompt_tokens, int) or prompt_tokens <= 0:
            raise ValueError(f"prompt_tokens must be a positive int, got {prompt_tokens!r}")
        for label, text in (
            ("objective", objective),
            ("example", example),
            ("code_example", code_example),
        ):
            if text is not None and not isinstance(text, str):
                raise TypeError(f"{label} must be a str, got {type(text).__name__}")
        self.approach = check_approach(approach)
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
        self.code_example = code_example
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.last_problem: Problem | None = None

    # Prompt -------------------------------------------------------------------
    def system_prompt(
        self,
        code: Sequence[CodeParameter] = (),
        *,
        code_later: bool = False,
        approach: Approach | None = None,
    ) -> str:
        """The system prompt asking for a JSON reply, or for code blocks for ``code``.

        ``code_later``: a JSON call whose code variables are asked for in a next call;
        ``approach``: instead of the optimizer's own. Code-block calls keep the
        solve-directly advice, the prompt the HumanEval repair figures were measured
        with: undoing calls in reverse order is advice for values.
        """
        approach = approach or self.approach
        advice = (SOLVE_DIRECTLY if code else approach).advice
        text = SYSTEM_PROMPT.format(**self.titles) + advice.format(**self.titles)
        if code:
            text += code_reply_format(code)
            example = self.code_example
        else:
            code_rule = CODE_LATER if code_later else CODE_INLINE
            text += JSON_REPLY_FORMAT.format(**self.titles, code_rule=code_rule)
            example = approach.example if self.example is None else self.example
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
        """The chat messages of a step's first call (code blocks when all variables are code)."""
        return [
            {"role": "system", "content": self.first_system_prompt(graph.parameters)},
            {"role": "user", "content": self.user_text(graph)},
        ]

    def user_text(self, graph: FeedbackGraph) -> str:
        """The rendered problem, followed by the memory of past attempts."""
        memory = self.memory_text()
        text = self.problem(graph).text
        return f"{text}\n\n{memory}" if memory else text

    def first_system_prompt(
        self, parameters: Sequence[Parameter], approach: Approach | None = None
    ) -> str:
        """The system prompt of a step's first call on ``parameters``."""
        code, values = split_code(parameters)
        if values:
            return self.system_prompt(code_later=bool(code), approach=approach)
        return self.system_prompt(code, approach=approach)

    # Proposing ----------------------------------------------------------------
    def propose(
        self,
        graph: FeedbackGraph,
        *,
        temperature: float = 0.0,
        seed: int | None = None,
        messages: list[dict[str, str]] | None = None,
    ) -> Proposal:
        """One proposal; ``messages`` (from :meth:`messages`) saves re-rendering.

        Values come from a schema-bound JSON call, functions from a code-block call;
        a problem with both makes the JSON call first and shows its choices to the
        code call. A stub is drafted from its specification alone (``draft_stubs``).
        """
        code, values = split_code(graph.parameters)
        options = {"temperature": temperature, "seed": seed}
        stubs = [p for p in code if self.draft_stubs and is_stub(p.data, p.fn_name)]
        replies = [self._draft(p, options) for p in stubs]
        code = [p for p in code if p not in stubs]
        if not code and not values:
            return Proposal.from_reply(merge_replies(replies))
        messages = messages or self.messages(graph)
        written = self.ask(
            messages,
            values,
            code,
            code_system=self.system_prompt(code),
            read_as=code + stubs,
            max_tokens=self.max_tokens,
            **options,
        )
        replies.append(_without(written, stubs))
        return Proposal.from_reply(merge_replies(replies))

    def step_proposal(self, graph: FeedbackGraph) -> Proposal:
        """The step's proposal, asked for again while it would change nothing (``resample``)."""
        unused: list[str] = []
        for attempt in range(self.resample + 1):
            options: dict[str, Any] = {}
            if attempt:
                options = {
                    "temperature": RESAMPLE_TEMPERATURE,
                    "seed": len(self.history) * (self.resample + 1) + attempt,
                }
            try:
                proposal = self.propose(graph, **options)
            except ReplyError as exc:
                if attempt == self.resample:
                    raise
                unused.append(f"unreadable: {exc}")
                continue
            why = None if proposal.terminated else _unused(*self.validate(proposal.values))
            if why is None or attempt == self.resample:
                break
            unused.append(why)
        if unused:
            proposal.details["resampled"] = unused
        return proposal

    def _draft(self, param: CodeParameter, options: dict[str, Any]) -> Reply:
        reply = self.ask_code(draft_messages(param), [param], max_tokens=self.max_tokens, **options)
        if param.name not in reply.suggestion:
            raise ReplyError(f"the draft of the stub {param.name} answered TERMINATE")
        return Reply(
            reasoning=f"{param.name} is a stub: drafted from its signature and docstring.",
            suggestion=reply.suggestion,
            terminated=reply.terminated,
        )

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


def check_approach(approach: Any) -> Approach:
    if not isinstance(approach, Approach):
        raise TypeError(
            f"approach must be an Approach (e.g. WORK_BACKWARD), got {type(approach).__name__}"
        )
    return approach
