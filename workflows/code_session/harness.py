"""What a code-session candidate may not touch: the harness that checks it.

The candidate runs in the same sandboxed process as the user's tests and the
differential check, which call it directly on the user's own objects. What it
could change there to pass checks it fails is refused before it runs:
importing trace-engine's or pytest's own modules, and assigning to or deleting
an attribute of a module it imports (``checks.same_value = ...``). This static
check stands beside :func:`trace_engine.source.forbidden_uses`; the verdict
also needs the sandboxed process's exit status, and timings are taken from
outside the sandbox.
"""

from __future__ import annotations

import ast

HARNESS = (
    "trace_engine",
    "workflows",
    "optimizers",
    "agents",
    "pytest",
    "_pytest",
    "pluggy",
)


def _imported(tree: ast.AST) -> dict[str, str]:
    """Local name -> module it names, for each ``import`` in ``tree``."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _changed(node: ast.AST, imported: dict[str, str]) -> list[str]:
    """What ``node`` changes in something it imported, in words."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("setattr", "delattr")
        and node.args
        and _root(node.args[0]) in imported
    ):
        return [
            f"{node.func.id}({ast.unparse(node.args[0])}, ...): changes "
            f"{imported[_root(node.args[0])]}, which it imports"
        ]
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    elif isinstance(node, ast.Delete):
        targets = list(node.targets)
    else:
        return []
    return [
        f"changing {ast.unparse(t)}: changes {imported[_root(t)]}, which it imports"
        for t in targets
        if isinstance(t, ast.Attribute) and _root(t) in imported
    ]


def harness_uses(source: str) -> list[str]:
    """Each use in ``source`` of the checking harness, as ``"what: why"``, in order."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    imported = _imported(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for module in modules:
                if module.split(".")[0] in HARNESS:
                    found.append(f"import {module}: reaches the harness that checks it")
        found += _changed(node, imported)
    return list(dict.fromkeys(found))


def added_harness_uses(source: str, original: str) -> list[str]:
    """The :func:`harness_uses` of ``source`` that ``original`` does not have already."""
    allowed = set(harness_uses(original))
    return [use for use in harness_uses(source) if use not in allowed]
