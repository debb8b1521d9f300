"""The ray executor on a local Ray (2 CPUs, started once for the module).

The same traced work runs through threads and through Ray tasks and must give
the same results, with the returned graphs reaching the caller's own parameters,
the calls' LLM usage accounted on the caller's meter and budgets, and the three
ways of failing (a task raises, a worker dies, no cluster) each one clear error.
A training run on Ray matches one on threads, step by step, also when a worker
dies half-way and the run is resumed from its checkpoint; so does the command line.
"""

from __future__ import annotations

import os

import pytest

from tests.llm.fake_server import FakeServer
from trace_engine import bundle, node
from trace_engine.backward import outputs_with_feedback
from trace_engine.executors import make_executor
from trace_engine.llm import (
    Budget,
    BudgetExceeded,
    Cached,
    CallableLLM,
    Metered,
    as_llm,
    get_llm,
    get_meter,
)

ray = pytest.importorskip(
    "ray", reason='the ray executor needs ray: pip install "trace-engine[ray]"'
)

from trace_engine.ray_executor import ClusterUnreachable, WorkerDied, connect  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def executors(local_ray):
    with make_executor("thread", workers=2) as threads, make_executor("ray") as tasks:
        yield threads, tasks


def scripted_reply(messages):
    return "reply to " + messages[-1]["content"]


def make_rollout(llm):
    """A traced rollout: a trainable prompt, a model call, a bundled scoring step."""
    prompt = node("Answer briefly:", trainable=True, name="prompt")

    @bundle()
    def ask(instruction, question):
        return llm.complete(f"{instruction} {question}").text

    def rollout(question: str):
        answer = ask(prompt, question)
        return answer, len(answer.data)

    return prompt, rollout


def test_the_same_rollouts_give_the_same_results_and_reach_the_callers_parameter(executors):
    threads, tasks = executors
    llm = Metered(as_llm(scripted_reply))
    prompt, rollout = make_rollout(llm)
    questions = [f"q{i}" for i in range(6)]

    by_thread = threads.map(rollout, questions, parameters=[prompt])
    with get_meter().tag("ray-rollouts") as used:
        by_ray = tasks.map(rollout, questions, parameters=[prompt])

    assert [(o.data, n) for o, n in by_ray] == [(o.data, n) for o, n in by_thread]
    assert by_ray[0][0].data == "reply to Answer briefly: q0"
    for output, _ in by_ray:
        assert prompt in output.parents  # the caller's own parameter, not a copy
    # the calls made in the workers are on the caller's meter, under the caller's tag
    assert used.calls == len(questions)
    # feedback given to a returned output is found from the caller's parameter
    by_ray[2][0]._feedback = ("too long",)
    assert outputs_with_feedback([prompt]) == [by_ray[2][0]]


def test_budgets_travel_and_what_workers_spent_is_charged_to_the_callers_budget(executors):
    _, tasks = executors
    llm = Metered(as_llm(scripted_reply))
    budget = Budget(max_calls=3)
    with budget.active():
        assert len(tasks.map(lambda q: llm.complete(q).text, ["a", "b"])) == 2
        assert budget.spent.calls == 2
        # one call left: a task may spend it, the next one finds the budget gone
        tasks.map(lambda q: llm.complete(q).text, ["c"])
        with pytest.raises(BudgetExceeded):
            tasks.map(lambda q: llm.complete(q).text, ["d"])
    assert budget.spent.calls == 3


def test_an_llm_built_from_a_spec_is_rebuilt_in_the_worker_and_caches_there(executors, tmp_path):
    _, tasks = executors
    server = FakeServer()
    server.default = ("echo", 0.0)
    try:
        llm = get_llm(server.spec(), cache_dir=str(tmp_path / "cache"), retries=1)
        texts = tasks.map(lambda q: llm.complete(q).text, ["x", "y", "x", "z"])
        assert texts == ["re:x", "re:y", "re:x", "re:z"]
        asked = len(server.requests)
        # the workers wrote the shared cache directory: here every prompt is a hit
        again = [llm.complete(q) for q in ["x", "y", "z"]]
        assert all(c.cached for c in again)
        assert len(server.requests) == asked
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def test_processes_sharing_one_cache_directory_all_read_every_entry(executors, tmp_path):
    _, tasks = executors
    directory = str(tmp_path / "shared-cache")

    def fill(start: int) -> list[str]:
        cached = Cached(as_llm(scripted_reply), directory=directory)
        return [cached.complete(f"p{(start + i) % 12}").text for i in range(12)]

    written = tasks.map(fill, range(4))  # four tasks writing the same keys at once
    # same model name as the writers (it is part of the key), but it never answers itself
    reader = Cached(CallableLLM(lambda m: "not cached", name="scripted_reply"), directory=directory)
    assert all(reader.complete(f"p{i}").text == f"reply to p{i}" for i in range(12))
    assert written[0] == [f"reply to p{i}" for i in range(12)]


def test_a_task_that_raises_gives_its_own_exception_with_the_item_index(executors):
    _, tasks = executors

    def check(x: int) -> int:
        if x == 3:
            raise ValueError(f"bad item {x}")
        return x

    with pytest.raises(ValueError, match="bad item 3") as info:
        tasks.map(check, range(5))
    assert info.value.task_index == 3
    assert any("in the Ray worker" in note for note in info.value.__notes__)


def test_a_worker_that_dies_is_a_clear_error(executors):
    _, tasks = executors

    def die(x: int) -> int:
        if x == 1:
            os._exit(3)
        return x

    with pytest.raises(WorkerDied, match="task 1 of 2: its Ray worker died"):
        tasks.map(die, range(2))
    assert tasks.map(lambda x: x + 1, [1]) == [2]  # the executor still works


def test_an_address_where_no_cluster_answers_is_one_clear_line_quickly(local_ray):
    import socket

    with socket.socket() as probe:  # a free local port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ClusterUnreachable, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        connect(f"127.0.0.1:{port}", connect_timeout=2)
    with pytest.raises(ClusterUnreachable, match="is not HOST:PORT"):
        connect("not an address", connect_timeout=2)


def test_an_optimizer_step_on_ray_outputs_sees_and_does_what_it_does_on_thread_outputs(
    executors,
):
    from optimizers import OptoPrime

    offset = node(0, trainable=True, name="offset")

    def evaluate(x: int):
        out = offset + x
        return out, "correct" if out.data == x + 3 else f"expected {x + 3}, got {out.data}"

    runs = []
    for executor in executors:
        offset.set(0)
        asked = []

        def llm(messages, asked=asked):
            asked.append(messages[-1]["content"])
            return '{"reasoning": "add three", "suggestion": {"offset": 3}}'

        opt = OptoPrime([offset], llm)
        opt.zero_feedback()
        for out, feedback in executor.map(evaluate, [1, 2, 4], parameters=[offset]):
            opt.backward(out, feedback)
        result = opt.step()
        runs.append((asked, result.applied, offset.data))
    assert runs[0] == runs[1]
    assert runs[1][1:] == ({"offset": 3}, 3)
    assert "add_2: expected 7, got 4" in runs[1][0][0]


def train_offset(directory, script, executor, *, resume=False, on_step=None, die_if=None):
    """The Trainer tests' offset job (learn offset = 3), evaluated through ``executor``;
    ``die_if``: a file whose existence makes the evaluating process exit at once."""
    from tests.workflows.test_trainer import offset_job
    from workflows.trainer import Trainer

    offset, examples, evaluate, opt = offset_job(script)

    def evaluate_or_die(example):
        if die_if is not None and die_if.exists():
            os._exit(7)
        return evaluate(example)

    trainer = Trainer(
        [offset],
        opt,
        examples,
        val=examples[:2],
        evaluate=evaluate_or_die,
        batch_size=2,
        epochs=3,
        max_steps=6,
        checkpoint_dir=directory,
        resume=resume,
        progress=False,
        plot=False,
        perfect_score=None,
        restore_best=False,
        workflow="offset",
        executor=executor,
        on_step=on_step,
    )
    return offset, trainer.fit()


def test_training_on_ray_matches_threads_and_resumes_after_a_worker_dies(executors, tmp_path):
    from workflows.checkpoint import read_checkpoint
    from workflows.trainer import TrainingFailed

    threads, tasks = executors
    script = ["1", "2", "5", "3", "4", "6"]
    _, reference = train_offset(tmp_path / "threads", script, threads)

    marker = tmp_path / "die"

    def after(record):
        if record["step"] == 2:
            marker.touch()  # the next evaluation's worker exits

    run = tmp_path / "ray"
    with pytest.raises(TrainingFailed) as info:
        train_offset(run, script[:2], tasks, on_step=after, die_if=marker)
    assert "Ray worker died" in info.value.result.message
    assert read_checkpoint(run, "offset")["step"] == 2  # nothing finished was lost
    marker.unlink()
    offset, resumed = train_offset(run, script[2:], tasks, resume=True)

    strip = ("seconds", "applied")
    assert [{k: v for k, v in r.items() if k not in strip} for r in resumed.history] == [
        {k: v for k, v in r.items() if k not in strip} for r in reference.history
    ]
    assert offset.data == 6 and resumed.steps == 6


def test_the_command_line_trains_on_ray_as_on_threads_and_names_an_absent_cluster(tmp_path):
    import json
    import socket

    from tests.workflows.scripted_server import ScriptedServer
    from tests.workflows.test_cli import cli, reply_for

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ScriptedServer(reply_for) as server:
        common = ("--steps", "2", "--llm", server.spec)
        absent = cli(
            "optimize",
            "numeric",
            "--executor",
            "ray",
            "--ray-address",
            f"127.0.0.1:{port}",
            *common,
            "--out",
            tmp_path / "absent",
        )
        on_threads = cli("optimize", "numeric", *common, "--out", tmp_path / "threads")
        on_ray = cli(
            "optimize",
            "numeric",
            "--executor",
            "ray",
            *common,
            "--out",
            tmp_path / "ray",
            timeout=300,
        )
    assert absent.returncode == 2
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in absent.stderr.strip().splitlines()[-1]
    assert on_threads.returncode == 0, on_threads.stderr
    assert on_ray.returncode == 0, on_ray.stderr

    def scores(run):
        lines = (tmp_path / run / "steps.jsonl").read_text().splitlines()
        keep = ("step", "train_scores", "val_scores", "feedback", "error")
        return [{k: json.loads(line).get(k) for k in keep} for line in lines]

    assert scores("ray") == scores("threads")
    assert (tmp_path / "ray" / "parameters.json").read_text() == (
        tmp_path / "threads" / "parameters.json"
    ).read_text()
