"""Attacks by proposed code on the optimizing process: a step must run none of it.

Each reply is what a hostile or confused LLM could write for a code parameter;
every optimizer's ``step()`` must leave the host as it was (files, built-ins,
the process itself) and return a record of what it refused.
"""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.security.hostile import OPTIMIZERS, replying_with
from trace_engine import bundle

ROOT = Path(__file__).resolve().parents[2]


def _trainable():
    @bundle(trainable=True)
    def add_one(x, step=1):
        """Returns x plus step."""
        return x

    return add_one


def wipe(path: str) -> None:
    """What a hostile annotation calls: empties the canary (visible to proposals of this module)."""
    Path(path).write_text("")


@pytest.fixture
def canary(tmp_path) -> Path:
    """A file that proposed code tries to delete or truncate."""
    path = tmp_path / "canary.txt"
    path.write_text("still here")
    return path


def _step(optimizer: str, code: str):
    """One step of ``optimizer`` on a fresh trainable ``add_one`` whose LLM replies ``code``."""
    fn = _trainable()
    param = fn.parameters()[0]
    opt = OPTIMIZERS[optimizer]([param], replying_with(code))
    opt.backward(fn(1), "expected 2")
    try:
        result = opt.step()
    except BaseException as exc:  # noqa: BLE001 - the point: nothing may escape step()
        pytest.fail(f"{optimizer}.step() let {type(exc).__name__} escape")
    return fn, param, result


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_top_level_file_removal_in_a_proposal_never_runs(canary, optimizer):
    code = f"import os\nos.remove({str(canary)!r})\n\ndef add_one(x, step=1):\n    return x + 1\n"
    fn, param, result = _step(optimizer, code)
    assert canary.read_text() == "still here"
    assert "top-level expression `os.remove(" in result.rejected[param.name]
    assert fn(1).data == 1, "a refused proposal must leave the old code in place"


def test_a_default_value_that_runs_code_is_refused(canary):
    code = f"def add_one(x, step=open({str(canary)!r}, 'w').close()):\n    return x + 1\n"
    fn, param, result = _step("OptoPrime", code)
    assert canary.read_text() == "still here"
    assert "defaults are evaluated when the function is defined" in result.rejected[param.name]


@pytest.mark.parametrize(
    "code",
    [
        "def add_one(x: wipe({canary!r}), step=1):\n    return x + step\n",
        "def add_one(x, step=1) -> wipe({canary!r}):\n    return x + step\n",
    ],
    ids=["annotation", "return-annotation"],
)
def test_annotations_of_a_proposal_are_kept_as_text_and_never_evaluated(canary, code):
    fn, param, result = _step("OptoPrime", code.format(canary=str(canary)))
    assert param.name in result.applied
    assert fn(1).data == 2
    assert canary.read_text() == "still here"
    annotations = param.function.__annotations__
    assert all(isinstance(a, str) and "wipe(" in a for a in annotations.values())


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_patching_builtins_from_a_proposal_never_reaches_the_host(optimizer):
    real_len = builtins.len
    code = (
        "import builtins\nbuiltins.len = lambda obj: 42\n\n"
        "def add_one(x, step=1):\n    return x + 1\n"
    )
    _, param, result = _step(optimizer, code)
    assert builtins.len is real_len and len([1, 2]) == 2
    assert "top-level statement `builtins.len = " in result.rejected[param.name]


def test_a_function_body_that_patches_builtins_is_refused_with_the_reason():
    code = "def add_one(x, step=1):\n    import builtins\n    builtins.len = lambda o: 42\n    return x + 1\n"
    fn, param, result = _step("OptoPrime", code)
    assert "builtins: can patch the interpreter's built-in functions" in result.rejected[param.name]
    fn(1)
    assert len([1, 2]) == 2


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_a_function_body_that_deletes_files_is_refused_before_it_can_run(canary, optimizer):
    code = (
        f"import os\n\ndef add_one(x, step=1):\n    os.remove({str(canary)!r})\n    return x + 1\n"
    )
    fn, param, result = _step(optimizer, code)
    assert "os.remove: changes files" in result.rejected[param.name]
    assert fn(1).data == 1
    assert canary.read_text() == "still here"


@pytest.mark.parametrize(
    "code",
    [
        "raise SystemExit(3)\n\ndef add_one(x, step=1):\n    return x + 1\n",
        "raise KeyboardInterrupt\n\ndef add_one(x, step=1):\n    return x + 1\n",
        "def add_one(x, step=exit(3)):\n    return x + 1\n",
    ],
    ids=["SystemExit", "KeyboardInterrupt", "exit-in-default"],
)
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_exits_and_interrupts_raised_by_a_proposal_do_not_escape_step(optimizer, code):
    _, param, result = _step(optimizer, code)
    assert param.name in result.rejected


def test_a_body_that_would_end_the_process_when_called_is_refused():
    code = "import sys\n\ndef add_one(x, step=1):\n    sys.exit(0)\n"
    fn, param, result = _step("OptoPrime", code)
    assert "sys.exit: ends the process" in result.rejected[param.name]
    assert fn(1).data == 1


def _run_host(script: str, folder: Path) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh interpreter of this checkout (a hang fails the test)."""
    path = folder / "host.py"
    path.write_text(textwrap.dedent(script))
    return subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


HOST = """
import sys
from tests.security.hostile import OPTIMIZERS, replying_with
from trace_engine import bundle

@bundle(trainable=True)
def add_one(x, step=1):
    return x

param = add_one.parameters()[0]
opt = OPTIMIZERS[sys.argv[1] if len(sys.argv) > 1 else "OptoPrime"]([param], replying_with({code!r}))
opt.backward(add_one(1), "expected 2")
result = opt.step()
print("host alive; rejected:", result.rejected.get(param.name))
print("called:", add_one(1).data)
"""


@pytest.mark.parametrize(
    "code",
    [
        "while True:\n    pass\n\ndef add_one(x, step=1):\n    return x + 1\n",
        "def add_one(x, step=[i for i in iter(int, 1)]):\n    return x + 1\n",
        "def add_one(x: [i for i in iter(int, 1)], step=1):\n    return x + 1\n",
    ],
    ids=["top-level", "default", "annotation"],
)
def test_an_endless_loop_in_a_proposal_does_not_hang_step(tmp_path, code):
    done = _run_host(HOST.format(code=code), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "host alive" in done.stdout and "called:" in done.stdout


@pytest.mark.parametrize(
    "code",
    [
        "import os\nos._exit(0)\n\ndef add_one(x, step=1):\n    return x + 1\n",
        "import os\n\ndef add_one(x, step=os._exit(0)):\n    return x + 1\n",
    ],
    ids=["top-level", "default"],
)
def test_os_exit_in_a_proposal_does_not_end_the_host(tmp_path, code):
    done = _run_host(HOST.format(code=code), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "host alive; rejected: __code_add_one: new code has" in done.stdout
