"""Many model calls at once against a serving engine (vLLM, SGLang) that batches them.

Serve the embedded model's weights (or any model) with vLLM on a GPU machine:
    trace-engine models assemble          # prints the path of the GGUF file
    pip install vllm vllm-gguf-plugin     # recent vLLM reads GGUF through the plugin
    vllm serve PATH.gguf --tokenizer Qwen/Qwen2.5-Coder-1.5B-Instruct --served-model-name qwen
Then run (8 requests in flight; the server batches them):
    python examples/serving_engine.py http://localhost:8000/v1 qwen --concurrency 8
The same spec on the command line: --llm "openai-compatible:URL#qwen?max_concurrency=8"
"""

import argparse
import time

from trace_engine.llm import get_llm, get_meter

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("url", help="the server's OpenAI-compatible base URL, e.g. http://host:8000/v1")
parser.add_argument("model", help="the model name the server serves")
parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at once")
parser.add_argument("--questions", type=int, default=16)
args = parser.parse_args()

llm = get_llm(f"openai-compatible:{args.url}#{args.model}", max_concurrency=args.concurrency)
questions = [
    f"Write a one-line Python expression for {i} squared plus one." for i in range(args.questions)
]
start = time.perf_counter()
answers = llm.complete_many(questions, max_tokens=32, temperature=0.0)
seconds = time.perf_counter() - start
for question, answer in zip(questions, answers):
    print(f"{question}\n  -> {answer.text.strip()}")
print(f"{len(questions)} answers in {seconds:.2f}s with up to {args.concurrency} in flight")
print(get_meter().summary())
