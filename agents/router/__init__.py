"""Cost-aware routing: send each request to the backend with the best cost for its quality.

:class:`RoutedLLM` is itself an LLM; its policy is fixed, a threshold on a learned
success predictor (calibratable to a share of strong-backend calls), a cascade
with a check or a judge, or a :class:`TradeoffPolicy` tuned on training logs for
the objective of the whole run: minimum cost-of-pass (:func:`fit_min_cost_of_pass`),
maximum success within a cost budget (:func:`fit_max_success`) or minimum cost
above a success floor (:func:`fit_min_cost`). The success predictor is calibrated.
"""

from agents.router.backends import Backend
from agents.router.checks import LLMJudge, matches
from agents.router.cost import CostModel, cost_of_pass, cost_of_pass_from
from agents.router.objectives import (
    TradeoffPolicy,
    TrainScore,
    fit_max_success,
    fit_min_cost,
    fit_min_cost_of_pass,
)
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
    "TradeoffPolicy",
    "TrainScore",
    "collect_outcomes",
    "cost_of_pass",
    "cost_of_pass_from",
    "evaluate_backends",
    "evaluate_policy",
    "fit_max_success",
    "fit_min_cost",
    "fit_min_cost_of_pass",
    "format_results",
    "matches",
    "plot_cost_quality",
    "request_text",
]
