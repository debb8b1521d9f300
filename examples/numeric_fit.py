"""Fit polynomial coefficients to points from signed-error feedback (no gradients).

Uses the embedded local model unless $TRACE_ENGINE_LLM names another backend.
Run: python examples/numeric_fit.py
"""

from optimizers import OptoPrime
from trace_engine.llm import check_llm, get_llm
from workflows.datasets import numeric_suite, split
from workflows.numeric import PolynomialFit
from workflows.trainer import Trainer

points = split(numeric_suite("line", n=12), seed=0)
fit = PolynomialFit(degree=1)
llm = get_llm()
check_llm(llm)  # one clear line if the model is not usable, before any work
optimizer = OptoPrime(fit.parameters(), llm, memory_size=5)
result = Trainer(
    fit,
    optimizer,
    points.train,
    val=points.val,
    test=points.test,
    evaluate=fit.evaluate,
    batch_size=4,
    epochs=3,
).fit()
print("coefficients:", fit.coefficients.data, "(the hidden line is y = 2.5 x - 1)")
print(f"mean absolute error on the test points: {fit.mean_absolute_error(points.test):.3f}")
