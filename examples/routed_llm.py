"""Cost-aware routing: ask the cheap way first and escalate only when the answer fails a check.

``RoutedLLM`` is itself an LLM, so anything that takes an LLM (an optimizer, an
agent, a workflow) can use it. Here two configurations of one model form a
cascade: a short direct answer, and step-by-step reasoning with more tokens for
the questions whose direct answer is not a plain number. Every request is logged
with the backends tried and what they cost.
Uses the embedded local model unless $TRACE_ENGINE_LLM names another backend.
Run: python examples/routed_llm.py
"""

from agents import Backend, CascadePolicy, RoutedLLM
from agents.router import matches
from trace_engine.llm import check_llm, get_llm

QUESTIONS = [
    "What is 17 + 25?",
    "A train leaves at 3 pm and arrives at 7 pm. How many hours is the trip?",
    "Tom has 3 boxes of 12 pens and gives away 5 pens. How many pens are left?",
]

llm = get_llm()
check_llm(llm)  # one clear line if the model is not usable, before any work
router = RoutedLLM(
    [
        Backend("direct", llm, system="Reply with the number only.", options={"max_tokens": 8}),
        Backend(
            "step_by_step",
            llm,
            system="Think step by step, then give the final number alone on the last line.",
            options={"max_tokens": 200},
        ),
    ],
    CascadePolicy(["direct", "step_by_step"], check=matches(r"^\s*-?\d+\s*$")),
)
for question in QUESTIONS:
    answer = router.complete(question, temperature=0.0)
    last_line = answer.text.strip().splitlines()[-1] if answer.text.strip() else ""
    print(f"{question}\n  -> {last_line!r} from {answer.model}, {answer.usage.total_tokens} tokens")
for record in router.log:
    print(f"tried {' then '.join(record.tried)}; escalated: {record.escalated}")
print(f"share answered directly: {router.share('direct'):.0%}")
