"""Every optimizer ``trace-engine optimize --optimizer`` offers works on every workflow."""

import json

import pytest

from workflows.commands.common import OPTIMIZERS, make_optimizer
from workflows.jobs import WORKFLOWS, build_job
from workflows.trainer import Trainer


@pytest.mark.parametrize("workflow", [w for w in WORKFLOWS if w != "prompt_tuning"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_takes_each_workflows_options(workflow, name):
    job = build_job(workflow, llm=lambda messages: "x")
    optimizer = make_optimizer(
        name,
        job.module.parameters(),
        lambda m: "TERMINATE",
        score=job.score,
        **job.optimizer_options,
    )
    assert optimizer.parameters == job.module.parameters()


def _numeric_reply(messages):
    """A scripted optimizer LLM for the numeric job, whatever the optimizer asks."""
    user = messages[-1]["content"]
    if user.startswith("Step:"):
        asked = user.rsplit("Give feedback for: ", 1)[1].split(", ")
        return json.dumps({a: "fit the points better" for a in asked})
    if '"value"' in messages[0]["content"]:
        return json.dumps({"reasoning": "closer", "value": [1.0, 2.0, 0.5]})
    name = next(p.name for p in _numeric_reply.parameters)
    return json.dumps({"reasoning": "closer", "suggestion": {name: [1.0, 2.0, 0.5]}})


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_trains_the_numeric_job(name, tmp_path):
    job = build_job("numeric")
    _numeric_reply.parameters = job.module.parameters()
    optimizer = make_optimizer(
        name, job.module.parameters(), _numeric_reply, score=job.score, **job.optimizer_options
    )
    result = Trainer(
        job.module,
        optimizer,
        job.train,
        job.val,
        evaluate=job.evaluate,
        batch_size=4,
        max_steps=2,
        progress=False,
        plot=False,
        restore_best=False,
    ).fit()
    assert result.status == "completed" and result.steps == 2
    param = job.module.parameters()[0]
    if name == "archive":  # it keeps the candidate that scores best on the training split
        assert [1.0, 2.0, 0.5] in [c.values[param.name] for c in optimizer.candidates.values()]
        assert param.data == optimizer.best.values[param.name]
    elif name != "optoprime-multi":  # it keeps the current values unless one scores higher
        assert param.data == [1.0, 2.0, 0.5]
