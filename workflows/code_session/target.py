"""The function a session optimizes: where it lives, its source, and writing it back.

A target is named ``path/to/module.py::function`` or ``package.module:function``.
Only top-level plain functions are supported. The file is never imported here;
it is read as text and parsed, so locating a target runs no user code.
"""

from __future__ import annotations

import ast
import hashlib
import os
import site
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from trace_engine.errors import TraceEngineError
from trace_engine.files import atomic_write_text
from trace_engine.source import first_line


class TargetError(TraceEngineError, ValueError):
    """The target does not exist, is not a plain top-level function, or cannot be read."""


class SourceChangedError(TraceEngineError, RuntimeError):
    """The source file changed on disk since the session read it; nothing was written."""


@dataclass(frozen=True)
class Target:
    """A top-level function in a Python file, and how a fresh interpreter imports that file."""

    path: Path
    fn_name: str
    module_name: str
    import_root: Path

    @property
    def spec(self) -> str:
        return f"{self.path}::{self.fn_name}"

    def read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TargetError(f"cannot read {self.path}: {exc.strerror}") from None


def parse_target(
    spec: str, cwd: Path | None = None, *, root: Path | None = None, allow_outside: bool = False
) -> Target:
    """Resolve ``file.py::fn`` or ``pkg.module:fn`` to a :class:`Target` and check the function exists.

    A file path is taken relative to ``cwd``; a module name is looked up in
    ``root`` and then ``cwd`` only, never on this tool's own ``sys.path``. The
    file must lie inside the project ``root`` (default ``cwd``) and outside any
    installed-packages directory, unless ``allow_outside``: a session writes its
    result back into the file.
    """
    cwd = Path(cwd or os.getcwd()).resolve()
    root = (cwd / root).resolve() if root is not None else cwd
    if "::" in spec:
        file_part, fn_name = spec.rsplit("::", 1)
        path = (cwd / file_part).resolve()
        if not path.is_file():
            raise TargetError(f"target file {file_part!r} does not exist")
    elif ":" in spec:
        module_part, fn_name = spec.rsplit(":", 1)
        path = _find_module_file(module_part, [root, cwd])
    else:
        raise TargetError(
            f"target {spec!r} must be 'path/to/module.py::function' or 'package.module:function'"
        )
    if not fn_name.isidentifier():
        raise TargetError(f"{fn_name!r} in target {spec!r} is not a function name")
    if not allow_outside:
        _refuse_outside(path, root)
    module_name, import_root = _module_name_of(path)
    target = Target(path=path, fn_name=fn_name, module_name=module_name, import_root=import_root)
    locate_function(target.read(), fn_name, str(path))
    return target


def _find_module_file(dotted: str, places: list[Path]) -> Path:
    parts = dotted.split(".")
    if not all(p.isidentifier() for p in parts):
        raise TargetError(f"{dotted!r} is not a module name")
    searched = list(dict.fromkeys(places))
    for place in searched:
        base = place.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate.resolve()
    where = " or ".join(str(p) for p in searched)
    raise TargetError(
        f"module {dotted!r} was not found in {where}; run from the project that holds it "
        "or give --root PROJECT"
    )


def installed_packages_dirs() -> list[Path]:
    """Directories where installed libraries live (site-packages, the standard library)."""
    paths = sysconfig.get_paths()
    found = {Path(paths[k]).resolve() for k in ("purelib", "platlib", "stdlib") if k in paths}
    found |= {Path(p).resolve() for p in site.getsitepackages()}
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        found.add(Path(site.getusersitepackages()).resolve())
    return sorted(found)


def _refuse_outside(path: Path, root: Path) -> None:
    installed = next((d for d in installed_packages_dirs() if path.is_relative_to(d)), None) or (
        "site-packages" in path.parts or "dist-packages" in path.parts
    )
    if installed:
        raise TargetError(
            f"{path} is an installed library, not your project's code; a session writes into the "
            "file it optimizes, so work on a copy (or pass --allow-outside)"
        )
    if not path.is_relative_to(root):
        raise TargetError(
            f"{path} is outside the project root {root}; run from the project, give --root, "
            "or pass --allow-outside"
        )


def _module_name_of(path: Path) -> tuple[str, Path]:
    """The dotted name and sys.path root that import ``path`` (packages found by ``__init__.py``)."""
    parts = [] if path.name == "__init__.py" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    if not parts:
        raise TargetError(f"{path} is a package's __init__.py outside any package root")
    return ".".join(parts), folder


@dataclass(frozen=True)
class FunctionSpan:
    """Line numbers (1-based, inclusive) of a function in its file."""

    first_line: int
    """The first decorator, or the ``def`` line when there is none."""
    def_line: int
    end_line: int


def locate_function(text: str, fn_name: str, filename: str = "<source>") -> FunctionSpan:
    """Find the top-level function ``fn_name`` in ``text``; explain clearly when it is not one."""
    try:
        tree = ast.parse(text, filename=filename)
    except SyntaxError as exc:
        raise TargetError(f"{filename} does not parse: {exc.msg} (line {exc.lineno})") from None
    found = [n for n in tree.body if getattr(n, "name", None) == fn_name]
    found += [
        n
        for n in tree.body
        if isinstance(n, (ast.Assign, ast.AnnAssign))
        and any(isinstance(t, ast.Name) and t.id == fn_name for t in _assign_targets(n))
    ]
    if not found:
        nested = [
            f"{outer.name}.{inner.name}"
            for outer in tree.body
            if isinstance(outer, (ast.ClassDef, ast.FunctionDef))
            for inner in ast.walk(outer)
            if isinstance(inner, ast.FunctionDef) and inner.name == fn_name
        ]
        if nested:
            raise TargetError(
                f"{fn_name!r} in {filename} is not top-level (found {', '.join(nested)}); "
                "only top-level functions can be optimized"
            )
        functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        hint = f"; its functions are: {', '.join(functions)}" if functions else "; it has none"
        raise TargetError(f"{filename} defines no top-level function {fn_name!r}{hint}")
    if len(found) > 1:
        raise TargetError(f"{filename} defines {fn_name!r} {len(found)} times; define it once")
    definition = found[0]
    if isinstance(definition, ast.AsyncFunctionDef):
        raise TargetError(f"{fn_name!r} in {filename} is async; only plain functions are supported")
    if not isinstance(definition, ast.FunctionDef):
        kind = "a class" if isinstance(definition, ast.ClassDef) else "a variable"
        raise TargetError(f"{fn_name!r} in {filename} is {kind}, not a function")
    return FunctionSpan(
        first_line=first_line(definition),
        def_line=definition.lineno,
        end_line=definition.end_lineno,
    )


def _assign_targets(node: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return list(node.targets) if isinstance(node, ast.Assign) else [node.target]


def function_source(text: str, fn_name: str) -> str:
    """The function's source from its ``def`` line to its end (decorators are kept in the file)."""
    span = locate_function(text, fn_name)
    lines = text.splitlines()
    return "\n".join(lines[span.def_line - 1 : span.end_line]).rstrip() + "\n"


def replace_function(text: str, fn_name: str, new_source: str) -> str:
    """``text`` with the function's ``def`` .. end replaced by ``new_source`` (decorators kept)."""
    span = locate_function(text, fn_name)
    lines = text.splitlines(keepends=True)
    replacement = new_source.strip("\n") + "\n"
    return "".join(lines[: span.def_line - 1]) + replacement + "".join(lines[span.end_line :])


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_back(target: Target, new_text: str, expected_hash: str) -> str:
    """Replace the target file with ``new_text`` atomically, keeping its permission bits.

    Refuses (:class:`SourceChangedError`, nothing written) when the file's current
    content no longer hashes to ``expected_hash``. Returns the hash of the new text.
    """
    current = target.read()
    if text_hash(current) != expected_hash:
        raise SourceChangedError(
            f"{target.path} changed on disk since the session read it; refusing to overwrite "
            "someone else's edits"
        )
    atomic_write_text(target.path, new_text)
    return text_hash(new_text)
