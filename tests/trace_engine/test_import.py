import subprocess
import sys


def test_importing_the_core_loads_no_heavy_dependency():
    code = (
        "import sys, trace_engine, trace_engine.llm;"
        "heavy = [m for m in ('networkx', 'openai', 'llama_cpp', 'torch', 'diskcache', 'tenacity',"
        " 'matplotlib', 'numpy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == ""
