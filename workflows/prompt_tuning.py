"""Prompt tuning: a traced question-answering pipeline with a trainable prompt and parser.

``ask`` (a traced operation) sends the trainable system prompt and the question
(with its options, for multiple choice) to the model; the trainable
``extract_answer`` function turns the reply into the answer. Exact-match
feedback on the answer reaches both: the optimizer may reword the prompt, fix
the parsing code, or both.
"""

from __future__ import annotations

import re
import string
from typing import Any

from trace_engine.bundle import bundle
from trace_engine.llm.base import as_llm
from trace_engine.modules import Module
from trace_engine.nodes import Node, node
from workflows.code_calls import DEFAULT_CALL_TIMEOUT, sandbox_code
from workflows.datasets import Example
from workflows.trainer import Evaluation

DEFAULT_SYSTEM_PROMPT = "Answer the question. End your reply with a line 'Answer: <answer>'."
MAX_ANSWER_TOKENS = 256


def normalize(text: Any) -> str:
    """Lower case, no surrounding punctuation or extra spaces: what exact match compares."""
    words = str(text).lower().split()
    return " ".join(w.strip(string.punctuation) for w in words).strip()


def format_question(question: str, choices: tuple[str, ...]) -> str:
    if not choices:
        return question
    options = "\n".join(f"- {c}" for c in choices)
    return f"{question}\nOptions:\n{options}"


class QAPipeline(Module):
    """Question answering with a trainable system prompt and answer extractor."""

    def __init__(
        self,
        llm: Any = None,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        *,
        timeout: float = DEFAULT_CALL_TIMEOUT,
    ):
        """``timeout``: seconds one sandboxed call of a rewritten ``extract_answer`` may take
        (the original runs here; any rewrite only in the sandbox, see ``code_calls``)."""
        self._llm = as_llm(llm)
        self.system_prompt = node(
            system_prompt,
            trainable=True,
            name="system_prompt",
            description="The system prompt sent to the model with every question.",
        )
        sandbox_code(self.parameters(), timeout)

    @bundle()
    def ask(self, system_prompt: str, question: str) -> str:
        """Send the system prompt and the question to the language model; return its reply."""
        messages = [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": question},
        ]
        return self._llm.complete(messages, max_tokens=MAX_ANSWER_TOKENS).text

    @bundle(trainable=True)
    def extract_answer(self, reply: str, choices: list) -> str:
        """Turn the model's reply into the final answer (one of ``choices`` when there are any)."""
        marked = [line for line in reply.splitlines() if line.lower().startswith("answer:")]
        answer = marked[-1].split(":", 1)[1].strip() if marked else reply.strip()
        for choice in choices:
            if answer.lower() == choice.lower():
                return choice
        return answer

    def forward(self, example: Example) -> Node:
        question = format_question(str(example.input), example.choices)
        reply = self.ask(self.system_prompt, question)
        return self.extract_answer(reply, list(example.choices))

    def evaluate(self, example: Example) -> Evaluation:
        """Exact match (after :func:`normalize`) against every accepted answer."""
        answer = self.forward(example)
        accepted = [str(a) for a in example.accepted]
        correct = normalize(answer.data) in {normalize(a) for a in accepted}
        expected = accepted[0] if len(accepted) == 1 else " or ".join(repr(a) for a in accepted)
        if correct:
            feedback = "Correct."
        else:
            feedback = (
                f"Wrong: the answer was {_quote(answer.data)}, the correct answer is {expected}."
            )
            if example.choices:
                feedback += " The answer must be exactly one of the options."
        return Evaluation(
            score=1.0 if correct else 0.0,
            feedback=feedback,
            output=answer,
            details={"answer": answer.data, "expected": accepted},
        )


def _quote(value: Any) -> str:
    text = re.sub(r"\s+", " ", str(value)).strip()
    return repr(text if len(text) <= 120 else text[:117] + "...")
