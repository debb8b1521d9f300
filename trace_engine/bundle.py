"""``@bundle``: one Python function as one traced operation.

The function body runs untraced on plain values; the call is recorded as a single
node whose parents are the inputs (plus the code parameter when the function is
trainable). The docstring documents the operation for the optimizer.
"""

from __future__ import annotations

import functools
import inspect
import traceback
from collections.abc import Callable
from typing import Any

from trace_engine.code import CodeParameter
from trace_engine.context import Mode, _enter, current_mode
from trace_engine.errors import ExecutionError, ExternalDependencyError
from trace_engine.nodes import ExceptionNode, Node, to_node, unwrap
from trace_engine.operators import Op

_INSTANCE_CODE = "_trace_engine_code"


class BundleScope:
    """The body of a running bundle: which nodes it may read, which outside ones it did."""

    __slots__ = ("op_name", "allowed", "allow_external", "externals")

    def __init__(self, op_name: str, allow_external: bool):
        self.op_name = op_name
        self.allowed: set[int] = set()
        self.allow_external = allow_external
        self.externals: list[Node] = []

    def allow(self, node: Node) -> None:
        self.allowed.add(id(node))

    def read(self, node: Node) -> None:
        if id(node) in self.allowed:
            return
        if not self.allow_external:
            raise ExternalDependencyError(
                f"bundle {self.op_name!r} read node {node.name!r}, which was not passed to it "
                "as an input; pass it as an argument, or use "
                "@bundle(allow_external_dependencies=True) to record it as a hidden input"
            )
        self.allowed.add(id(node))
        self.externals.append(node)


def bundle(
    fn: Callable | None = None,
    *,
    description: str | None = None,
    trainable: bool = False,
    catch_errors: bool = True,
    allow_external_dependencies: bool = False,
) -> Any:
    """Decorate a function (sync or async, plain or method) as one traced operation.

    ``trainable=True`` makes its source a :class:`CodeParameter` the optimizer may
    rewrite. With ``catch_errors=True`` an exception inside becomes an
    :class:`ExceptionNode` and the caller gets :class:`ExecutionError` holding it.
    """

    def decorate(f: Callable) -> Bundle:
        return Bundle(
            f,
            description=description,
            trainable=trainable,
            catch_errors=catch_errors,
            allow_external_dependencies=allow_external_dependencies,
        )

    for flag, value in (
        ("trainable", trainable),
        ("catch_errors", catch_errors),
        ("allow_external_dependencies", allow_external_dependencies),
    ):
        if not isinstance(value, bool):
            raise TypeError(f"bundle(): {flag} must be a bool, got {value!r}")
    if description is not None and not isinstance(description, str):
        raise TypeError(f"bundle(): description must be a str, got {type(description).__name__}")
    return decorate(fn) if fn is not None else decorate


class Bundle:
    """A traced operation made from a function; see :func:`bundle`."""

    def __init__(
        self,
        fn: Callable,
        *,
        description: str | None,
        trainable: bool,
        catch_errors: bool,
        allow_external_dependencies: bool,
    ):
        if isinstance(fn, Bundle):
            raise TypeError(f"{fn.op.name!r} is already bundled")
        if not callable(fn):
            raise TypeError(f"bundle() needs a function, got {type(fn).__name__}: {fn!r:.80}")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.trainable = trainable
        self.catch_errors = catch_errors
        self.allow_external_dependencies = allow_external_dependencies
        self.is_async = inspect.iscoroutinefunction(fn)
        self.is_method = False
        try:
            self.signature = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"bundle(): cannot read the signature of {fn!r}: {exc}") from None
        name = getattr(fn, "__name__", type(fn).__name__)
        self.parameter = CodeParameter.from_function(fn) if trainable else None
        self._arg_names = tuple(self.signature.parameters)
        doc = description or inspect.getdoc(fn) or ""
        self.op = Op(name, None, doc, self._input_names())

    def _input_names(self) -> tuple[str, ...]:
        names = self._arg_names[1:] if self.is_method else self._arg_names
        return names + (("__code",) if self.trainable else ())

    def __set_name__(self, owner: type, name: str) -> None:
        self.is_method = True
        self.op = Op(self.op.name, None, self.op.doc, self._input_names())

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return functools.partial(self._call, instance)

    def parameters(self) -> list[CodeParameter]:
        """The code parameter of a trainable function (empty otherwise)."""
        return [self.parameter] if self.parameter is not None else []

    def code_parameter(self, instance: Any = None) -> CodeParameter | None:
        """The code parameter in use: per instance for methods, shared for functions."""
        if self.parameter is None or instance is None:
            return self.parameter
        per_instance = getattr(instance, "__dict__", None)
        if per_instance is None:
            return self.parameter
        params = per_instance.setdefault(_INSTANCE_CODE, {})
        if self.__name__ not in params:
            params[self.__name__] = self.parameter.clone()
        return params[self.__name__]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(None, *args, **kwargs)

    def _call(self, instance: Any, *args: Any, **kwargs: Any) -> Any:
        if self.is_async:
            return self._acall(instance, args, kwargs)
        call = self._prepare(instance, args, kwargs)
        if call.nested:
            return call.fn(*call.args, **call.kwargs)
        with _enter(call.mode):
            try:
                result = call.fn(*call.args, **call.kwargs)
            except Exception as exc:
                return self._failed(call, exc)
        return self._succeeded(call, result)

    async def _acall(self, instance: Any, args: tuple, kwargs: dict) -> Any:
        call = self._prepare(instance, args, kwargs)
        if call.nested:
            return await call.fn(*call.args, **call.kwargs)
        with _enter(call.mode):
            try:
                result = await call.fn(*call.args, **call.kwargs)
            except Exception as exc:
                return self._failed(call, exc)
        return self._succeeded(call, result)

    def _prepare(self, instance: Any, args: tuple, kwargs: dict) -> _Call:
        outer = current_mode()
        code = self.code_parameter(instance)
        fn = code.function if code is not None else self.fn
        full_args = (instance, *args) if self.is_method else args
        bound = self.signature.bind(*full_args, **kwargs)
        bound.apply_defaults()
        nested = outer.scope is not None
        inputs: list[Node] = []
        for i, (name, value) in enumerate(bound.arguments.items()):
            if self.is_method and i == 0:
                continue
            if outer.tracing and not nested:
                inputs.append(to_node(value, name))
            bound.arguments[name] = unwrap(value)
        if code is not None and outer.tracing and not nested:
            inputs.append(code)
        scope = BundleScope(self.op.name, self.allow_external_dependencies)
        return _Call(fn, bound.args, bound.kwargs, tuple(inputs), code, nested, scope, outer)

    def _op_for(self, call: _Call) -> Op:
        if not call.scope.externals:
            return self.op
        extra = tuple(f"external:{n.name}" for n in call.scope.externals)
        return Op(self.op.name, None, self.op.doc, self.op.arg_names + extra)

    def _parents(self, call: _Call) -> tuple[Node, ...]:
        if not call.outer.tracing:
            return ()
        return call.inputs + tuple(call.scope.externals)

    def _succeeded(self, call: _Call, result: Any) -> Node:
        value = result._data if isinstance(result, Node) else result
        return Node._traced(value, self.op.name, self._parents(call), self._op_for(call))

    def _failed(self, call: _Call, exc: Exception) -> Node:
        if not self.catch_errors or isinstance(exc, ExternalDependencyError):
            raise exc
        error = ExceptionNode(
            exc,
            traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            failed_line=_failed_line(call.fn, exc),
            parents=self._parents(call),
            op=self._op_for(call),
        )
        raise ExecutionError(error) from exc


class _Call:
    """Everything one invocation needs, worked out before the body runs."""

    __slots__ = ("fn", "args", "kwargs", "inputs", "code", "nested", "scope", "outer", "mode")

    def __init__(self, fn, args, kwargs, inputs, code, nested, scope, outer):
        self.fn, self.args, self.kwargs, self.inputs = fn, args, kwargs, inputs
        self.code, self.nested, self.scope, self.outer = code, nested, scope, outer
        self.mode = Mode(tracing=False, scope=scope)


def _failed_line(fn: Callable, exc: BaseException) -> str:
    """``line N of name: text`` for the last line of ``fn`` on the traceback."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if f.filename == code.co_filename and f.name == code.co_name
    ]
    if not frames:
        return ""
    frame = frames[-1]
    first = code.co_firstlineno
    try:
        lines, start = inspect.getsourcelines(fn)
        offset = next(
            i for i, line in enumerate(lines) if line.lstrip().startswith(("def ", "async def "))
        )
        first = start + offset
    except (OSError, TypeError, StopIteration):
        pass
    return f"line {frame.lineno - first + 1} of {fn.__name__}: {(frame.line or '').strip()}"
