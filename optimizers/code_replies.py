"""Reading new functions from a reply that writes them as fenced code blocks.

Code written inside a JSON string (every newline escaped, every quote
backslashed) is much harder for a small model than a plain code block: on the
same HumanEval problems, the embedded 1.5B model wrote working functions for 9
of 11 when asked for a ```python block, and for 2 of 11 when asked for a JSON
string (brackets lost, raw newlines inside the string, unparseable replies). So
an optimizer asks for code parameters as code blocks, and this module maps each
block back to its parameter:

1. a block preceded by a line naming the variable (``__code_f:``) is that
   variable's;
2. else a block defining ``def f(`` is the variable of function ``f`` when only
   one code variable has that function name.

When several blocks go to one variable the last one wins (models often show the
old code before the new). A reply with no usable block but a JSON object in the
``{"reasoning", "suggestion"}`` format is read as such, so replies in the older
format keep working.

The optimizers share the messages around it too: :func:`split_code` separates
the code variables from the others, and :func:`code_call_messages` shows a code
call what a JSON call chose for the others in the same step (the calls
themselves are :meth:`optimizers.base.Optimizer.ask`).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optimizers.problem import elide
from optimizers.prompts import CHOSEN_TITLE, CODE_REPLY_FORMAT, ONE_FUNCTION, SEVERAL_FUNCTIONS
from optimizers.replies import Reply, ReplyError, is_terminate, read_object, read_reply
from optimizers.schemas import REASONING_CHARS
from optimizers.values import jsonable
from trace_engine import CodeParameter, Parameter

_BLOCK = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_DEF = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+([A-Za-z_]\w*)[ \t]*\(", re.MULTILINE)

CHOSEN_CHARS = 1000
"""Longest rendering of the chosen values shown to a code call."""


def code_reply_format(parameters: Sequence[CodeParameter]) -> str:
    """How to write a reply for ``parameters`` (asks for name labels when there are several)."""
    what, where = ONE_FUNCTION if len(parameters) == 1 else SEVERAL_FUNCTIONS
    return CODE_REPLY_FORMAT.format(what=what, where=where)


@dataclass
class CodeBlock:
    """One fenced block and the last non-empty line of prose before it."""

    code: str
    label: str
    start: int


def code_blocks(text: str) -> list[CodeBlock]:
    """The fenced code blocks in ``text``, in order (an unclosed last block runs to the end)."""
    blocks = []
    previous_end = 0
    for match in _BLOCK.finditer(text):
        prose = text[previous_end : match.start()].strip().splitlines()
        label = prose[-1].strip() if prose else ""
        blocks.append(CodeBlock(match.group(2), label, match.start()))
        previous_end = match.end()
    return blocks


_STATEMENT_START = re.compile(r"^(?:async[ \t]+def|def|class|import|from|@)\b")


def without_lead_in(code: str) -> str:
    """``code`` without lines of prose before its first statement, when they keep it
    from parsing: small models sometimes open the block by echoing the problem's
    variable header (``(code) __code_f:``) or a sentence."""
    try:
        ast.parse(code)
        return code
    except SyntaxError:
        pass
    lines = code.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if _STATEMENT_START.match(line):
            trimmed = "".join(lines[i:])
            try:
                ast.parse(trimmed)
            except SyntaxError:
                return code
            return trimmed
    return code


def _defined_functions(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set(_DEF.findall(code))
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _labelled(label: str, parameters: Sequence[CodeParameter]) -> CodeParameter | None:
    for p in sorted(parameters, key=lambda p: len(p.name), reverse=True):
        if re.search(rf"(?<![\w]){re.escape(p.name)}(?![\w])", label):
            return p
    return None


def _owner(block: CodeBlock, parameters: Sequence[CodeParameter]) -> CodeParameter | None:
    labelled = _labelled(block.label, parameters)
    if labelled is not None:
        return labelled
    defined = _defined_functions(block.code)
    owners = [p for p in parameters if p.fn_name in defined]
    return owners[0] if len(owners) == 1 else None


def read_code_reply(text: str, parameters: Sequence[CodeParameter]) -> Reply:
    """New code for ``parameters`` from a reply of prose and fenced code blocks.

    Raises :class:`~optimizers.replies.ReplyError` when no block belongs to a
    parameter and the reply is not a JSON suggestion either.
    """
    if is_terminate(text):
        return Reply(terminated=True)
    blocks = code_blocks(text)
    suggestion: dict[str, str] = {}
    for block in blocks:
        owner = _owner(block, parameters)
        if owner is not None:
            suggestion[owner.name] = without_lead_in(block.code)
    if suggestion:
        reasoning = text[: blocks[0].start].strip()
        if len(reasoning) > REASONING_CHARS:
            reasoning = reasoning[: REASONING_CHARS - 3].rstrip() + "..."
        return Reply(reasoning=reasoning, suggestion=suggestion)
    names = [p.name for p in parameters]
    try:
        value = read_object(text)
    except ReplyError:
        value = None
    if isinstance(value, dict) and ("suggestion" in value or set(value) & set(names)):
        return read_reply(text, value, names=names)
    if blocks:
        functions = ", ".join(f"{p.name} (def {p.fn_name})" for p in parameters)
        found = (
            f"{len(blocks)} code block(s), none matched to one of {functions} by the function "
            "it defines or by a variable's name on the line before it"
        )
    else:
        found = "no code block"
    raise ReplyError(f"the reply has {found}: {text.strip()[:120]!r}")


def split_code(parameters: Sequence[Parameter]) -> tuple[list[CodeParameter], list[Parameter]]:
    """``(code parameters, the others)``, each in the given order."""
    code = [p for p in parameters if isinstance(p, CodeParameter)]
    return code, [p for p in parameters if not isinstance(p, CodeParameter)]


def code_call_messages(system: str, user: str, chosen: Mapping[str, Any]) -> list[dict[str, str]]:
    """The messages of a code call: ``system`` asks for code blocks; ``user`` is followed,
    under :data:`CHOSEN_TITLE`, by the values a JSON call chose this step (if any)."""
    if chosen:
        shown = json.dumps({k: jsonable(v) for k, v in chosen.items()})
        user = f"{user}\n\n{CHOSEN_TITLE}\n{elide(shown, CHOSEN_CHARS)}"
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
    ]
