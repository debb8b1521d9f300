"""The core API in one screen: trace a computation, give feedback, see what reaches a parameter.

No model is needed: this shows the graph the optimizers read.
Run: python examples/core_api.py
"""

from trace_engine import bundle, feedback_graph, node


@bundle()
def discount(price: float, rate: float) -> float:
    """The price after taking off ``rate`` (0.1 = 10%)."""
    return price * (1 - rate)


rate = node(0.1, trainable=True, name="rate", description="the discount rate")
total = discount(120.0, rate) + 5.0  # shipping is added by a traced `+`
total.backward("the total should be 95: the discount is too small")

graph = feedback_graph([rate])
print(f"total = {total.data}")
print("nodes between the parameter and the output:", [n.name for n in graph.nodes])
print("feedback:", graph.feedback[total])
