"""The numeric, prompt-tuning and agent workflows with scripted models."""

from __future__ import annotations

import json

from tests.workflows.fakes import ScriptedOptimizer
from trace_engine.code import CodeParameter
from workflows.agent_pipeline import AgentPipeline, calculate, word_problems
from workflows.datasets import Example, numeric_suite
from workflows.jobs import WORKFLOWS, UnknownWorkflow, build_job
from workflows.numeric import PolynomialFit
from workflows.prompt_tuning import QAPipeline
from workflows.trainer import Trainer


def test_numeric_feedback_gives_the_signed_error_and_a_fit_reaches_zero():
    fit = PolynomialFit(degree=2)
    points = numeric_suite("quadratic", n=8)
    first = fit.evaluate(points[0])
    assert "too low by" in first.feedback and first.score < 1
    optimizer = ScriptedOptimizer(fit.parameters(), lambda m: "[3.0, -2.0, 0.5]", parse=json.loads)
    result = Trainer(
        fit,
        optimizer,
        points,
        val=points,
        evaluate=fit.evaluate,
        batch_size=4,
        max_steps=1,
        progress=False,
    ).fit()
    assert result.best_score == 1.0
    assert fit.mean_absolute_error(points) < 1e-9


def test_numeric_candidates_are_scored_by_minus_their_mean_absolute_error():
    fit = PolynomialFit(degree=1)
    points = [Example(str(x), x, 2 * x + 1) for x in (0, 1, 2)]
    score, name = fit.score_candidates(points), fit.coefficients.name
    assert score({name: [1, 2]}) == 0
    assert score({name: [0, 2]}) == -1
    assert fit.coefficients.data == [0.0, 0.0]


def test_numeric_refuses_coefficients_of_the_wrong_shape():
    fit = PolynomialFit(degree=2)
    optimizer = ScriptedOptimizer(fit.parameters(), lambda m: "[1.0, 2.0]", parse=json.loads)
    points = numeric_suite("line", n=4)
    result = Trainer(
        fit, optimizer, points, evaluate=fit.evaluate, batch_size=4, max_steps=1, progress=False
    ).fit()
    assert "exactly 3 numbers" in next(iter(result.history[1]["rejected"].values()))
    assert fit.coefficients.data == [0.0, 0.0, 0.0]


def test_prompt_tuning_exact_match_reaches_prompt_and_parser():
    def model(messages):
        system, question = messages[0]["content"], messages[1]["content"]
        return "Reasoning...\nAnswer: True" if "Options" in question else f"[{system[:5]}] 42"

    qa = QAPipeline(model)
    mc = Example("q1", "Is it?", "True", ("True", "False"))
    assert qa.evaluate(mc).score == 1.0
    wrong = qa.evaluate(Example("q2", "What is 6*7?", "42"))
    assert wrong.score == 0.0 and "the correct answer is 42" in wrong.feedback
    names = {p.name for p in qa.parameters()}
    reached = {p.name for p in wrong.output.parents[0].parents} | {
        p.name for p in wrong.output.parents if p.trainable
    }
    assert "system_prompt" in " ".join(names)
    assert any(isinstance(p, CodeParameter) for p in qa.parameters())
    assert reached & names


def test_calculator_is_safe_arithmetic():
    assert calculate("(12 + 5) * 3") == "51"
    assert calculate("7 / 2") == "3.5"
    for bad in ("__import__('os')", "2 ** 1000", "x + 1"):
        try:
            calculate(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was evaluated")


def test_agent_pipeline_scores_a_scripted_agent():
    replies = iter(
        [
            json.dumps({"thought": "multiply", "action": "calculator", "input": "24 * 3"}),
            json.dumps({"thought": "done", "action": "finish", "input": "72"}),
        ]
    )
    pipeline = AgentPipeline(lambda messages: next(replies))
    example = Example("w", "A box holds 24 pencils. How many pencils are in 3 boxes?", "72")
    evaluation = pipeline.evaluate(example)
    assert evaluation.score == 1.0 and evaluation.details["tools"] == ["calculator"]
    assert len(word_problems(8, seed=1)) == 8 and word_problems(3) == word_problems(3)


def test_every_workflow_builds_a_job_without_a_model():
    for name in WORKFLOWS:
        if name == "prompt_tuning":
            continue
        job = build_job(name, llm=lambda messages: "x")
        assert job.train and job.module.parameters()
    try:
        build_job("sorting")
    except UnknownWorkflow as exc:
        assert "available: code_repair" in str(exc)


def test_optoprime_multi_scores_candidates_where_a_workflow_can_else_votes():
    from workflows.commands.common import make_optimizer

    for name, select in (
        ("code_repair", "score"),
        ("numeric", "score"),
        ("agent_pipeline", "majority"),
    ):
        job = build_job(name, llm=lambda messages: "x")
        multi = make_optimizer(
            "optoprime-multi", job.module.parameters(), lambda m: "x", score=job.score
        )
        assert multi.select == select and multi.keep_current == (select == "score"), name
