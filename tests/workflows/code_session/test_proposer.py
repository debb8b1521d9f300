"""The proposer bounds each reply, so a model that repeats itself still ends the round."""

from __future__ import annotations

from tests.workflows.code_session.project import SLOW
from trace_engine.llm.base import LLM, Completion, Usage
from workflows.code_session import OptoPrimeProposer
from workflows.code_session.proposer import reply_token_limit

SIGNATURE = "def find_duplicates(items)"


class RunawayLLM(LLM):
    """A model that repeats one line until it is cut off at ``max_tokens`` (4 chars a token)."""

    backend = "scripted"
    model = "runaway"

    def __init__(self):
        self.limits: list[int | None] = []

    def complete(self, messages, *, n=1, max_tokens=None, **_):
        self.limits.append(max_tokens)
        if max_tokens is None:
            raise AssertionError("asked for a reply without a token limit: it would never end")
        text = ('{"reasoning": "' + "the loop is slow. " * max_tokens)[: 4 * max_tokens]
        return Completion(texts=[text] * n, usage=Usage(100, max_tokens), latency=0.0)


def test_a_reply_that_never_ends_is_cut_off_and_the_round_has_a_verdict():
    llm = RunawayLLM()
    proposer = OptoPrimeProposer(
        fn_name="find_duplicates",
        signature=SIGNATURE,
        module_name="dupes",
        source=SLOW,
        llm=llm,
    )
    proposal = proposer.propose(SLOW, "1.00x", "make it faster")
    assert llm.limits and all(limit == reply_token_limit(SLOW) for limit in llm.limits)
    assert proposal.source is None
    assert proposal.reason.startswith("the optimizer step failed")


def test_the_limit_leaves_room_to_rewrite_the_function():
    small, large = "def f(x):\n    return x\n", "def f(x):\n" + "    x += 1\n" * 400
    assert reply_token_limit(small) >= 768
    assert reply_token_limit(large) > len(large) // 2
