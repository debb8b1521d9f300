"""Agent pipeline: a tool-using agent whose prompt, tool descriptions and answer parser train.

The agent from :mod:`agents.agent` plans, calls a calculator, reads the result
and answers (each decision, tool call and the final extraction is a traced
operation). Exact-match feedback on the answer reaches the system prompt, the
tool description and the code of ``extract_answer``. The bundled task suite is
arithmetic word problems generated in code; user JSONL works the same way.
"""

from __future__ import annotations

import ast
import operator
import random
from typing import Any

from agents.agent import Agent
from agents.tools import Tool
from workflows.code_calls import DEFAULT_CALL_TIMEOUT, sandbox_code
from workflows.datasets import Example
from workflows.prompt_tuning import normalize
from workflows.trainer import Evaluation

_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression (numbers, + - * / // % **, parentheses) safely."""

    def value(n: ast.AST) -> float:
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)):
            return n.value
        if isinstance(n, ast.BinOp) and type(n.op) in _OPERATORS:
            left, right = value(n.left), value(n.right)
            if isinstance(n.op, ast.Pow) and abs(right) > 100:
                raise ValueError("exponent too large")
            return _OPERATORS[type(n.op)](left, right)
        if isinstance(n, ast.UnaryOp) and type(n.op) in _OPERATORS:
            return _OPERATORS[type(n.op)](value(n.operand))
        raise ValueError(f"not arithmetic: {ast.unparse(n)!r}")

    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"cannot parse {expression!r} as arithmetic") from None
    result = value(tree.body)
    if isinstance(result, float) and result.is_integer():
        result = int(result)
    return str(result)


def calculator_tool() -> Tool:
    return Tool(
        "calculator",
        calculate,
        "Evaluates an arithmetic expression such as (12 + 5) * 3 and returns the number.",
        timeout=2.0,
    )


_TEMPLATES = (
    ("A box holds {a} pencils. How many pencils are in {b} boxes?", lambda a, b: a * b),
    (
        "Ann has {a} stickers and buys {b} more. How many stickers does she have?",
        lambda a, b: a + b,
    ),
    (
        "A tank holds {a} liters and {b} liters leak out. How many liters are left?",
        lambda a, b: a - b,
    ),
    (
        "{a} cookies are shared equally among {b} children, with any remainder kept aside. "
        "How many cookies does each child get?",
        lambda a, b: a // b,
    ),
)


def word_problems(n: int = 12, seed: int = 0) -> list[Example]:
    """Arithmetic word problems with integer answers, generated in code (deterministic)."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        template, solve = _TEMPLATES[i % len(_TEMPLATES)]
        a, b = rng.randint(12, 480), rng.randint(2, 19)
        a = max(a, b + 1)
        examples.append(Example(f"word/{i}", template.format(a=a, b=b), str(solve(a, b))))
    return examples


class AgentPipeline:
    """The agent with a calculator, and how one example is scored."""

    def __init__(
        self,
        llm: Any = None,
        *,
        max_steps: int = 4,
        tools: list[Tool] | None = None,
        timeout: float = DEFAULT_CALL_TIMEOUT,
    ):
        """``timeout``: seconds one sandboxed call of a rewritten ``extract_answer`` may take
        (the original runs here; any rewrite only in the sandbox, see ``code_calls``)."""
        self.agent = Agent(tools or [calculator_tool()], llm=llm, max_steps=max_steps)
        sandbox_code(self.agent.parameters(), timeout)

    def parameters(self) -> list:
        return self.agent.parameters()

    def evaluate(self, example: Example) -> Evaluation:
        """Exact match of the agent's answer; the feedback also says how the run went."""
        result = self.agent.run(example.input)
        answer = result.answer.data
        accepted = [str(a) for a in example.accepted]
        correct = answer is not None and normalize(answer) in {normalize(a) for a in accepted}
        tools_used = [s.action for s in result.steps if s.action not in ("finish", "")]
        if correct:
            feedback = "Correct."
        elif answer is None:
            feedback = (
                f"No answer: the agent used all {self.agent.max_steps} steps without finishing "
                f"(actions: {', '.join(s.action or '?' for s in result.steps)}). "
                f"The correct answer is {accepted[0]}."
            )
        else:
            feedback = (
                f"Wrong: the answer was {str(answer)[:100]!r}, the correct answer is {accepted[0]}."
            )
            if not tools_used:
                feedback += " The agent did not use the calculator."
        return Evaluation(
            score=1.0 if correct else 0.0,
            feedback=feedback,
            output=result.answer,
            details={"answer": answer, "steps": len(result.steps), "tools": tools_used},
        )
