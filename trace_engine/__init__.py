"""trace-engine: trace Python programs, give feedback, let an LLM improve the trainable parts.

The core needs no LLM: nodes, ``@bundle``, modules, feedback and graph export.
Heavy dependencies (networkx, model backends) are imported only when used.
"""

from trace_engine.backward import (
    FeedbackGraph,
    feedback_graph,
    outputs_with_feedback,
    zero_feedback,
)
from trace_engine.broadcast import apply_op
from trace_engine.bundle import Bundle, bundle
from trace_engine.code import CodeParameter
from trace_engine.constraints import Check, Choices, Constraint, Range
from trace_engine.context import is_tracing, no_trace
from trace_engine.errors import (
    ExecutionError,
    ExternalDependencyError,
    GraphError,
    InvalidCodeError,
    InvalidUpdate,
    StateError,
    TraceEngineError,
)
from trace_engine.graph import from_json, to_dot, to_json, to_networkx, topological_order
from trace_engine.modules import Module, model
from trace_engine.nodes import ExceptionNode, Node, Parameter, node
from trace_engine.nodes import unwrap as to_data
from trace_engine.operators import (
    call_llm,
    cond,
    contains,
    dict_update,
    eq,
    fmt,
    identity,
    length,
    list_extend,
    ne,
)

__version__ = "0.1.0"

__all__ = [
    "Bundle",
    "apply_op",
    "call_llm",
    "cond",
    "dict_update",
    "identity",
    "list_extend",
    "outputs_with_feedback",
    "to_data",
    "Check",
    "Choices",
    "CodeParameter",
    "Constraint",
    "ExceptionNode",
    "ExecutionError",
    "ExternalDependencyError",
    "FeedbackGraph",
    "GraphError",
    "InvalidCodeError",
    "InvalidUpdate",
    "Module",
    "Node",
    "Parameter",
    "Range",
    "StateError",
    "TraceEngineError",
    "bundle",
    "contains",
    "eq",
    "feedback_graph",
    "fmt",
    "from_json",
    "is_tracing",
    "length",
    "model",
    "ne",
    "no_trace",
    "node",
    "to_dot",
    "to_json",
    "to_networkx",
    "topological_order",
    "zero_feedback",
]
