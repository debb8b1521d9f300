"""Red team: the written answer parsers of prompt_tuning and agent_pipeline run only sandboxed.

An LLM that rewrites ``extract_answer`` gets its code called on every example;
these attacks check that the call never runs in the host (a loop is cut at
the user's time limit, the host's modules stay as they were) and that the
command line still finishes with its summary.
"""

from __future__ import annotations

import json
import string
import subprocess

import pytest

from tests.workflows.scripted_server import ScriptedServer
from tests.workflows.test_cli import cli, write_add_task
from trace_engine.code import CodeParameter
from trace_engine.errors import InvalidCodeError
from workflows.code_calls import SandboxRunner
from workflows.datasets import Example
from workflows.jobs import build_job

LOOPING_PARSER = (
    "def extract_answer(self, reply: str, choices: list) -> str:\n    while True:\n        pass\n"
)
LOOPING_AGENT_PARSER = (
    "def extract_answer(self, text: str) -> str:\n    while True:\n        pass\n"
)


def _code(job) -> CodeParameter:
    (code,) = [p for p in job.module.parameters() if isinstance(p, CodeParameter)]
    return code


def _evaluated(module, evaluate, example):
    """How the trainer scores ``example`` (a program error scores 0 with it as feedback)."""
    from workflows.trainer import Trainer

    (evaluation,) = Trainer(module, None, [example], evaluate=evaluate).evaluate_all([example])
    return evaluation


def _with_parser(tmp_path, body: str):
    """The prompt_tuning job with ``extract_answer`` rewritten to ``body``."""
    job = _prompt_tuning(tmp_path)
    _code(job).set("def extract_answer(self, reply: str, choices: list) -> str:\n" + body)
    return job


def _prompt_tuning(tmp_path, timeout: float = 2.0):
    data = tmp_path / "qa.jsonl"
    data.write_text(
        "".join(json.dumps({"input": f"question {i}?", "target": "no"}) + "\n" for i in range(8))
    )
    return build_job("prompt_tuning", data=data, llm=lambda messages: "Answer: no", timeout=timeout)


@pytest.mark.timeout(60)
def test_an_endless_loop_in_a_written_parser_is_cut_at_the_time_limit(tmp_path):
    job = _prompt_tuning(tmp_path)
    _code(job).set(LOOPING_PARSER)
    evaluation = _evaluated(job.module, job.evaluate, job.train[0])
    assert evaluation.score == 0.0
    assert "did not finish within 2s" in evaluation.feedback


def test_a_written_parser_cannot_change_the_hosts_modules(tmp_path):
    job = _with_parser(
        tmp_path,
        "    import string\n    string.punctuation = ''\n    return 'yes'\n",
    )
    evaluation = job.evaluate(job.train[0])
    assert string.punctuation.startswith("!")
    assert evaluation.score == 0.0
    assert evaluation.details["answer"] == "yes"


def test_a_written_parser_gets_plain_values_and_the_module_it_was_written_for(tmp_path):
    job = _with_parser(
        tmp_path,
        "    return string.punctuation[:1] + str(self) + str(MAX_ANSWER_TOKENS) + reply[-2:]\n",
    )
    evaluation = job.evaluate(Example("x", "q?", "no"))
    assert evaluation.details["answer"] == "!None256no"


def test_a_written_parser_that_returns_a_forged_object_is_not_believed(tmp_path):
    job = _with_parser(
        tmp_path,
        "    class Always(str):\n"
        "        def __eq__(self, other):\n"
        "            return True\n"
        "        def lower(self):\n"
        "            return self\n"
        "    return Always('forged')\n",
    )
    evaluation = _evaluated(job.module, job.evaluate, job.train[0])
    assert evaluation.score == 0.0
    assert "returned a value of type" in evaluation.feedback


def test_the_original_parser_still_runs_in_the_host(tmp_path):
    job = _prompt_tuning(tmp_path)
    code = _code(job)
    assert code.data == code.original
    assert code.function.__module__ == "workflows.prompt_tuning"
    assert job.evaluate(job.train[0]).score == 1.0


def _optimize(tmp_path, workflow: str, reply, *extra: str) -> subprocess.CompletedProcess:
    with ScriptedServer(reply) as server:
        return cli(
            "optimize", workflow, "--llm", server.spec, "--steps", "1", "--timeout", "2",
            "--out", tmp_path / "run", *extra,
            env_extra={"TRACE_ENGINE_CACHE_DIR": str(tmp_path / "cache")},
            timeout=240,
        )  # fmt: skip


def _last_step(tmp_path) -> dict:
    return json.loads((tmp_path / "run" / "steps.jsonl").read_text().splitlines()[-1])


def test_optimize_prompt_tuning_with_a_looping_parser_finishes_with_its_summary(tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text(
        "".join(json.dumps({"input": f"question {i}?", "target": "no"}) + "\n" for i in range(8))
    )

    def reply(messages):
        if messages[0]["content"].startswith("Answer the question"):
            return "Answer: yes"
        suggestion = {"__code_extract_answer": LOOPING_PARSER}
        return json.dumps({"reasoning": "parse better", "suggestion": suggestion})

    done = _optimize(tmp_path, "prompt_tuning", reply, "--data", data)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "completed:" in done.stdout
    step = _last_step(tmp_path)
    assert step["applied"] == ["__code_extract_answer"]
    assert step["val_score"] == 0.0


def test_optimize_agent_pipeline_with_a_looping_parser_finishes_with_its_summary(tmp_path):
    def reply(messages):
        text = " ".join(m["content"] for m in messages)
        if "```python code block" in text:
            return f"__code_extract_answer\n```python\n{LOOPING_AGENT_PARSER}```"
        if '"suggestion"' in text:
            return json.dumps({"reasoning": "parse better", "suggestion": {}})
        return json.dumps({"thought": "done", "action": "finish", "input": "5"})

    done = _optimize(tmp_path, "agent_pipeline", reply)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "completed:" in done.stdout
    step = _last_step(tmp_path)
    assert step["applied"] == ["__code_extract_answer"]
    assert step["val_score"] == 0.0


def test_a_written_parser_sees_no_api_key_of_the_host(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    job = _prompt_tuning(tmp_path)
    reading = (
        "def extract_answer(self, reply: str, choices: list) -> str:\n"
        "    import os\n"
        "    return os.environ.get('OPENAI_API_KEY', 'no key')\n"
    )
    with pytest.raises(InvalidCodeError, match="os.environ"):
        _code(job).set(reading)
    # past the static check (say, by a way it does not know), the sandbox has no key either
    sandboxed = SandboxRunner(2)(_code(job), reading)
    assert sandboxed(None, "Answer: no", []) == "no key"


def test_eval_of_a_sent_run_with_a_looping_parser_finishes_at_the_time_limit(tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text(
        "".join(json.dumps({"input": f"question {i}?", "target": "no"}) + "\n" for i in range(8))
    )
    run = tmp_path / "sent-run"
    run.mkdir()
    settings = {"workflow": "prompt_tuning", "data": str(data), "timeout": 2}
    (run / "run.json").write_text(json.dumps(settings))
    (run / "parameters.json").write_text(
        json.dumps(
            {
                "system_prompt": "Answer.",
                "extract_answer.__code": LOOPING_PARSER,
            }
        )
    )
    with ScriptedServer(lambda messages: "Answer: no") as server:
        done = cli(
            "eval", "--run", run, "--llm", server.spec, "--parallel", "1",
            env_extra={"TRACE_ENGINE_CACHE_DIR": str(tmp_path / "cache")},
            timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "score 0.000 over 2 examples" in done.stdout
    assert "did not finish within 2s" in done.stdout


@pytest.mark.timeout(120)
def test_score_based_candidate_choice_runs_candidates_only_sandboxed(tmp_path):
    from optimizers import OptoPrimeMulti
    from tests.security.hostile import replying_with

    job = build_job("code_repair", data=write_add_task(tmp_path), timeout=2)
    original = _code(job).data
    looping = "def add(a, b):\n    while True:\n        pass\n"
    optimizer = OptoPrimeMulti(
        job.module.parameters(),
        replying_with(looping),
        n=2,
        select="score",
        score=job.score,
        keep_current=True,
    )
    evaluation = job.evaluate(job.train[0])
    evaluation.output.backward(evaluation.feedback)
    result = optimizer.step()
    assert result.details["scores"] and set(result.details["scores"]) == {0.0}
    assert result.applied == {}
    assert _code(job).data == original


@pytest.mark.timeout(60)
def test_the_python_api_of_both_pipelines_runs_a_looping_parser_only_sandboxed():
    from workflows.agent_pipeline import AgentPipeline
    from workflows.prompt_tuning import QAPipeline

    finish = json.dumps({"thought": "done", "action": "finish", "input": "5"})
    cases = [
        (QAPipeline(lambda messages: "Answer: no", timeout=2), LOOPING_PARSER),
        (AgentPipeline(lambda messages: finish, timeout=2), LOOPING_AGENT_PARSER),
    ]
    for pipeline, looping in cases:
        module = pipeline if isinstance(pipeline, QAPipeline) else pipeline.agent
        (code,) = [p for p in module.parameters() if isinstance(p, CodeParameter)]
        code.set(looping)
        evaluation = _evaluated(module, pipeline.evaluate, Example("x", "What is 2 + 3?", "5"))
        assert evaluation.score == 0.0
        assert "did not finish within 2s" in evaluation.feedback


@pytest.mark.parametrize(
    "body",
    [
        "    import pickle\n    return pickle.loads(reply.encode())\n",
        "    import os, operator\n    return operator.attrgetter('remove')(os)(reply)\n",
        "    import os\n    return vars(os)['remove'](reply)\n",
        "    import os\n    return os.__dict__['remove'](reply)\n",
        "    import posix\n    return posix.remove(reply)\n",
        "    import io\n    return io.open(reply, 'w')\n",
        "    import pathlib\n    return pathlib.Path(reply).open('w')\n",
        "    import pathlib\n    return pathlib.Path(reply).read_text()\n",
        "    import threading\n    threading.Thread(target=print).start()\n    return reply\n",
    ],
    ids=[
        "pickle",
        "attrgetter",
        "vars",
        "__dict__",
        "posix",
        "io.open",
        "path.open",
        "read_text",
        "thread",
    ],
)
def test_code_for_the_host_cannot_reach_files_by_another_name(tmp_path, body):
    from trace_engine.bundle import bundle

    @bundle(trainable=True)
    def extract_answer(reply: str, choices: list) -> str:
        return reply

    with pytest.raises(InvalidCodeError, match="may not"):
        extract_answer.parameter.set(
            "def extract_answer(reply: str, choices: list) -> str:\n" + body
        )
