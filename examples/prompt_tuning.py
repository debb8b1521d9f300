"""Tune a system prompt (and the answer parser) from exact-match feedback.

Uses the embedded local model unless $TRACE_ENGINE_LLM names another backend.
Run: python examples/prompt_tuning.py
"""

from optimizers import OptoPrime
from trace_engine.llm import check_llm, get_llm
from workflows.datasets import Example
from workflows.prompt_tuning import QAPipeline
from workflows.trainer import Trainer

questions = [
    Example("1", "What is the capital of Australia?", ("Canberra",)),
    Example("2", "How many legs does a spider have?", ("8", "eight")),
    Example("3", "Which planet is known as the red planet?", ("Mars",)),
    Example("4", "What is the chemical symbol of gold?", ("Au",)),
]

llm = get_llm()
check_llm(llm)  # one clear line if the model is not usable, before any work
qa = QAPipeline(llm, system_prompt="You are helpful.")
optimizer = OptoPrime(qa.parameters(), llm)
result = Trainer(
    qa, optimizer, questions, val=questions, evaluate=qa.evaluate, batch_size=2, max_steps=2
).fit()
print(f"accuracy: {result.initial_score:.2f} -> {result.best_score:.2f}")
print("system prompt:", qa.system_prompt.data)
