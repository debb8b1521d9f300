"""DynaICL: give each input only as many in-context demonstrations as it needs.

Plurals of English nouns: "cat" needs no example, "mouse" may need a few. The
model is run on the training nouns with 0, 1 and 2 demonstrations (the labels),
a controller learns from them how much each kind of input gains from examples,
and a batch of new nouns gets its demonstrations allocated under a budget of
one per input on average, compared with giving every input exactly one.
Uses the embedded local model unless $TRACE_ENGINE_LLM names another backend.
Run: python examples/dynaicl.py
"""

from agents.dynaicl import DemoSelector, DynaICL, generate_labels, run_plan, train_controller
from trace_engine.llm import check_llm, get_llm

INSTRUCTION = "Write the plural of the English noun. Reply with the plural only."
PLURALS = {
    "cat": "cats", "dog": "dogs", "tree": "trees", "book": "books", "mouse": "mice",
    "goose": "geese", "child": "children", "tooth": "teeth", "cactus": "cacti",
    "sheep": "sheep", "ox": "oxen", "man": "men", "car": "cars", "pen": "pens",
    "foot": "feet", "woman": "women", "louse": "lice", "bird": "birds", "fungus": "fungi",
    "deer": "deer", "lamp": "lamps", "person": "people",
}  # fmt: skip
nouns = list(PLURALS.items())
pool, train, test = nouns[:6], nouns[6:16], nouns[16:]

llm = get_llm()
check_llm(llm)  # one clear line if the model is not usable, before any work
labels = generate_labels(
    llm, INSTRUCTION, train, pool, task_id="plurals", grid=(0, 1, 2), demo_sets=2, progress=False
)
controller = train_controller(labels)
dynaicl = DynaICL(INSTRUCTION, controller, DemoSelector(pool, "similar"))

inputs, targets = [x for x, _ in test], [y for _, y in test]
planned = dynaicl.plan(inputs, budget=len(inputs))
uniform = dynaicl.uniform(inputs, 1)
for name, plan in (("DynaICL", planned), ("one each", uniform)):
    accuracy, prompt_tokens, _ = run_plan(llm, plan, targets)
    print(
        f"{name:>9}: demos per input {plan.allocation.ks}, accuracy {accuracy:.2f}, "
        f"{prompt_tokens} prompt tokens"
    )
