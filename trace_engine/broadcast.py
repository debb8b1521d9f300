"""Broadcasting an operation over containers of nodes.

``apply_op(op, output, *args, **kwargs)`` runs ``op`` once per node position in
``output`` (a node, or a list, tuple, dict or object whose attributes hold nodes,
nested), taking the matching element of every argument that is a container and
the whole of every argument that is a node. Results are written into ``output``
in place; its elements that are not nodes keep their values.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from trace_engine.nodes import Node

_NOT_CONTAINERS = (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType)


def apply_op(op: Callable[..., Any], output: Any, *args: Any, **kwargs: Any) -> Any:
    """Apply ``op`` elementwise over ``output``'s structure; return ``output`` updated."""
    inputs = [*args, *kwargs.values()]
    if all(isinstance(x, Node) for x in inputs):
        return op(*args, **kwargs)
    for x in inputs:
        if not isinstance(x, Node) and type(x) is not type(output):
            raise TypeError(
                f"apply_op: every argument must be a Node or a {type(output).__name__} shaped "
                f"like the output; got a {type(x).__name__}"
            )

    def pick(key: Any, read: Callable[[Any, Any], Any]) -> tuple[list, dict]:
        picked = [x if isinstance(x, Node) else read(x, key) for x in args]
        named = {k: v if isinstance(v, Node) else read(v, key) for k, v in kwargs.items()}
        return picked, named

    if isinstance(output, (list, tuple)):
        for x in inputs:
            if not isinstance(x, Node) and len(x) != len(output):
                raise ValueError(
                    f"apply_op: an argument has {len(x)} elements, the output {len(output)}"
                )
        items = list(output)
        for i, item in enumerate(items):
            picked, named = pick(i, lambda c, k: c[k])
            items[i] = apply_op(op, item, *picked, **named)
        if isinstance(output, tuple):
            return tuple(items)
        output[:] = items
        return output
    if isinstance(output, dict):
        for key, item in output.items():
            picked, named = pick(key, lambda c, k: c[k])
            output[key] = apply_op(op, item, *picked, **named)
        return output
    if hasattr(output, "__dict__") and not isinstance(output, _NOT_CONTAINERS):
        for attr, item in list(vars(output).items()):
            picked, named = pick(attr, getattr)
            setattr(output, attr, apply_op(op, item, *picked, **named))
        return output
    return output
