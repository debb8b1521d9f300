"""LLM-using components that are themselves traced and trainable.

* :mod:`agents.dynaicl`: how many in-context demonstrations each input gets (DynaICL).
* :mod:`agents.router`: cost-of-pass routing between backends (``RoutedLLM``).
* :mod:`agents.agent`: a tool-using agent with a trainable prompt, tool descriptions
  and answer extraction.

The marker below tells trace-engine's start-up check that this ``agents`` is its
own, not another distribution's package of the same name (see
:mod:`trace_engine.collisions`).
"""

# ruff: noqa: E402  (the extra is checked before the submodules that need it are imported)
__trace_engine_package__ = True

from trace_engine.extras import check_extra

check_extra("numpy", "sklearn", extra="agents", purpose="trace-engine's agents package")

from agents.agent import Agent, AgentResult, Step
from agents.dynaicl import (
    DemoSelector,
    DynaICL,
    DynaICLPrompt,
    Example,
    LLMController,
    MetaController,
    few_shot_prompt,
    generate_labels,
)
from agents.router import (
    Backend,
    CascadePolicy,
    CostModel,
    CostOfPassPolicy,
    FixedPolicy,
    RoutedLLM,
    SuccessPredictor,
    ThresholdPolicy,
    cost_of_pass,
)
from agents.tools import Tool, ToolResult

__all__ = [
    "Agent",
    "AgentResult",
    "Backend",
    "CascadePolicy",
    "CostModel",
    "CostOfPassPolicy",
    "DemoSelector",
    "DynaICL",
    "DynaICLPrompt",
    "Example",
    "FixedPolicy",
    "LLMController",
    "MetaController",
    "RoutedLLM",
    "Step",
    "SuccessPredictor",
    "ThresholdPolicy",
    "Tool",
    "ToolResult",
    "cost_of_pass",
    "few_shot_prompt",
    "generate_labels",
]
