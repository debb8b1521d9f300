"""A tool-using agent with trainable parts, trained on word problems.

The agent plans, calls a calculator tool, reads its result and answers; its
system prompt, the tool's description and its answer-extraction code are
trainable parameters. Wrong answers become feedback, and OptoPrime rewrites
those parts through the traced run. Uses the embedded local model unless
$TRACE_ENGINE_LLM names another backend.
Run: python examples/agent.py
"""

from optimizers import OptoPrime
from trace_engine.llm import check_llm, get_llm
from workflows.agent_pipeline import AgentPipeline, word_problems
from workflows.trainer import Trainer

llm = get_llm()
check_llm(llm)  # one clear line if the model is not usable, before any work
pipeline = AgentPipeline(llm, max_steps=4)  # an Agent with a calculator tool, and its scoring
agent = pipeline.agent

first = agent.run("A box holds 24 pencils. How many pencils are in 7 boxes?")
for step in first.steps:
    print(f"step {step.index}: {step.action}({step.input!r}) -> {step.observation!r}")
print("answer:", first.answer.data)

problems = word_problems(8, seed=1)
result = Trainer(
    agent,
    OptoPrime(agent.parameters(), llm),
    problems[:4],
    val=problems[4:],
    evaluate=pipeline.evaluate,
    batch_size=2,
    epochs=1,
).fit()
print(f"{result.status}: validation accuracy {result.initial_score:.2f} -> {result.best_score:.2f}")
print("system prompt now:", agent.system_prompt.data)
