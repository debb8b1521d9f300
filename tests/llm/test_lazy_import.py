import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ["llama_cpp", "openai", "torch", "transformers", "diskcache", "tenacity", "pydantic"]


def _loaded_after(code: str) -> list[str]:
    script = (
        f"import sys, json\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_importing_the_llm_layer_loads_no_backend_library():
    assert _loaded_after("import trace_engine.llm") == []


def test_getting_the_default_llm_loads_only_the_cache_and_config():
    assert _loaded_after("from trace_engine.llm import get_llm; get_llm()") == [
        "diskcache",
        "pydantic",
    ]
