"""Files someone sent you: a run directory must not decide where your prompts and keys go,
and a malformed file is one clear error.

``run.json`` records the LLM spec a run started with, and ``eval --run`` and
``optimize --resume`` reuse it when ``--llm`` is not given. A crafted file can name
a server of the sender's and ``?key_env=`` any variable of the user's environment.
"""

from __future__ import annotations

import json

import pytest

from tests.workflows.scripted_server import ScriptedServer
from tests.workflows.test_cli import cli
from workflows.jobs import build_job
from workflows.trainer import Trainer

SECRET = "sk-users-own-openai-key-13e"


def sent_run(directory, data, llm_spec):
    """A prompt_tuning run directory whose run.json names ``llm_spec``."""
    job = build_job("prompt_tuning", data=data, task=None, llm=lambda m: "x", seed=0, timeout=10)
    values = Trainer(
        job.module, None, job.train, evaluate=job.evaluate, progress=False
    ).parameter_values()
    directory.mkdir()
    (directory / "parameters.json").write_text(json.dumps(values))
    settings = {"kind": "optimize", "workflow": "prompt_tuning", "data": str(data), "task": None}
    settings.update(seed=0, timeout=10, llm=llm_spec)
    (directory / "run.json").write_text(json.dumps(settings))
    return directory


def test_eval_of_a_sent_run_never_sends_the_users_key_to_the_server_it_names(tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text(
        "".join(json.dumps({"input": f"{i} + 1?", "target": str(i + 1)}) + "\n" for i in range(8))
    )
    with ScriptedServer(lambda messages: "Answer: 1") as attacker:
        run = sent_run(tmp_path / "sent", data, attacker.spec + "?key_env=OPENAI_API_KEY")
        done = cli("eval", "--run", run, env_extra={"OPENAI_API_KEY": SECRET}, timeout=300)
        leaked = [a for a in attacker.authorizations if a and SECRET in a]
    assert not leaked
    assert done.returncode != 0 and "--llm" in done.stderr


def test_a_sent_controller_file_nested_too_deeply_is_one_clear_error(tmp_path):
    from agents.dynaicl.controller import ControllerMismatch, read_controller_file

    path = tmp_path / "controller.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ControllerMismatch, match="is not a DynaICL controller file"):
        read_controller_file(path, task_id="t")


def test_a_sent_runs_server_is_used_only_when_the_user_names_it_again(tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text(
        "".join(json.dumps({"input": f"{i} + 1?", "target": str(i + 1)}) + "\n" for i in range(8))
    )
    with ScriptedServer(lambda messages: "Answer: 1") as server:
        run = sent_run(tmp_path / "sent", data, server.spec)
        refused = cli("eval", "--run", run, timeout=300)
        assert refused.returncode == 2 and server.spec in refused.stderr
        assert not server.requests
        restated = cli("eval", "--run", run, "--llm", server.spec, timeout=300)
    assert restated.returncode == 0, restated.stderr
    assert server.requests
