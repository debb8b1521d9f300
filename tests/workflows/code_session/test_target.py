"""Locating the target function in its file, splicing new code in, writing it back safely."""

from __future__ import annotations

import os

import pytest

from tests.workflows.code_session.project import FAST, SLOW
from workflows.code_session.target import (
    SourceChangedError,
    TargetError,
    function_source,
    parse_target,
    replace_function,
    text_hash,
    write_back,
)


def test_file_target_names_module_and_import_root(project):
    target = parse_target("dupes.py::find_duplicates", project)
    assert target.module_name == "dupes" and target.import_root == project
    assert function_source(target.read(), "find_duplicates").startswith(
        "def find_duplicates(items):"
    )


def test_module_target_inside_a_package(tmp_path):
    package = tmp_path / "pkg" / "sub"
    package.mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("def f(x):\n    return x\n")
    target = parse_target("pkg.sub.mod:f", tmp_path)
    assert target.module_name == "pkg.sub.mod" and target.import_root == tmp_path


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("missing.py::f", "does not exist"),
        (
            "dupes.py::nope",
            "no top-level function 'nope'; its functions are: find_duplicates, unrelated",
        ),
        ("dupes.py::Thing", "is a class, not a function"),
        ("dupes.py::LIMIT", "is a variable, not a function"),
        ("dupes.py::method", "is not top-level (found Thing.method)"),
        ("dupes.py::later", "is async"),
        ("dupes", "must be 'path/to/module.py::function'"),
        ("no.such.module:f", "was not found"),
    ],
)
def test_bad_targets_are_explained(project, spec, words):
    with open(project / "dupes.py", "a", encoding="utf-8") as f:
        f.write(
            "\nLIMIT = 3\n\n\nclass Thing:\n    def method(self):\n        pass\n\n\nasync def later():\n    pass\n"
        )
    with pytest.raises(TargetError) as caught:
        parse_target(spec, project)
    assert words in str(caught.value)


def test_replace_function_keeps_decorators_and_the_rest_of_the_file():
    text = "import functools\n\n\n@functools.lru_cache\n" + SLOW.split('"""\n\n\n', 1)[1]
    new = replace_function(text, "find_duplicates", FAST)
    assert new.startswith("import functools\n\n\n@functools.lru_cache\ndef find_duplicates(items):")
    assert "reported = set()" in new and "items[:i]" not in new
    assert new.endswith("def unrelated():\n    return 1\n")


def test_write_back_is_atomic_and_keeps_permissions(project):
    target = parse_target("dupes.py::find_duplicates", project)
    os.chmod(target.path, 0o644)
    original = target.read()
    new = replace_function(original, "find_duplicates", FAST)
    assert write_back(target, new, text_hash(original)) == text_hash(new)
    assert target.read() == new
    assert os.stat(target.path).st_mode & 0o777 == 0o644
    assert not [p for p in project.iterdir() if p.name.endswith(".tmp")]


def test_write_back_refuses_when_the_file_changed(project):
    target = parse_target("dupes.py::find_duplicates", project)
    original = target.read()
    target.path.write_text(original + "\n# someone else's edit\n")
    with pytest.raises(SourceChangedError, match="changed on disk"):
        write_back(target, replace_function(original, "find_duplicates", FAST), text_hash(original))
    assert target.read().endswith("# someone else's edit\n")


def _package(root, text="def to_bytes(g):\n    return b''\n"):
    folder = root / "netlib" / "readwrite"
    folder.mkdir(parents=True)
    (root / "netlib" / "__init__.py").write_text("")
    (folder / "__init__.py").write_text("")
    (folder / "graph6.py").write_text(text)
    return folder / "graph6.py"


def test_a_package_target_resolves_in_the_project_root_from_another_directory(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = _package(project)
    target = parse_target("netlib.readwrite.graph6:to_bytes", elsewhere, root=project)
    assert target.path == path.resolve() and target.import_root == project.resolve()
    assert target.module_name == "netlib.readwrite.graph6"


def test_a_package_target_never_resolves_through_the_tool_s_own_sys_path(tmp_path):
    import networkx

    assert networkx.__file__, "networkx is installed for this tool"
    with pytest.raises(TargetError, match="was not found in .*--root"):
        parse_target("networkx.readwrite.graph6:to_graph6_bytes", tmp_path)


def test_installed_libraries_and_files_outside_the_root_are_refused(tmp_path):
    import networkx

    installed = os.path.join(os.path.dirname(networkx.__file__), "readwrite", "graph6.py")
    spec = f"{installed}::to_graph6_bytes"
    with pytest.raises(TargetError, match="is an installed library.*--allow-outside"):
        parse_target(spec, tmp_path)
    assert parse_target(spec, tmp_path, allow_outside=True).fn_name == "to_graph6_bytes"
    project, other = tmp_path / "project", tmp_path / "other"
    project.mkdir()
    path = _package(other)
    with pytest.raises(TargetError, match="outside the project root"):
        parse_target(f"{path}::to_bytes", project)
    assert parse_target(f"{path}::to_bytes", project, root=other).path == path.resolve()
