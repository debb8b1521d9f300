"""Code parameters: a function's source as a trainable value.

New source is data until the program calls the function. Accepting it is
parse-only (:func:`trace_engine.source.check_proposal`: imports plus the one
function, same name and signature, literal defaults; and none of the escape
hatches, file, process or network access of
:func:`trace_engine.source.forbidden_uses` (``in_host=True``: the function runs
in this process) that the original did not already use), so an optimizer step
runs nothing an LLM wrote. Names the function gets from its module without
importing them count as what they are (``os`` or ``run`` imported from
subprocess). Source that will run here may moreover import only modules this
process has loaded (or that only compute, such as ``math``), because importing
runs a module's code, and may not assign to a module's attributes. A refused
update raises :class:`~trace_engine.errors.InvalidCodeError` and keeps the old code.

The callable is built from whatever the current source is, on the first call
after it changed: the proposal's imports run then, and only the function
definition is executed (no decorators; annotations are kept as text). A program
that must not run written code in its own process at all gives the parameter a
runner (:meth:`CodeParameter.run_through`, e.g. a sandbox): then every source
but the original one is handed to the runner instead of being defined here.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import linecache
import sys
import textwrap
from collections.abc import Callable
from typing import Any

from trace_engine.errors import InvalidCodeError
from trace_engine.nodes import Parameter
from trace_engine.source import (
    added_forbidden_uses,
    check_proposal,
    compile_checked,
    module_patches,
    names_in,
    normalize,
    parse,
    refusal,
    require_function,
    signature_of,
    source_from_def,
    unloaded_imports,
)

_compile_ids = itertools.count(1)
_CHECKED_KEPT = 16

CodeRunner = Callable[["CodeParameter", str], Callable[..., Any]]
"""``runner(parameter, source) -> callable``: runs accepted ``source`` of ``parameter``
somewhere other than this process; the callable takes the function's arguments."""


def function_source(fn: Callable) -> str:
    """The source of ``fn`` from its ``def`` line on (decorators dropped), dedented."""
    if getattr(fn, "__name__", "") == "<lambda>":
        raise TypeError("trainable code needs a function defined with def; got a lambda")
    if not inspect.isfunction(fn):
        raise TypeError(
            f"trainable code needs a Python function with source; got {type(fn).__name__} {fn!r}"
        )
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise TypeError(f"the source of {fn.__qualname__} is unavailable ({exc})") from exc
    definition = require_function(parse(source), fn.__name__, "the original source")
    return source_from_def(source, definition)


class CodeParameter(Parameter):
    """The source of a bundled function, trainable.

    ``function`` is the callable built from the current source (see the module
    docstring), run in a copy of the defining module's globals plus the original
    closure's values. Proposals may use what the original source already used of
    :func:`~trace_engine.source.forbidden_uses` (see
    :func:`~trace_engine.source.added_forbidden_uses`), and nothing more of it.
    """

    __slots__ = (
        "fn_name",
        "signature",
        "module",
        "_closure",
        "_built",
        "_original",
        "_checked",
        "_runner",
    )

    def __init__(
        self,
        source: str,
        *,
        fn_name: str,
        signature: str,
        module: str,
        closure: dict[str, Any] | None = None,
        function: Callable | None = None,
        name: str | None = None,
        description: str | None = None,
    ):
        super().__init__(source, name=name or f"__code_{fn_name}", description=description)
        self.fn_name = fn_name
        self.signature = signature
        self.module = module
        self._closure = dict(closure or {})
        self._built: tuple[str, Callable] | None = (
            (self._data, function) if function is not None else None
        )
        self._original = source if isinstance(source, str) else ""
        self._checked: dict[str, str] = {}
        self._runner: CodeRunner | None = None

    @classmethod
    def from_function(cls, fn: Callable, description: str | None = None) -> CodeParameter:
        source = function_source(fn)
        definition = require_function(parse(source), fn.__name__, "the original source")
        closure = {}
        if fn.__closure__:
            for var, cell in zip(fn.__code__.co_freevars, fn.__closure__):
                try:
                    closure[var] = cell.cell_contents
                except ValueError:
                    continue
        return cls(
            source,
            fn_name=fn.__name__,
            signature=signature_of(definition),
            module=fn.__module__,
            closure=closure,
            function=fn,
            description=description or f"The code of the function {fn.__name__}.",
        )

    def clone(self) -> CodeParameter:
        """A separate parameter with the same code (per-instance code of a method)."""
        copy = CodeParameter(
            self._data,
            fn_name=self.fn_name,
            signature=self.signature,
            module=self.module,
            closure=self._closure,
            name=self.name,
            description=self.description,
        )
        copy._built, copy._original = self._built, self._original
        copy._runner = self._runner
        return copy

    def run_through(self, runner: CodeRunner | None) -> None:
        """From now on run every source but the original through ``runner`` (None: here).

        The original source is the program's own code and keeps running in this
        process; any other (an optimizer's proposal, code loaded from a file) is
        checked as always and then only ever called through ``runner``.
        """
        self._runner = runner
        if self._built is not None and self._built[0] != self._original:
            self._built = None

    @property
    def original(self) -> str:
        """The source the parameter was made with (the program's own code)."""
        return self._original

    @property
    def closure(self) -> dict[str, Any]:
        """The values of the original function's free variables, by name."""
        return dict(self._closure)

    @property
    def function(self) -> Callable:
        """The callable of the current source, built on first use after the source changed."""
        source, built = self._data, self._built
        if built is not None and (built[0] is source or built[0] == source):
            return built[1]
        function = self._build(source)
        self._built = (source, function)
        return function

    def _build(self, source: Any) -> Callable:
        if not isinstance(source, str):
            raise InvalidCodeError(
                f"{self.name}: the code must be a str of Python source, got {type(source).__name__}"
            )
        check_proposal(source, self.fn_name, self.signature, f"{self.name}: the code")
        if self._runner is not None and source != self._original:
            return self._runner(self, source)
        filename = f"<trace_engine code {self.name} #{next(_compile_ids)}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        namespace = self._namespace()
        exec(compile_checked(source, filename), namespace)
        return namespace[self.fn_name]

    def _namespace(self) -> dict[str, Any]:
        """What the function runs in: a copy of its module's globals, plus its closure."""
        module = sys.modules.get(self.module)
        namespace = dict(vars(module)) if module else {"__name__": self.module}
        namespace.update(self._closure)
        return namespace

    def validate(self, value: Any) -> Any:
        """The normalized source if ``value`` may replace the code (parse-only), else
        :class:`InvalidCodeError` with the reason. Nothing of ``value`` is executed."""
        if not isinstance(value, str):
            raise InvalidCodeError(
                f"{self.name}: new code must be a str of Python source, got {type(value).__name__}"
            )
        checked = self._checked.get(value)
        if checked is not None:
            return checked
        source = normalize(value)
        what = f"{self.name}: new code"
        tree = check_proposal(source, self.fn_name, self.signature, what)
        used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        names = names_in(self._namespace(), used)
        uses = added_forbidden_uses(tree, self._original, in_host=True, names=names)
        if self._runner is None:  # it will run here
            uses += module_patches(tree, names) + unloaded_imports(tree, sys.modules)
        if uses:
            raise InvalidCodeError(refusal(uses, what))
        source = super().validate(source)
        if len(self._checked) >= _CHECKED_KEPT:
            self._checked.pop(next(iter(self._checked)))
        self._checked[value] = source
        return source

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.update(fn_name=self.fn_name, signature=self.signature, module=self.module)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.fn_name = state["fn_name"]
        self.signature = state["signature"]
        self.module = state["module"]
        self._closure = {}
        self._built = None
        data = self._data
        self._original = data if isinstance(data, str) else ""
        self._checked = {}
        self._runner = None
