"""The parameters a run trains, by name, with their state read and set through ``Module``.

A Trainer is given a :class:`~trace_engine.modules.Module` (parameters named by
their dotted attribute paths) or a plain list of parameters (named by their
labels, numbered in order where two share one). Either way the values go in and
out through ``Module.state_dict``/``Module.load_state_dict``: a list is wrapped
in a :class:`ParameterList`, a module that names its parameters that way.
"""

from __future__ import annotations

from collections.abc import Sequence

from trace_engine.graph import unique_labels
from trace_engine.modules import Module
from trace_engine.nodes import Parameter


class ParameterList(Module):
    """A module over given ``(name, parameter)`` pairs, named as given."""

    def __init__(self, pairs: Sequence[tuple[str, Parameter]]):
        self._trace_engine_pairs = list(pairs)  # reserved prefix: not walked as an attribute

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return list(self._trace_engine_pairs)

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self._trace_engine_pairs]


def named_parameters(module_or_params: Module | Sequence[Parameter]) -> list[tuple[str, Parameter]]:
    """``(name, parameter)`` pairs from a module or a list of parameters (names must be unique)."""
    if isinstance(module_or_params, Module):
        pairs = module_or_params.named_parameters()
    else:
        params = list(module_or_params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"Trainer needs a Module or a list of Parameters; got {type(p).__name__}: {p!r:.80}"
                )
        pairs = list(zip(unique_labels(params), params))
    if not pairs:
        raise ValueError("Trainer got no trainable parameters")
    names = [n for n, _ in pairs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"parameter names must be unique; repeated: {', '.join(duplicates)}")
    return pairs


def trained_module(module_or_params: Module | Sequence[Parameter]) -> Module:
    """The module whose ``state_dict`` is the run's parameter state."""
    if isinstance(module_or_params, Module):
        named_parameters(module_or_params)  # checked: some, uniquely named
        return module_or_params
    return ParameterList(named_parameters(module_or_params))
