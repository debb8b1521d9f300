"""A tool-using agent built from traced operations, with trainable parts.

Each step is three traced operations: ``decide`` (the model reads the system
prompt, the tool descriptions, the question and the memory, and replies with a
JSON action), ``parse_action`` and ``act`` (run the tool, or finish). The memory
is the plain list of earlier actions and observations, which the *Efficient
Agents* study found beats summarized memory at lower cost. On ``finish`` the
trainable ``extract_answer`` turns the model's final text into the answer.

Trainable: the system prompt, every tool's description and the code of
``extract_answer``; feedback on the answer reaches all of them through the
graph. Every model call is metered under the tag ``"agent"`` and recorded per
step with its tokens and latency.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.tools import Tool
from trace_engine import Module, Node, bundle, node
from trace_engine.llm.base import LLM, Usage, as_llm
from trace_engine.llm.jsonparse import parse_json_lenient
from trace_engine.llm.meter import get_meter

FINISH = "finish"
DEFAULT_SYSTEM_PROMPT = (
    "You answer questions step by step. Use a tool when it helps, read its result, "
    "and finish as soon as you know the answer."
)


@dataclass
class Step:
    """One model decision and what came of it."""

    index: int
    thought: str
    action: str
    input: str
    observation: str
    usage: Usage
    latency: float
    cached: bool
    tool_seconds: float = 0.0
    error: bool = False


@dataclass
class AgentResult:
    """The answer node (``None`` data when the step limit ended the run) and the steps."""

    answer: Node
    steps: list[Step] = field(default_factory=list)
    stopped: str = "answer"

    @property
    def usage(self) -> Usage:
        total = Usage()
        for s in self.steps:
            total = total + s.usage
        return total

    @property
    def finished(self) -> bool:
        return self.stopped == "answer"


_run_steps: contextvars.ContextVar[list[Step] | None] = contextvars.ContextVar(
    "trace_engine_agent_steps", default=None
)


class Agent(Module):
    """Plan, call tools, observe, answer; at most ``max_steps`` model decisions per run."""

    def __init__(
        self,
        tools: Sequence[Tool],
        *,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        llm: LLM | Callable | str | None = None,
        max_steps: int = 5,
        max_tokens: int = 160,
    ):
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise ValueError(f"tool names must be distinct, got {names}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.system_prompt = node(
            system_prompt,
            trainable=True,
            name="system_prompt",
            description="the agent's system prompt: how to plan, use tools and answer",
        )
        self.tools = list(tools)
        self._llm = llm
        self._max_steps = max_steps
        self._max_tokens = max_tokens

    @property
    def max_steps(self) -> int:
        return self._max_steps

    def _schema(self) -> dict:
        return {
            "type": "object",
            "properties": {
                "thought": {"type": "string"},
                "action": {"type": "string", "enum": [t.name for t in self.tools] + [FINISH]},
                "input": {"type": "string"},
            },
            "required": ["thought", "action", "input"],
        }

    @bundle(
        description="The language model reads the system prompt, the tool descriptions, the "
        "question and the memory of earlier actions and observations, and replies with a "
        'JSON action {"thought", "action": tool name or "finish", "input"}.'
    )
    def decide(self, system_prompt: str, tool_descriptions: list, question: str, memory: list):
        tools = "\n".join(f"- {t.name}: {d}" for t, d in zip(self.tools, tool_descriptions))
        system = (
            f"{system_prompt}\n\nTools:\n{tools}\n- {FINISH}: give the final answer as input\n\n"
            'Reply with one JSON object: {"thought": "...", "action": "<tool or finish>", '
            '"input": "<tool input or final answer>"}'
        )
        history = "\n".join(
            f"Step {i + 1}: {m['action']}({m['input']})\nObservation: {m['observation']}"
            for i, m in enumerate(memory)
        )
        user = f"Question: {question}"
        if history:
            user += f"\n\n{history}"
        user += "\n\nNext action?"
        start = time.perf_counter()
        reply = as_llm(self._llm).complete(
            [{"role": "system", "content": system}, {"role": "user", "content": user}],
            temperature=0.0,
            max_tokens=self._max_tokens,
            json_schema=self._schema(),
        )
        steps = _run_steps.get()
        if steps is not None:
            steps.append(
                Step(
                    len(steps) + 1,
                    "",
                    "",
                    "",
                    "",
                    reply.usage,
                    time.perf_counter() - start,
                    reply.cached,
                )
            )
        return reply.text

    @bundle(
        description="Reads the model's reply as {thought, action, input}; a reply that is "
        "not such JSON becomes the action 'invalid'."
    )
    def parse_action(self, reply: str) -> dict:
        try:
            value = parse_json_lenient(reply)
        except ValueError:
            value = None
        if not isinstance(value, dict) or not isinstance(value.get("action"), str):
            return {"thought": "", "action": "invalid", "input": str(reply)}
        return {
            "thought": str(value.get("thought", "")),
            "action": value["action"].strip(),
            "input": str(value.get("input", "")),
        }

    @bundle(
        description="Runs the chosen tool on the action's input and returns what it "
        "printed, or an error message (unknown tool, exception, timeout)."
    )
    def act(self, action: dict) -> dict:
        tools = {t.name: t for t in self.tools}
        name = action["action"]
        if name == "invalid":
            observation = (
                "error: your reply was not a JSON action; reply with "
                '{"thought": ..., "action": ..., "input": ...}'
            )
            return {**action, "observation": observation, "error": True, "seconds": 0.0}
        if name not in tools:
            observation = f"error: unknown tool {name!r}; available: {sorted(tools)} or finish"
            return {**action, "observation": observation, "error": True, "seconds": 0.0}
        result = tools[name].run(action["input"])
        return {
            **action,
            "observation": result.observation,
            "error": not result.ok,
            "seconds": result.seconds,
        }

    @bundle(trainable=True)
    def extract_answer(self, text: str) -> str:
        """Turns the model's final answer text into the answer: strips spaces and quotes."""
        return text.strip().strip("\"'").strip()

    @bundle(description="No answer: the step limit was reached before the agent finished.")
    def no_answer(self, memory: list) -> Any:
        return None

    def run(self, question: Any) -> AgentResult:
        """Answer ``question``; the result's ``answer`` node is traced back to every parameter."""
        steps: list[Step] = []
        token = _run_steps.set(steps)
        memory: list[Node] = []
        try:
            with get_meter().tag("agent"):
                for _ in range(self._max_steps):
                    reply = self.decide(
                        self.system_prompt, [t.description for t in self.tools], question, memory
                    )
                    action = self.parse_action(reply)
                    parsed = action.data
                    step = steps[-1]
                    step.thought, step.action, step.input = (
                        parsed["thought"],
                        parsed["action"],
                        parsed["input"],
                    )
                    if parsed["action"] == FINISH:
                        answer = self.extract_answer(action["input"])
                        step.observation = "(final answer)"
                        return AgentResult(answer, steps, "answer")
                    outcome = self.act(action)
                    step.observation = outcome.data["observation"]
                    step.error = outcome.data["error"]
                    step.tool_seconds = outcome.data["seconds"]
                    memory.append(outcome)
                return AgentResult(self.no_answer(memory), steps, "max_steps")
        finally:
            _run_steps.reset(token)

    __call__ = run
