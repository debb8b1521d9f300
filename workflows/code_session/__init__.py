"""Interactive code-optimization sessions: an LLM proposes faster code, tests and timings decide.

``trace-engine code-session`` is the command; this package is its machinery:
:mod:`target` (find and rewrite the function), :mod:`runs` and :mod:`sandboxed`
(run code in the project's sandbox runner), :mod:`measure` (timing, profiles),
:mod:`checks` (tests, differential check), :mod:`evaluation` (baseline and
candidates), :mod:`proposer` (OptoPrime), :mod:`review` (terminal UI),
:mod:`session` (the loop, resumable state) and :mod:`report`.
"""

from workflows.code_session.evaluation import (
    Baseline,
    BaselineError,
    Evaluation,
    Evaluator,
    Workload,
)
from workflows.code_session.proposer import OptoPrimeProposer, Proposal, SandboxedCode
from workflows.code_session.review import Decision, TerminalReviewer
from workflows.code_session.session import CodeSession, SessionError, start_session
from workflows.code_session.state import Candidate, SessionState, StateFileError
from workflows.code_session.target import SourceChangedError, Target, TargetError, parse_target

__all__ = [
    "Baseline",
    "BaselineError",
    "Candidate",
    "CodeSession",
    "Decision",
    "Evaluation",
    "Evaluator",
    "OptoPrimeProposer",
    "Proposal",
    "SandboxedCode",
    "SessionError",
    "SessionState",
    "SourceChangedError",
    "StateFileError",
    "Target",
    "TargetError",
    "TerminalReviewer",
    "Workload",
    "parse_target",
    "start_session",
]
