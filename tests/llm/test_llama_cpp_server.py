"""The openai-compatible backend against a real ``python -m llama_cpp.server`` on loopback.

That server answers ``response_format: json_schema`` with HTTP 500 (a validation
error naming ``response_format``) and enforces ``json_object`` with a ``schema``;
OptoPrime on a number must still change the value through it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from optimizers import OptoPrime
from trace_engine import node
from trace_engine.llm import LLMUnavailable, check_llm, get_llm

pytestmark = pytest.mark.local_model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_spec(tmp_path_factory):
    pytest.importorskip("llama_cpp")
    for module in ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings"):
        pytest.importorskip(module)
    from trace_engine.llm.weights import ensure_model

    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(ensure_model()),
                "--model_alias",
                "qwen",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "4096",
                "--verbose",
                "False",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    spec = f"openai-compatible:http://127.0.0.1:{port}/v1#qwen"
    try:
        for _ in range(240):  # the model loads in a few seconds; allow a slow, shared CI machine
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                check_llm(spec, timeout=2.0)
                break
            except LLMUnavailable:
                time.sleep(0.5)
        else:
            pytest.fail(f"llama_cpp.server did not answer: {log.read_text()[-2000:]}")
        yield spec
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_optoprime_changes_a_number_through_llama_cpp_server(server_spec):
    llm = get_llm(server_spec, cache=False, timeout=300)
    x = node(3, trainable=True, name="server_x")
    y = x * 3 + 2
    opt = OptoPrime([x], llm, max_tokens=160)
    opt.backward(y, f"The output is {y.data} but the target is 17: the output is too low.")
    result = opt.step()
    assert result.ok, result.error
    assert result.applied.get("server_x") is not None and x.data != 3
    assert llm.unwrap().schema_mode == "json_object+schema"
