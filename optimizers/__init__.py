"""LLM optimizers that read the feedback subgraph and update trainable parameters.

``OptoPrime`` (trace + feedback -> schema-bound suggestions, new functions as
code blocks), ``OptoPrimeMulti``
(several candidates, then select), ``OPRO`` (history of values and scores),
``TextGrad`` (textual gradients walked backward), plus ``BeamSearch`` and
``BestSoFar`` for search and rollback, and ``ArchiveSearch`` (a quality-diversity
archive of candidates, MAP-Elites / Go-Explore). Every step is propose -> validate -> apply
and returns a :class:`StepResult`; a failed step changes nothing. Loops depend on
:class:`OptimizerProtocol`; every prompt text is in :mod:`optimizers.prompts`.
"""

from optimizers.archive import ArchiveSearch, Outcome
from optimizers.base import (
    STEP_ERRORS,
    NoFeedback,
    Optimizer,
    Proposal,
    ProposalError,
    StepResult,
    TooManyFailedSteps,
)
from optimizers.code_replies import read_code_reply
from optimizers.opro import OPRO
from optimizers.optoprime import OptoPrime
from optimizers.problem import DEFAULT_TITLES, Problem, render_problem
from optimizers.prompts import SOLVE_DIRECTLY, WORK_BACKWARD, Approach
from optimizers.protocol import OptimizerProtocol, StepOutcome
from optimizers.replies import Reply, ReplyError, read_reply
from optimizers.schemas import suggestion_schema
from optimizers.search import BeamSearch, BestSoFar, OptoPrimeMulti
from optimizers.textgrad import TextGrad

__all__ = [
    "DEFAULT_TITLES",
    "OPRO",
    "SOLVE_DIRECTLY",
    "STEP_ERRORS",
    "WORK_BACKWARD",
    "Approach",
    "ArchiveSearch",
    "BeamSearch",
    "BestSoFar",
    "NoFeedback",
    "Optimizer",
    "OptoPrime",
    "OptimizerProtocol",
    "OptoPrimeMulti",
    "Outcome",
    "Problem",
    "Proposal",
    "ProposalError",
    "Reply",
    "ReplyError",
    "StepOutcome",
    "StepResult",
    "TextGrad",
    "TooManyFailedSteps",
    "read_code_reply",
    "read_reply",
    "render_problem",
    "suggestion_schema",
]
