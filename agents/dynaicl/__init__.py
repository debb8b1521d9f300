"""DynaICL: give each input only as many in-context demonstrations as it needs.

Labels (:func:`generate_labels`) train a meta-controller, which :class:`DynaICL`
uses to size the prompts of a batch under a budget, a required batch accuracy or
a per-input accuracy floor. Controllers: :class:`AccuracyController` predicts the
accuracy with each ``k`` (it can tell that demos hurt an input, and allocation
then gives that input fewer); :class:`MetaController` predicts ``k*``, the
smallest sufficient ``k``, as in the DynaICL paper; :class:`LLMController` asks a
model. :func:`train_controller` and :func:`load_controller` pick between the
trained kinds by name. :class:`DynaICLPrompt` is the traced, trainable version
for workflows; :func:`compare` reports against uniform ``k``.
"""

from agents.dynaicl.accuracy_controller import AccuracyController, GainShrinkage
from agents.dynaicl.allocation import (
    Allocation,
    BudgetTooSmall,
    allocate_accuracy_floor,
    allocate_budget,
    allocate_min_accuracy,
)
from agents.dynaicl.controller import (
    Controller,
    ControllerMismatch,
    KStarController,
    LLMController,
    MetaController,
)
from agents.dynaicl.controller_choice import CONTROLLER_KINDS, load_controller, train_controller
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
    "CONTROLLER_KINDS",
    "DEFAULT_GRID",
    "AccuracyController",
    "GainShrinkage",
    "Allocation",
    "BudgetTooSmall",
    "Controller",
    "ControllerMismatch",
    "DemoSelector",
    "DynaICL",
    "DynaICLPrompt",
    "EmptyDemoPool",
    "Example",
    "KStarController",
    "LLMController",
    "LabelFileMismatch",
    "LabelRecord",
    "LabelSet",
    "MetaController",
    "Plan",
    "ReportRow",
    "allocate_accuracy_floor",
    "allocate_budget",
    "allocate_min_accuracy",
    "as_examples",
    "compare",
    "estimate_tokens",
    "exact_match",
    "few_shot_prompt",
    "format_table",
    "generate_labels",
    "load_controller",
    "normalize_answer",
    "plot_report",
    "render_few_shot",
    "run_plan",
    "train_controller",
]
