"""New versions of the function from OptoPrime, with the function as a trainable code parameter.

The trace the optimizer sees is one operation, ``measure_in_sandbox(code)``,
whose output is the measured summary of the current version; the feedback is
the session's measurements, profile, failures and the person's comments. The
code parameter only parses proposals: candidate code never runs in this process.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from optimizers.optoprime import OptoPrime
from trace_engine import CodeParameter, InvalidCodeError, Parameter, bundle
from trace_engine.llm import get_meter
from workflows.code_session.evaluation import validate_candidate

OBJECTIVE = (
    "Make the function in #Variables run faster on the benchmark described in #Feedback. "
    "Its behaviour must stay exactly the same: same return values, same exceptions, same "
    "changes to its arguments, for every input. Keep the def line (name and parameters). "
    "Use the measurements, the hot lines and the rejected attempts in #Feedback; prefer a "
    "better algorithm or data structure over micro-tuning."
)


REPLY_TOKENS_PER_CHAR = 0.7
"""About twice the tokens per character of Python source (code is rewritten, maybe escaped)."""
REPLY_TOKENS_FOR_REASONING = 768
"""Room for the reasoning and the reply's framing, beyond the rewritten function."""


def reply_token_limit(source: str) -> int:
    """The most tokens one reply may take: room to rewrite ``source`` and explain why.

    Without a limit a small model decoding greedily can repeat itself until the
    context window is full (minutes per round on a CPU); cut off, the reply is
    unreadable, which ends the round with a verdict (an invalid candidate).
    """
    return REPLY_TOKENS_FOR_REASONING + int(REPLY_TOKENS_PER_CHAR * len(source))


class SandboxedCode(CodeParameter):
    """A code parameter checked by parsing only (name and signature kept); it is never executed here."""

    __slots__ = ()

    def validate(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise InvalidCodeError(
                f"{self.name}: new code must be a str, got {type(value).__name__}"
            )
        source = textwrap.dedent(value).strip("\n") + "\n"
        reason = validate_candidate(source, self.fn_name, self.signature)
        if reason:
            raise InvalidCodeError(f"{self.name}: {reason}")
        return Parameter.validate(self, source)


@dataclass
class Proposal:
    """One optimizer step's outcome: new source, or why there is none, and what it cost."""

    source: str | None
    reason: str = ""
    rejected_source: str | None = None
    """The proposed code when validation refused it (kept for the report and the feedback)."""
    reasoning: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    calls: int = 0
    """Requests answered (from the model or the cache)."""
    failed_calls: int = 0
    """Requests that failed (timeouts, server errors), retries included."""


class OptoPrimeProposer:
    """Asks :class:`optimizers.optoprime.OptoPrime` for a faster version of the current code."""

    def __init__(
        self,
        *,
        fn_name: str,
        signature: str,
        module_name: str,
        source: str,
        docstring: str = "",
        llm: Any = None,
        memory_size: int = 2,
    ):
        self.code = SandboxedCode(
            source,
            fn_name=fn_name,
            signature=signature,
            module=module_name,
            name=f"__code_{fn_name}",
            description=f"The code of {fn_name}."
            + (f" Its docstring: {docstring}" if docstring else ""),
        )
        # resample=0: each round's candidate, even an invalid one, goes to the review and its
        # rejection is the next round's feedback.
        self.optimizer = OptoPrime(
            [self.code],
            llm,
            memory_size=memory_size,
            objective=OBJECTIVE,
            resample=0,
        )
        self._summaries: dict[str, str] = {}

        def measure_in_sandbox(code: str) -> str:
            return self._summaries.get(code, "not measured")

        measure_in_sandbox.__doc__ = (
            f"Runs `code` (the function {fn_name}) in a separate process: the tests, a comparison "
            "with the original function on recorded inputs, and the timed benchmark. Returns a "
            "summary of the measurements."
        )
        self._measure = bundle(measure_in_sandbox)

    def propose(self, current_source: str, summary: str, feedback: str) -> Proposal:
        """One optimizer step from ``current_source``; the parameter is left at ``current_source``."""
        if self.code.data != current_source:
            self.code.set(current_source)
        self.optimizer.max_tokens = reply_token_limit(current_source)
        self._summaries = {self.code.data: summary}
        output = self._measure(self.code)
        self.optimizer.zero_feedback()
        self.optimizer.backward(output, feedback)
        with get_meter().tag("code-session") as used:
            step = self.optimizer.step()
        proposal = Proposal(
            source=self.code.data if step.changed else None,
            reasoning=step.reasoning,
            prompt_tokens=step.usage.prompt_tokens,
            completion_tokens=step.usage.completion_tokens,
            cost=step.cost,
            calls=step.calls,
            failed_calls=used.errors,
        )
        if not step.ok:
            proposal.reason = f"the optimizer step failed: {step.error}"
        elif step.rejected:
            proposal.reason = "the proposal was invalid: " + "; ".join(step.rejected.values())
            rejected = step.proposed.get(self.code.name)
            proposal.rejected_source = rejected if isinstance(rejected, str) else None
        elif step.terminated:
            proposal.reason = "the model saw nothing to change (TERMINATE)"
        elif not step.changed:
            proposal.reason = "the model proposed no change"
        if step.changed:
            self.code.set(current_source)
        return proposal
