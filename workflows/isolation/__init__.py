"""The one sandbox runner for code trace-engine did not write (code repair, the demo,
code sessions): :func:`run_isolated` runs a job module under :class:`Limits` and
returns what the host observed (:class:`Outcome`)."""

from workflows.isolation.levels import (
    BUBBLEWRAP,
    RLIMIT,
    IsolationError,
    available_level,
    describe,
)
from workflows.isolation.limits import Limits
from workflows.isolation.runner import Job, Outcome, run_isolated

__all__ = [
    "BUBBLEWRAP",
    "RLIMIT",
    "IsolationError",
    "Job",
    "Limits",
    "Outcome",
    "available_level",
    "describe",
    "run_isolated",
]
