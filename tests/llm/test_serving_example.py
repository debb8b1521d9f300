"""examples/serving_engine.py runs against a loopback OpenAI-compatible server."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("openai")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "serving_engine.py"


def test_the_serving_example_sends_its_questions_concurrently(server, tmp_path):
    server.default = ("echo", 0.2)
    env = {**os.environ, "TRACE_ENGINE_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            server.url,
            "tiny",
            "--concurrency",
            "4",
            "--questions",
            "8",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "-> re:Write a one-line Python expression for 7 squared plus one." in done.stdout
    assert "8 answers in" in done.stdout
    assert len(server.requests) == 8 and server.max_in_flight == 4
    assert all(r["body"]["max_tokens"] == 32 for r in server.requests)
