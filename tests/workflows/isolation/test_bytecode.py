"""The project code a sandboxed job imports is compiled by the host, once, and kept fresh."""

from __future__ import annotations

import os
from pathlib import Path

from workflows.isolation import bytecode
from workflows.isolation.runner import PROJECT_ROOT


def _package(root: Path) -> None:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("import heavy_thing\n")
    (root / "pkg" / "sub" / "__init__.py").write_text("")
    (root / "pkg" / "job.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from pkg.sub import helper\n"
        "from . import sibling\n"
        "import other.tool\n"
        "if TYPE_CHECKING:\n"
        "    from pkg import typing_only\n"
        "def later():\n"
        "    from pkg import lazy\n"
        "class Holder:\n"
        "    from pkg import in_class\n"
        "VALUE = 1\n"
    )
    for name in ("sub/helper", "sibling", "typing_only", "lazy", "in_class"):
        (root / "pkg" / f"{name}.py").write_text("VALUE = 2\n")
    (root / "other").mkdir()
    (root / "other" / "__init__.py").write_text("")
    (root / "other" / "tool.py").write_text("VALUE = 3\n")


def test_a_job_gets_what_its_imports_load_at_import_time(tmp_path):
    _package(tmp_path)
    found = bytecode.project_code("pkg.job", tmp_path, bare=("pkg", "other"))
    assert sorted(found) == [
        "other.tool",
        "pkg.in_class",
        "pkg.job",
        "pkg.sibling",
        "pkg.sub",
        "pkg.sub.helper",
    ]
    path, package, code = found["pkg.sub"]
    assert package and path == str(tmp_path / "pkg" / "sub" / "__init__.py")
    namespace: dict = {}
    exec(found["pkg.sub.helper"][2], namespace)
    assert namespace["VALUE"] == 2


def test_packages_that_are_not_bare_keep_their_init_and_others_are_not_followed(tmp_path):
    _package(tmp_path)
    found = bytecode.project_code("pkg.job", tmp_path)
    assert "pkg" in found and found["pkg"][1]
    assert "other.tool" not in found  # another top-level package, not named bare


def test_a_changed_file_is_compiled_again(tmp_path):
    _package(tmp_path)
    helper = tmp_path / "pkg" / "sub" / "helper.py"
    first = bytecode.project_code("pkg.job", tmp_path, bare=("pkg",))["pkg.sub.helper"][2]
    helper.write_text("VALUE = 'changed, and longer'\n")
    stat = helper.stat()
    os.utime(helper, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = bytecode.project_code("pkg.job", tmp_path, bare=("pkg",))["pkg.sub.helper"][2]
    namespace: dict = {}
    exec(second, namespace)
    assert second is not first and namespace["VALUE"] == "changed, and longer"


def test_the_unit_check_job_gets_its_candidate_and_channel_code():
    found = bytecode.project_code(
        "workflows.unit_checks_program", PROJECT_ROOT, bare=("workflows", "trace_engine")
    )
    assert {
        "workflows.unit_checks_program",
        "workflows.isolation.candidate",
        "workflows.isolation.channel",
        "workflows.isolation.plain",
        "trace_engine.errors",
    } <= set(found)
    assert "workflows" not in found and "trace_engine" not in found
