"""Use any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, LM Studio) as the optimizer.

Start a server first, e.g. `ollama serve` and `ollama pull qwen2.5-coder:7b`, then:
Run: python examples/openai_compatible_server.py http://localhost:11434/v1 qwen2.5-coder:7b
The same spec works on the command line: trace-engine demo --llm openai-compatible:URL#MODEL
"""

import sys

from optimizers import OptoPrime
from trace_engine.llm import get_llm, get_meter
from workflows.code_repair import CodeRepair, humaneval_tasks
from workflows.trainer import Trainer

url, model = sys.argv[1], sys.argv[2]
llm = get_llm(f"openai-compatible:{url}#{model}")
tasks = humaneval_tasks([0, 2, 13])
repair = CodeRepair(tasks, timeout=5)
result = Trainer(
    repair,
    OptoPrime(repair.parameters(), llm),
    tasks,
    val=tasks,
    evaluate=repair.evaluate,
    batch_size=1,
    epochs=2,
    shuffle=False,
    stop_at_score=1.0,
).fit()
for t in tasks:
    print(t.name, repair.test(t.name).summary().splitlines()[0])
print(get_meter().summary())
