"""The project's own code a sandboxed job runs, compiled once by the host.

Python compiles a module from source on every start unless a bytecode cache
is there, and the modules that only sandboxed jobs import (the job programs,
``candidate.py``, the supervisor's ``landlock.py``) never get one where the
checkout is not writable or ``PYTHONDONTWRITEBYTECODE`` is set; the sandbox
cannot write one either. Compiling them took about 10 ms of every check.
So the host compiles the job module and the project modules it imports (found
by reading their import statements) once per process, again whenever a file's
size or modification time changes, and hands the code to the run's supervisor,
which serves those imports from it (the files stay where they are, for
tracebacks). The code comes only from the host's files, never from the sandbox.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from types import CodeType

Compiled = tuple[str, bool, CodeType]
"""A module's file, whether it is a package, and its code."""

_cache: dict[str, tuple[tuple[int, int], CodeType, tuple[str, ...]]] = {}
_closures: dict[tuple[str, str, tuple[str, ...]], dict[str, Compiled]] = {}


def _source_file(root: Path, name: str) -> tuple[str, bool] | None:
    base = root.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return str(base / "__init__.py"), True
    if base.with_suffix(".py").is_file():
        return str(base.with_suffix(".py")), False
    return None


def _run_on_import(tree: ast.AST) -> list[ast.AST]:
    """The nodes of a module that run when it is imported (not function bodies, whose
    imports load only when called, nor ``if TYPE_CHECKING:`` blocks)."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def _imported_names(tree: ast.AST, name: str, package: bool) -> set[str]:
    """Every module an import statement of the module ``name`` may load when it is
    imported (also names that turn out to be attributes, which the caller drops)."""
    found: set[str] = set()
    parts = name.split(".") if package else name.split(".")[:-1]
    for node in _run_on_import(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(parts):
                    continue
                base = ".".join(parts[: len(parts) - node.level + 1] + [node.module or ""])
                base = base.strip(".")
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    with_parents = set()
    for module in found:
        pieces = module.split(".")
        with_parents.update(".".join(pieces[:i]) for i in range(1, len(pieces) + 1))
    return with_parents


def _compiled(path: str, name: str, package: bool) -> tuple[CodeType, tuple[str, ...]]:
    info = os.stat(path)
    key = (info.st_mtime_ns, info.st_size)
    cached = _cache.get(path)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    with open(path, "rb") as handle:
        source = handle.read()
    tree = ast.parse(source, path)
    code = compile(tree, path, "exec", dont_inherit=True, optimize=0)  # as the sandbox runs
    imports = tuple(sorted(_imported_names(tree, name, package)))
    _cache[path] = (key, code, imports)
    return code, imports


def _unchanged(paths: list[str]) -> bool:
    """Whether every file in ``paths`` is as it was when it was compiled."""
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            return False
        if _cache[path][0] != (info.st_mtime_ns, info.st_size):
            return False
    return True


def project_code(module: str, root: Path, bare: tuple[str, ...] = ()) -> dict[str, Compiled]:
    """``module`` (of a package under ``root``) and every module of its top-level
    package or of the ``bare`` packages that it imports, directly or not, compiled;
    the ``__init__`` of a ``bare`` package is left out (the job never runs it)."""
    key = (module, str(root), tuple(bare))
    known = _closures.get(key)
    if known is not None and _unchanged([path for path, _, _ in known.values()]):
        return dict(known)
    found = _closure(module, root, bare)
    _closures[key] = found
    return dict(found)


def _closure(module: str, root: Path, bare: tuple[str, ...]) -> dict[str, Compiled]:
    packages = {module.split(".")[0], *bare}
    found: dict[str, Compiled] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in found or name in bare or name.split(".")[0] not in packages:
            continue
        located = _source_file(root, name)
        if located is None:
            continue
        path, package = located
        code, imports = _compiled(path, name, package)
        found[name] = (path, package, code)
        todo.extend(imports)
    return found


def file_code(path: Path) -> CodeType:
    """The compiled code of one file (the supervisor's ``landlock.py``)."""
    return _compiled(str(path), path.stem, False)[0]
