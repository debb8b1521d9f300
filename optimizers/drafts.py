"""Drafting a stub: a function with no body yet is first written from its specification.

A stub (signature and docstring, a body of ``pass``, ``...`` or ``raise
NotImplementedError``) has nothing to repair, and the whole rendered problem
around it (code, inputs, a test report in which every check fails) only
distracts a small model from the one thing it needs: the docstring. On
HumanEval/0..19 the 1.5B embedded model completed 19 of 20 problems from their
prompts alone (imports, signature, docstring), and wrote 16 to 18 working
functions when it read the same stubs inside the OptoPrime problem. So OptoPrime
drafts a stub's first body from its specification alone; every later step reads
the problem and the feedback as usual. The draft is the model's own best first
attempt, and what feedback adds is measured on top of it.
"""

from __future__ import annotations

import ast

from optimizers.prompts import DRAFT_SYSTEM_PROMPT
from optimizers.values import docstring_node
from trace_engine import CodeParameter
from trace_engine.source import find_function, first_line


def _is_placeholder(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Pass):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return True
    if isinstance(statement, ast.Raise) and statement.exc is not None:
        error = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
        return isinstance(error, ast.Name) and error.id == "NotImplementedError"
    return False


def is_stub(source: str, fn_name: str) -> bool:
    """True when ``fn_name``'s body in ``source`` is only a docstring and placeholders
    (``pass``, ``...``, ``raise NotImplementedError``)."""
    definition = find_function(source, fn_name)
    return definition is not None and all(_is_placeholder(s) for s in definition.body)


def _prefix(line: str, byte_offset: int) -> str:
    """The start of ``line`` up to a column as ``ast`` counts it (in UTF-8 bytes)."""
    return line.encode()[:byte_offset].decode(errors="ignore")


def specification(source: str, fn_name: str) -> str:
    """``fn_name``'s decorators, signature and docstring from ``source``, without the
    placeholder body (the text a draft is written from)."""
    definition = find_function(source, fn_name)
    if definition is None:
        raise ValueError(f"{fn_name!r} is not defined in the given source")
    lines = source.splitlines()
    first = first_line(definition)
    docstring = docstring_node(definition)
    if docstring is not None:
        last, column = docstring.end_lineno, docstring.end_col_offset
    else:
        last, column = definition.body[0].lineno, definition.body[0].col_offset
    kept = lines[first - 1 : last - 1] + [_prefix(lines[last - 1], column)]
    return "\n".join(kept).rstrip() + "\n"


def draft_messages(param: CodeParameter) -> list[dict[str, str]]:
    """The chat messages asking for a first body of the stub ``param``."""
    return [
        {"role": "system", "content": DRAFT_SYSTEM_PROMPT},
        {"role": "user", "content": specification(param.data, param.fn_name)},
    ]
