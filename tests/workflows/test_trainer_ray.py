"""A Trainer whose evaluations run as Ray tasks trains as one on threads does: the
outputs that come back from the workers carry feedback to the caller's parameters."""

from __future__ import annotations

import json

import pytest

from optimizers import OptoPrime
from trace_engine.executors import make_executor
from workflows.jobs import build_job
from workflows.trainer import Trainer

ray = pytest.importorskip(
    "ray", reason='the ray executor needs ray: pip install "trace-engine[ray]"'
)


def train_numeric(kind: str) -> tuple[list, dict, list[str]]:
    job = build_job("numeric")
    name = job.module.parameters()[0].name
    prompts: list[str] = []

    def llm(messages):
        prompts.append(messages[-1]["content"])
        return json.dumps({"reasoning": "fit", "suggestion": {name: [1.0 + len(prompts), -2, 0.5]}})

    with make_executor(kind, workers=2) as executor:
        result = Trainer(
            job.module,
            OptoPrime(job.module.parameters(), llm),
            job.train,
            job.val,
            evaluate=job.evaluate,
            executor=executor,
            batch_size=4,
            max_steps=2,
            progress=False,
            plot=False,
        ).fit()
    scores = [(r["train_score"], r["val_score"], r["error"]) for r in result.history]
    return scores, job.module.state_dict(), prompts


def test_training_on_ray_tasks_matches_training_on_threads():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    try:
        on_ray = train_numeric("ray")
    finally:
        ray.shutdown()
    on_threads = train_numeric("thread")
    assert on_ray == on_threads
    scores, values, prompts = on_ray
    assert len(prompts) == 2 and all(error is None for *_, error in scores)
    assert "too low" in prompts[0] or "too high" in prompts[0]  # the workers' feedback arrived
    assert list(values.values()) == [[3.0, -2, 0.5]]  # step 2 found the exact fit
