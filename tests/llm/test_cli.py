import json

from trace_engine.llm import Cached, as_llm
from workflows.cli import main


def test_cache_stats_and_clear(tmp_path, capsys):
    llm = Cached(as_llm(lambda msgs: "x"), tmp_path)
    llm.complete("a")
    llm.complete("b")
    assert main(["cache", "stats", "--dir", str(tmp_path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["entries"] == 2 and stats["by_llm"] == {"callable:<lambda>": 2}
    assert main(["cache", "clear", "--dir", str(tmp_path)]) == 0
    assert "removed 2" in capsys.readouterr().out
    assert main(["cache", "stats", "--dir", str(tmp_path)]) == 0
    assert "entries:   0" in capsys.readouterr().out


def test_models_status_reports_missing_parts(monkeypatch, tmp_path, capsys):
    from trace_engine.llm import weights

    monkeypatch.setenv("TRACE_ENGINE_MODEL_DIR", str(tmp_path))
    monkeypatch.setattr(
        weights,
        "EMBEDDED",
        weights.EMBEDDED.__class__(
            **{**weights.EMBEDDED.__dict__, "dist_template": "no-such-dist-{i}"}
        ),
    )
    code = main(["models", "--json"])
    status = json.loads(capsys.readouterr().out)
    assert code == 1 and status["parts_installed"] == 0  # the same code as without --json
    assert status["path"].startswith(str(tmp_path)) and not status["assembled"]
    assert "no-such-dist-1 is not installed" in status["problems"][0]
    assert main(["models"]) == 1
    assert "0/22 installed" in capsys.readouterr().out


def test_models_assemble_reports_a_usage_error(monkeypatch, tmp_path, capsys):
    from trace_engine.llm import weights

    monkeypatch.setenv("TRACE_ENGINE_MODEL_DIR", str(tmp_path))
    monkeypatch.setattr(
        weights,
        "EMBEDDED",
        weights.EMBEDDED.__class__(
            **{**weights.EMBEDDED.__dict__, "dist_template": "no-such-dist-{i}"}
        ),
    )
    assert main(["models", "assemble"]) == 2
    assert "no-such-dist-3 is not installed" in capsys.readouterr().err
