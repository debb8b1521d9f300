"""``@bundle``: one Python function as one traced operation.

The function body runs untraced on plain values; the call is recorded as a single
node whose parents are the inputs (plus the code parameter when the function is
trainable). The docstring documents the operation for the optimizer.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import traceback
from collections.abc import Callable
from typing import Any

from trace_engine.code import CodeParameter
from trace_engine.context import Mode, _mode
from trace_engine.errors import ExecutionError, ExternalDependencyError, StateError
from trace_engine.files import atomic_write_json, read_state_json
from trace_engine.nodes import _CONTAINERS, ExceptionNode, Node, to_node, unwrap
from trace_engine.operators import Op

_INSTANCE_CODE = "_trace_engine_code"
_SELF_NODE = "_trace_engine_self"


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
    fn: Callable | str | None = None,
    *,
    description: str | None = None,
    trainable: bool = False,
    catch_errors: bool = True,
    allow_external_dependencies: bool = False,
    traceable_code: bool = False,
) -> Any:
    """Decorate a function (sync or async, plain or method) as one traced operation.

    ``trainable=True`` makes its source a :class:`CodeParameter` the optimizer may
    rewrite. With ``catch_errors=True`` an exception inside becomes an
    :class:`ExceptionNode` and the caller gets :class:`ExecutionError` holding it.
    ``traceable_code=True`` traces the operations inside the body too: the result
    is still one node computed from the inputs, and ``result.info["output"]`` is
    the node the traced body returned. A description may be given first
    (``@bundle("[name] what it does")``); a leading ``[name]`` names the operation.
    """
    if isinstance(fn, str):
        if description is not None:
            raise TypeError("bundle(): description given twice (positionally and by keyword)")
        fn, description = None, fn

    def decorate(f: Callable) -> Bundle:
        return Bundle(
            f,
            description=description,
            trainable=trainable,
            catch_errors=catch_errors,
            allow_external_dependencies=allow_external_dependencies,
            traceable_code=traceable_code,
        )

    for flag, value in (
        ("trainable", trainable),
        ("catch_errors", catch_errors),
        ("allow_external_dependencies", allow_external_dependencies),
        ("traceable_code", traceable_code),
    ):
        if not isinstance(value, bool):
            raise TypeError(f"bundle(): {flag} must be a bool, got {value!r}")
    if description is not None and not isinstance(description, str):
        raise TypeError(f"bundle(): description must be a str, got {type(description).__name__}")
    return decorate(fn) if fn is not None else decorate


_NAMED = re.compile(r"\s*\[([^\[\]]+)\]\s*(.*)", re.DOTALL)
_SIMPLE_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD,)
FORMAT = "trace-engine/bundle-code"


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
        traceable_code: bool = False,
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
        self.traceable_code = traceable_code
        self.is_async = inspect.iscoroutinefunction(fn)
        self.is_method = False
        try:
            self.signature = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"bundle(): cannot read the signature of {fn!r}: {exc}") from None
        name = getattr(fn, "__name__", type(fn).__name__)
        doc = description or inspect.getdoc(fn) or ""
        named = _NAMED.fullmatch(doc)
        if named:
            name, doc = named.group(1).strip(), named.group(2).strip()
        self.parameter = CodeParameter.from_function(fn) if trainable else None
        self._code_key = getattr(fn, "__qualname__", name)
        params = self.signature.parameters
        self._arg_names = tuple(params)
        # Plain signatures (no *args, **kwargs or keyword-only parameters) are bound
        # here without inspect.Signature.bind, which dominated the cost of a call.
        self._simple = all(p.kind in _SIMPLE_KINDS for p in params.values())
        self._defaults = {
            n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty
        }
        self.op = Op(name, None, doc, self._input_names())

    def _input_names(self) -> tuple[str, ...]:
        return self._arg_names + (("__code",) if self.trainable else ())

    def __set_name__(self, owner: type, name: str) -> None:
        self.is_method = True

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return BoundBundle(self, instance)

    def parameters(self) -> list[CodeParameter]:
        """The code parameter of a trainable function (empty otherwise)."""
        return [self.parameter] if self.parameter is not None else []

    def code_parameter(self, instance: Any = None) -> CodeParameter | None:
        """The code parameter in use: per instance and defining class for methods
        (so a subclass override and the base version reached through ``super()``
        each run their own code), shared for functions."""
        if self.parameter is None or instance is None:
            return self.parameter
        per_instance = getattr(instance, "__dict__", None)
        if per_instance is None:
            return self.parameter
        params = per_instance.setdefault(_INSTANCE_CODE, {})
        code = params.get(self._code_key)
        if code is None:
            code = params[self._code_key] = self.parameter.clone()
        return code

    def save(self, path: str | os.PathLike) -> None:
        """Write this function's current code as JSON, atomically."""
        if self.parameter is None:
            raise TypeError(f"{self.op.name!r} is not trainable: it has no code to save")
        atomic_write_json(
            path, {"format": FORMAT, "function": self._code_key, "code": self.parameter.data}
        )

    def load(self, path: str | os.PathLike) -> None:
        """Set the code saved by :meth:`save`; it is validated like any update."""
        if self.parameter is None:
            raise TypeError(f"{self.op.name!r} is not trainable: it has no code to load")
        saved = read_state_json(path, FORMAT, "a trace-engine bundle code file")
        if saved.get("function") != self._code_key:
            raise StateError(
                f"{path} holds the code of {saved.get('function')}, not of {self._code_key}"
            )
        self.parameter.set(saved.get("code"))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.is_method:
            if not args:
                raise TypeError(f"{self.op.name}() called through its class needs the instance")
            return self._call(args[0], args[1:], kwargs)
        return self._call(None, args, kwargs)

    def _call(self, instance: Any, args: tuple, kwargs: dict) -> Any:
        if self.is_async:
            return self._acall(instance, args, kwargs)
        call = self._prepare(instance, args, kwargs)
        if call.nested:
            return call.run()
        error = None
        token = _mode.set(call.mode)
        try:
            result = call.run()
        except Exception as exc:
            error = exc
        finally:
            _mode.reset(token)
        if error is not None:
            return self._failed(call, error)
        return self._succeeded(call, result)

    async def _acall(self, instance: Any, args: tuple, kwargs: dict) -> Any:
        call = self._prepare(instance, args, kwargs)
        if call.nested:
            return await call.run()
        error = None
        token = _mode.set(call.mode)
        try:
            result = await call.run()
        except Exception as exc:
            error = exc
        finally:
            _mode.reset(token)
        if error is not None:
            return self._failed(call, error)
        return self._succeeded(call, result)

    def _bind(self, args: tuple, kwargs: dict) -> tuple[tuple[str, ...], list[Any], Any]:
        """``(names, values, bound)``: each argument by name; ``bound`` is the
        inspect binding when the signature needed one, else ``None``."""
        names = self._arg_names
        if self._simple and len(args) <= len(names):
            values = list(args)
            used = 0
            for name in names[len(args) :]:
                if name in kwargs:
                    values.append(kwargs[name])
                    used += 1
                elif name in self._defaults:
                    values.append(self._defaults[name])
                else:
                    break
            if len(values) == len(names) and used == len(kwargs):
                return names, values, None
        bound = self.signature.bind(*args, **kwargs)  # raises the usual TypeError
        bound.apply_defaults()
        return tuple(bound.arguments), list(bound.arguments.values()), bound

    def _prepare(self, instance: Any, args: tuple, kwargs: dict) -> _Call:
        outer = _mode.get()
        full_args = (instance, *args) if instance is not None else args
        names, values, bound = self._bind(full_args, kwargs)
        nested = outer.scope is not None
        traced = outer.tracing and not nested
        inputs: list[Node] = []
        if traced:
            for i, (name, value) in enumerate(zip(names, values)):
                if isinstance(value, Node):
                    inputs.append(value)
                elif i == 0 and instance is not None:
                    inputs.append(_self_node(instance))
                else:
                    inputs.append(to_node(value, name))
        if nested:
            values = [unwrap(v) for v in values]  # reads are checked by the outer bundle
        elif not self.traceable_code:
            values = [_plain(v) for v in values]
        code = self.code_parameter(instance)
        if code is not None and traced:
            inputs.append(code)
        if bound is not None:
            for name, value in zip(names, values):
                bound.arguments[name] = value
            call_args, call_kwargs = bound.args, bound.kwargs
        else:
            call_args, call_kwargs = values, {}
        scope = (
            None
            if self.traceable_code
            else BundleScope(self.op.name, self.allow_external_dependencies)
        )
        return _Call(self.fn, call_args, call_kwargs, tuple(inputs), code, nested, scope, outer)

    def _op_for(self, call: _Call) -> Op:
        if call.scope is None or not call.scope.externals:
            return self.op
        extra = tuple(f"external:{n.name}" for n in call.scope.externals)
        return Op(self.op.name, None, self.op.doc, self.op.arg_names + extra)

    def _parents(self, call: _Call) -> tuple[Node, ...]:
        if not call.outer.tracing:
            return ()
        if call.scope is None or not call.scope.externals:
            return call.inputs
        return call.inputs + tuple(call.scope.externals)

    def _succeeded(self, call: _Call, result: Any) -> Node:
        value = result._data if isinstance(result, Node) else result
        made = Node._traced(value, self.op.name, self._parents(call), self._op_for(call))
        if self.traceable_code and isinstance(result, Node):
            made.info["output"] = result
        if call.scope is not None and call.scope.externals:
            made.info["external_dependencies"] = list(call.scope.externals)
        return made

    def _failed(self, call: _Call, exc: Exception) -> Node:
        if not self.catch_errors or isinstance(exc, ExternalDependencyError):
            raise exc
        error = ExceptionNode(
            exc,
            traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            failed_line=_failed_line(call.function or call.fn, exc),
            parents=self._parents(call),
            op=self._op_for(call),
        )
        raise ExecutionError(error) from exc


class BoundBundle:
    """A bundled method looked up on an instance: call it, or read its code."""

    __slots__ = ("bundle", "instance")

    def __init__(self, bundle: Bundle, instance: Any):
        self.bundle = bundle
        self.instance = instance

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.bundle._call(self.instance, args, kwargs)

    @property
    def parameter(self) -> CodeParameter | None:
        """This instance's code parameter (``None`` unless the method is trainable)."""
        return self.bundle.code_parameter(self.instance)

    def parameters(self) -> list[CodeParameter]:
        code = self.parameter
        return [code] if code is not None else []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bundle, name)

    def __repr__(self) -> str:
        return f"<bundled method {self.bundle.op.name} of {self.instance!r:.60}>"


def _plain(value: Any) -> Any:
    """The value a bundle body receives for an argument (outside any bundle)."""
    if isinstance(value, Node):
        data = value._data
        return unwrap(data) if isinstance(data, _CONTAINERS) else data
    return unwrap(value) if isinstance(value, _CONTAINERS) else value


def _self_node(instance: Any) -> Node:
    """The node standing for ``self`` in a bundled method's inputs: one per instance,
    kept on it, so every call of its methods shares it."""
    per_instance = getattr(instance, "__dict__", None)
    if per_instance is None:
        return Node._traced(instance, "self", (), None)
    made = per_instance.get(_SELF_NODE)
    if made is None or made._data is not instance:
        made = per_instance[_SELF_NODE] = Node._traced(instance, "self", (), None)
    return made


class _Call:
    """Everything one invocation needs, worked out before the body runs."""

    __slots__ = (
        "fn",
        "args",
        "kwargs",
        "inputs",
        "code",
        "nested",
        "scope",
        "outer",
        "mode",
        "function",
    )

    def __init__(self, fn, args, kwargs, inputs, code, nested, scope, outer):
        self.fn, self.args, self.kwargs, self.inputs = fn, args, kwargs, inputs
        self.code, self.nested, self.scope, self.outer = code, nested, scope, outer
        self.mode = Mode(tracing=outer.tracing if scope is None else False, scope=scope)
        self.function = None

    def run(self) -> Any:
        """Call the current code (compiled here, so bad code becomes the call's error)."""
        self.function = self.code.function if self.code is not None else self.fn
        return self.function(*self.args, **self.kwargs)


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
