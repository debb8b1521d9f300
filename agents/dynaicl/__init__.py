"""DynaICL: give each input only as many in-context demonstrations as it needs.

Labels (:func:`generate_labels`) train a meta-controller (:class:`MetaController`
or :class:`LLMController`), which :class:`DynaICL` uses to size the prompts of a
batch under a budget or a required accuracy. :class:`DynaICLPrompt` is the traced,
trainable version for workflows; :func:`compare` reports against uniform ``k``.
"""

from agents.dynaicl.allocation import (
    Allocation,
    BudgetTooSmall,
    allocate_budget,
    allocate_min_accuracy,
)
from agents.dynaicl.controller import Controller, ControllerMismatch, LLMController, MetaController
from agents.dynaicl.demos import DemoSelector, EmptyDemoPool
from agents.dynaicl.examples import Example, as_examples, exact_match, normalize_answer
from agents.dynaicl.labels import (
    DEFAULT_GRID,
    LabelFileMismatch,
    LabelRecord,
    LabelSet,
    generate_labels,
)
from agents.dynaicl.module import DynaICLPrompt
from agents.dynaicl.planner import DynaICL, Plan, estimate_tokens
from agents.dynaicl.prompt import few_shot_prompt, render_few_shot
from agents.dynaicl.report import ReportRow, compare, format_table, plot_report, run_plan

__all__ = [
    "DEFAULT_GRID",
    "Allocation",
    "BudgetTooSmall",
    "Controller",
    "ControllerMismatch",
    "DemoSelector",
    "DynaICL",
    "DynaICLPrompt",
    "EmptyDemoPool",
    "Example",
    "LLMController",
    "LabelFileMismatch",
    "LabelRecord",
    "LabelSet",
    "MetaController",
    "Plan",
    "ReportRow",
    "allocate_budget",
    "allocate_min_accuracy",
    "as_examples",
    "compare",
    "estimate_tokens",
    "exact_match",
    "few_shot_prompt",
    "format_table",
    "generate_labels",
    "normalize_answer",
    "plot_report",
    "render_few_shot",
    "run_plan",
]
