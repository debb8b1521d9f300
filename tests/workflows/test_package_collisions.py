"""Another distribution's ``agents`` or ``workflows`` first on sys.path is named, with the fix."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(code_or_script, site: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    command = [
        sys.executable,
        *(["-c", code_or_script] if isinstance(code_or_script, str) else [code_or_script]),
        *args,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=120, cwd=site.parent
    )


def _foreign_agents(site: Path) -> None:
    (site / "agents").mkdir(parents=True)
    (site / "agents" / "__init__.py").write_text('"""Another library\'s agents."""\n')


def _fake_dist(site: Path, name: str) -> None:
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")


def test_importing_workflows_names_a_foreign_agents_package(tmp_path):
    _foreign_agents(tmp_path)
    done = _run("import workflows", tmp_path)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("trace_engine.collisions.PackageCollision: 'agents' at ")
    assert str(tmp_path / "agents") in last and "not trace-engine's" in last
    assert "separate virtual environment" in last


def test_the_distribution_that_overwrote_it_is_named(tmp_path):
    _foreign_agents(tmp_path)
    _fake_dist(tmp_path, "openai-agents")
    done = _run("import workflows", tmp_path)
    assert "openai-agents, installed here too, put its own 'agents' package there" in done.stderr


def test_the_command_says_it_in_one_line_with_exit_code_2(tmp_path):
    _foreign_agents(tmp_path / "site")
    script = tmp_path / "trace-engine"
    script.write_text("import sys\nfrom workflows.cli import main\nsys.exit(main())\n")
    done = _run(script, tmp_path / "site", "models")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(
        "trace-engine: error: 'agents' at "
    )


def test_an_overwritten_workflows_init_is_caught_by_the_command(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(
        REPO / "workflows", site / "workflows", ignore=shutil.ignore_patterns("__pycache__")
    )
    (site / "workflows" / "__init__.py").write_text('"""llama-index-workflows."""\n')
    _fake_dist(site, "llama-index-workflows")
    done = _run("import sys; from workflows.cli import main; sys.exit(main(['models']))", site)
    assert done.returncode == 2
    assert (
        "'workflows' at " in done.stderr
        and "llama-index-workflows, installed here too" in done.stderr
    )


def test_a_package_left_without_its_init_is_named(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    for package in ("trace_engine", "workflows"):
        (site / package).symlink_to(REPO / package)
    (site / "agents").mkdir()
    (site / "agents" / "agent.py").write_text("")  # what an uninstall of the other left behind
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", "import workflows"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode != 0 and "has no __init__.py" in done.stderr


@pytest.mark.parametrize("name", ["agents", "workflows"])
def test_our_own_packages_pass(name):
    from trace_engine.collisions import collision

    assert collision(name) is None
