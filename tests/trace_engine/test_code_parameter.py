"""Code parameters hold source as data: accepted by parsing, built lazily from the current source."""

from __future__ import annotations

import importlib
import json
import sys

import pytest

import trace_engine.code
from trace_engine import InvalidCodeError, Module, StateError, bundle


def test_accepting_code_runs_nothing_and_it_may_import_only_what_the_program_loaded(
    tmp_path, monkeypatch
):
    marker = tmp_path / "imported.txt"
    (tmp_path / "side_effect_13a.py").write_text(f"open({str(marker)!r}, 'w').close()\nVALUE = 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "side_effect_13a", raising=False)

    @bundle(trainable=True)
    def seven(x):
        return x

    (code,) = seven.parameters()
    proposal = "import side_effect_13a\n\ndef seven(x):\n    return side_effect_13a.VALUE\n"
    with pytest.raises(InvalidCodeError, match="import side_effect_13a: a module this process"):
        code.set(proposal)
    assert not marker.exists() and "side_effect_13a" not in sys.modules
    importlib.import_module("side_effect_13a")  # the program's own import
    code.set(proposal)
    assert seven(0).data == 7


def test_the_callable_follows_the_current_source_even_when_data_is_edited():
    @bundle(trainable=True)
    def triple(x):
        return x * 3

    (code,) = triple.parameters()
    assert triple(2).data == 6
    code._data = "def triple(x):\n    return x * 30\n"
    assert triple(2).data == 60
    code._data = "import os\nos.getcwd()\ndef triple(x):\n    return x\n"
    with pytest.raises(InvalidCodeError, match="top-level expression `os.getcwd\\(\\)`"):
        code.function


def test_a_proposal_may_keep_what_the_original_used_but_add_no_escape_hatch():
    @bundle(trainable=True)
    def stamp(x):
        import time

        return (x, time.monotonic() > 0)

    (code,) = stamp.parameters()
    code.set("def stamp(x):\n    import time\n    return (x + 1, time.time() > 0)\n")
    assert stamp(1).data == (2, True)
    with pytest.raises(InvalidCodeError, match="gc: reaches objects it was not given"):
        code.set("def stamp(x):\n    import gc\n    return (x, gc.collect())\n")


def test_one_optimizer_step_parses_the_proposal_once(monkeypatch):
    from optimizers import OptoPrime
    from tests.security.hostile import replying_with

    @bundle(trainable=True)
    def halve(x):
        return x

    (code,) = halve.parameters()
    opt = OptoPrime([code], replying_with("def halve(x):\n    return x / 2\n"), resample=2)
    opt.backward(halve(4), "expected 2")
    checked = []
    real = trace_engine.code.check_proposal

    def counting(source, *args, **kwargs):
        checked.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(trace_engine.code, "check_proposal", counting)
    result = opt.step()
    assert result.applied and len(checked) == 1


class Holder(Module):
    @bundle(trainable=True)
    def act(self, x):
        return x


@pytest.mark.parametrize(
    "code, reason",
    [
        (
            "import os\nos.remove({canary!r})\ndef act(self, x):\n    return x\n",
            "top-level expression",
        ),
        ("import os\ndef act(self, x):\n    os.remove({canary!r})\n    return x\n", "os.remove"),
    ],
    ids=["top-level", "body"],
)
def test_loading_a_saved_module_runs_none_of_its_code(tmp_path, code, reason):
    canary = tmp_path / "canary.txt"
    canary.write_text("still here")
    path = tmp_path / "parameters.json"
    Holder().save(path)
    saved = json.loads(path.read_text())
    (entry,) = saved["parameters"].values()
    entry["value"] = code.format(canary=str(canary))
    path.write_text(json.dumps(saved))
    holder = Holder()
    with pytest.raises(StateError, match=reason):
        holder.load(path)
    holder.act(1)
    assert canary.read_text() == "still here"
