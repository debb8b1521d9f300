"""LLM optimizers that read the feedback subgraph and update trainable parameters.

``OptoPrime`` (trace + feedback -> schema-bound suggestions, new functions as
code blocks), ``OptoPrimeMulti``
(several candidates, then select), ``OPRO`` (history of values and scores),
``TextGrad`` (textual gradients walked backward), plus ``BeamSearch`` and
``BestSoFar`` for search and rollback. Every step is propose -> validate -> apply
and returns a :class:`StepResult`; a failed step changes nothing.
"""

from optimizers.base import NoFeedback, Optimizer, Proposal, StepResult
from optimizers.code_replies import read_code_reply
from optimizers.opro import OPRO
from optimizers.optoprime import (
    SOLVE_DIRECTLY,
    WORK_BACKWARD,
    Approach,
    OptoPrime,
    suggestion_schema,
)
from optimizers.problem import DEFAULT_TITLES, Problem, render_problem
from optimizers.replies import Reply, ReplyError, read_reply
from optimizers.search import BeamSearch, BestSoFar, OptoPrimeMulti
from optimizers.textgrad import TextGrad

__all__ = [
    "DEFAULT_TITLES",
    "OPRO",
    "SOLVE_DIRECTLY",
    "WORK_BACKWARD",
    "Approach",
    "BeamSearch",
    "BestSoFar",
    "NoFeedback",
    "Optimizer",
    "OptoPrime",
    "OptoPrimeMulti",
    "Problem",
    "Proposal",
    "Reply",
    "ReplyError",
    "StepResult",
    "TextGrad",
    "read_code_reply",
    "read_reply",
    "render_problem",
    "suggestion_schema",
]
