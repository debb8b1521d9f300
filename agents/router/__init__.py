"""Cost-aware routing: send each request to the backend with the best cost for its quality.

:class:`RoutedLLM` is itself an LLM; its policy is fixed, a threshold on a learned
success predictor (calibratable to a share of strong-backend calls), a cascade
with a check or a judge, or the minimum expected cost-of-pass under a quality floor.
"""

from agents.router.backends import Backend
from agents.router.checks import LLMJudge, matches
from agents.router.cost import CostModel, cost_of_pass, cost_of_pass_from
from agents.router.policies import (
    CascadePolicy,
    CostOfPassPolicy,
    FixedPolicy,
    Route,
    RoutingPolicy,
    ThresholdPolicy,
)
from agents.router.predictor import Outcome, SuccessPredictor
from agents.router.report import (
    PolicyResult,
    collect_outcomes,
    evaluate_backends,
    evaluate_policy,
    format_results,
    plot_cost_quality,
)
from agents.router.routed import RoutedLLM, RouteRecord, request_text

__all__ = [
    "Backend",
    "CascadePolicy",
    "CostModel",
    "CostOfPassPolicy",
    "FixedPolicy",
    "LLMJudge",
    "Outcome",
    "PolicyResult",
    "Route",
    "RouteRecord",
    "RoutedLLM",
    "RoutingPolicy",
    "SuccessPredictor",
    "ThresholdPolicy",
    "collect_outcomes",
    "cost_of_pass",
    "cost_of_pass_from",
    "evaluate_backends",
    "evaluate_policy",
    "format_results",
    "matches",
    "plot_cost_quality",
    "request_text",
]
