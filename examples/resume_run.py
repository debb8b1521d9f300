"""Checkpoints and exact resume: stop a run (Ctrl-C, a crash, a budget), start it again.

Every step is checkpointed atomically in the run directory. Run this script,
press Ctrl-C during a step, and run it again: it continues where it stopped.
The same works from the command line: trace-engine optimize numeric --resume DIR
Run: python examples/resume_run.py
"""

from pathlib import Path

from optimizers import OptoPrime
from trace_engine.llm import check_llm, get_llm
from workflows.datasets import numeric_suite
from workflows.numeric import PolynomialFit
from workflows.trainer import Trainer

run_dir = Path("example-runs/resume")
points = numeric_suite("quadratic", n=12)
fit = PolynomialFit(degree=2)
llm = get_llm()
check_llm(llm)  # one clear line if the model is not usable, before any work
trainer = Trainer(
    fit,
    OptoPrime(fit.parameters(), llm),
    points,
    val=points,
    evaluate=fit.evaluate,
    batch_size=4,
    epochs=3,
    checkpoint_dir=run_dir,
    resume=(run_dir / "checkpoint.json").exists(),
    workflow="example:resume",
)
result = trainer.fit()
print(f"{result.status}: {result.message}")
print("plot:", result.files.get("plot"))
