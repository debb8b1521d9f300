"""Code parameters: a function's source as a trainable value.

New source is validated (it parses, defines a function of the same name and
signature) and compiled once when it is set, never on each call. A refused update
raises :class:`~trace_engine.errors.InvalidCodeError` and keeps the old code.
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

_compile_ids = itertools.count(1)


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
    definition = _find_function(ast.parse(source), fn.__name__, "the original source")
    return "\n".join(source.splitlines()[definition.lineno - 1 :]).rstrip() + "\n"


def _find_function(tree: ast.Module, name: str, what: str) -> ast.FunctionDef:
    defs = [
        n
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name
    ]
    if not defs:
        found = [
            n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        raise InvalidCodeError(
            f"{what} must define a function named {name!r}"
            + (f"; it defines {', '.join(found)}" if found else "; it defines no function")
        )
    if len(defs) > 1:
        raise InvalidCodeError(f"{what} defines {name!r} {len(defs)} times; define it once")
    return defs[0]


def signature_of(definition: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The calling convention: parameter names, kinds and which have defaults."""
    a = definition.args
    positional = a.posonlyargs + a.args
    first_default = len(positional) - len(a.defaults)
    parts = []
    for i, arg in enumerate(positional):
        parts.append(arg.arg + ("=..." if i >= first_default else ""))
        if a.posonlyargs and i == len(a.posonlyargs) - 1:
            parts.append("/")
    if a.vararg:
        parts.append("*" + a.vararg.arg)
    elif a.kwonlyargs:
        parts.append("*")
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        parts.append(arg.arg + ("=..." if default is not None else ""))
    if a.kwarg:
        parts.append("**" + a.kwarg.arg)
    prefix = "async def" if isinstance(definition, ast.AsyncFunctionDef) else "def"
    return f"{prefix} {definition.name}({', '.join(parts)})"


class CodeParameter(Parameter):
    """The source of a bundled function, trainable.

    ``function`` is the callable compiled from the current source. Code is run in
    a copy of the defining module's globals (plus the original closure's values).
    """

    __slots__ = ("fn_name", "signature", "module", "_closure", "_function")

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
        self._function = function

    @classmethod
    def from_function(cls, fn: Callable, description: str | None = None) -> CodeParameter:
        source = function_source(fn)
        definition = _find_function(ast.parse(source), fn.__name__, "the original source")
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
        return CodeParameter(
            self._data,
            fn_name=self.fn_name,
            signature=self.signature,
            module=self.module,
            closure=self._closure,
            function=self._function,
            name=self.name,
            description=self.description,
        )

    @property
    def function(self) -> Callable:
        if self._function is None:
            self._function = self._compile(self._data)
        return self._function

    def _compile(self, source: Any) -> Callable:
        if not isinstance(source, str):
            raise InvalidCodeError(
                f"{self.name}: new code must be a str of Python source, got {type(source).__name__}"
            )
        source = textwrap.dedent(source).strip("\n") + "\n"
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            raise InvalidCodeError(
                f"{self.name}: new code does not parse: {exc.msg} (line {exc.lineno}: "
                f"{(exc.text or '').strip()})"
            ) from None
        definition = _find_function(tree, self.fn_name, f"{self.name}: new code")
        signature = signature_of(definition)
        if signature != self.signature:
            raise InvalidCodeError(
                f"{self.name}: new code changes the signature from `{self.signature}` to "
                f"`{signature}`; keep the name and parameters"
            )
        definition.decorator_list = []
        filename = f"<trace_engine code {self.name} #{next(_compile_ids)}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        module = sys.modules.get(self.module)
        namespace = dict(vars(module)) if module else {"__name__": self.module}
        namespace.update(self._closure)
        try:
            exec(compile(tree, filename, "exec"), namespace)
        except Exception as exc:
            raise InvalidCodeError(
                f"{self.name}: running the new definition raised {type(exc).__name__}: {exc}"
            ) from None
        return namespace[self.fn_name]

    def validate(self, value: Any) -> Any:
        self._compile(value)
        return super().validate(value)

    def set(self, value: Any) -> None:
        function = self._compile(value)
        super().validate(value)
        self._data = textwrap.dedent(value).strip("\n") + "\n"
        self._function = function

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
        self._function = None
