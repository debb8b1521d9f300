"""Routing for the objective of the whole run, tuned on logged training outcomes.

Per request, the policy picks ``argmin_b cost_b - lam * p_b(x)``: the expected
cost of backend ``b`` minus ``lam`` times its predicted chance of success. ``lam``
is what one more success is worth in cost units, and one number sets the
trade-off for every request together, which is what a run-level objective needs
(picking per request the lowest ``cost / p`` is another objective, and pays the
most for requests no backend is likely to pass). A request whose predicted chance
is below ``hopeless`` everywhere goes to the cheapest backend.

``lam`` is chosen on the training logs, replaying each candidate with the
predictor's held-out predictions and the logged costs and outcomes:

* :func:`fit_min_cost_of_pass`: minimum total cost / total successes;
* :func:`fit_max_success`: most successes with mean cost per request <= a budget;
* :func:`fit_min_cost`: least mean cost with success rate >= a floor
  (the last two as in the Efficient Agents paper).

Every fit also scores each single backend on the same logs, and routes
everything to the best of them unless routing beats it on training by
``min_gain`` (a margin against tuning noise; for cost-of-pass, in most bootstrap
resamples of the training requests too): the policy then does no worse than the
best single configuration its training data can pick.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from agents.router.policies import Route, RoutingPolicy
from agents.router.predictor import Outcome, SuccessPredictor

MIN_COST_OF_PASS = "minimum cost-of-pass of the run (total cost / total successes)"
MAX_SUCCESS = "maximum success rate with mean cost per request <= {budget:g}"
MIN_COST = "minimum mean cost per request with success rate >= {floor:g}"


@dataclass
class TrainScore:
    """How a routing choice did on the training logs."""

    success_rate: float
    mean_cost: float

    @property
    def cost_of_pass(self) -> float:
        return self.mean_cost / self.success_rate if self.success_rate > 0 else math.inf


class TradeoffPolicy(RoutingPolicy):
    """``argmin_b cost_b - lam * p_b(x)``, or one backend for every request (``fixed``).

    ``objective`` names what the policy was tuned for; ``train`` is its score on the
    training logs and ``note`` why it routes as it does.
    """

    def __init__(
        self,
        predictor: SuccessPredictor,
        costs: Mapping[str, float],
        lam: float,
        *,
        objective: str,
        hopeless: float = 0.05,
        fixed: str | None = None,
        train: TrainScore | None = None,
        met: bool = True,
        note: str = "",
    ):
        if lam < 0 or math.isnan(lam):
            raise ValueError(f"lam must be >= 0, got {lam}")
        if not costs:
            raise ValueError("give the expected cost of at least one backend")
        if fixed is not None and fixed not in costs:
            raise ValueError(f"fixed backend {fixed!r} has no expected cost")
        self.predictor = predictor
        self.costs = dict(costs)
        self.lam = float(lam)
        self.objective = objective
        self.hopeless = hopeless
        self.fixed = fixed
        self.train = train
        self.met = met
        self.note = note

    def route(self, request: str) -> Route:
        if self.fixed is not None:
            return Route([self.fixed], self.note)
        p = self.predictor.predict_one(request)
        return Route([choose(p, self.costs, self.lam, self.hopeless)], f"lam={self.lam:.4g}")

    def backends(self) -> set[str]:
        return set(self.costs)

    def describe(self) -> str:
        how = f"all to {self.fixed}" if self.fixed else f"lam={self.lam:.4g}"
        return f"{self.objective}: {how}" + (f" ({self.note})" if self.note else "")


def choose(p: Mapping[str, float], costs: Mapping[str, float], lam: float, hopeless: float) -> str:
    """The backend minimizing ``cost - lam * p``; the cheapest when every ``p < hopeless``."""
    names = list(costs)
    cheapest = min(names, key=lambda n: (costs[n], names.index(n)))
    if max(p.get(n, 0.0) for n in names) < hopeless:
        return cheapest
    return min(names, key=lambda n: (costs[n] - lam * p.get(n, 0.0), costs[n], names.index(n)))


class _Replay:
    """Training logs as arrays: honest predictions, logged costs and successes."""

    def __init__(self, predictor: SuccessPredictor, table: Sequence[Mapping[str, Outcome]]):
        if not table:
            raise ValueError("tuning a routing policy needs logged training outcomes")
        self.names = list(predictor.mean_cost)
        missing = [n for n in self.names if any(n not in row for row in table)]
        if missing:
            raise ValueError(f"every training request needs an outcome for {missing}")
        requests = [next(iter(row.values())).request for row in table]
        held = predictor.held_out(requests)
        self.p = np.array([[h[n] for n in self.names] for h in held])
        self.cost = np.array([[row[n].cost for n in self.names] for row in table])
        self.win = np.array([[row[n].success for n in self.names] for row in table], dtype=float)
        self.expected = np.array([predictor.mean_cost[n] for n in self.names])

    def choices(self, lam: float, hopeless: float) -> np.ndarray:
        scores = self.expected[None, :] - lam * self.p
        # ties go to the cheaper backend, as in choose()
        order = np.lexsort((np.arange(len(self.names)), self.expected))
        ranked = scores[:, order]
        picked = order[np.argmin(ranked, axis=1)]
        picked[self.p.max(axis=1) < hopeless] = order[0]
        return picked

    def score(self, picked: np.ndarray) -> TrainScore:
        rows = np.arange(len(picked))
        return TrainScore(
            float(self.win[rows, picked].mean()), float(self.cost[rows, picked].mean())
        )

    def single(self, j: int) -> TrainScore:
        return self.score(np.full(len(self.p), j))

    def share_better(self, picked: np.ndarray, j: int, margin: float, rounds: int = 400) -> float:
        """Share of bootstrap resamples of the training requests in which ``picked``
        has a cost-of-pass at least ``margin`` (relative) below backend ``j`` alone."""
        rng = np.random.default_rng(0)
        rows = np.arange(len(picked))
        cost, win = self.cost[rows, picked], self.win[rows, picked]
        alone_cost, alone_win = self.cost[:, j], self.win[:, j]
        better = 0
        for _ in range(rounds):
            i = rng.integers(0, len(rows), len(rows))
            ours = cost[i].sum() / win[i].sum() if win[i].sum() else math.inf
            theirs = alone_cost[i].sum() / alone_win[i].sum() if alone_win[i].sum() else math.inf
            better += ours < (1.0 - margin) * theirs or (ours < math.inf and theirs == math.inf)
        return better / rounds

    def candidates(self) -> list[float]:
        """Every ``lam`` where some training request's choice can change, and 0."""
        found = {0.0}
        c = self.expected
        for a in range(len(c)):
            for b in range(len(c)):
                dp = self.p[:, a] - self.p[:, b]
                ok = (dp > 1e-12) & (c[a] > c[b])
                found.update(((c[a] - c[b]) / dp[ok]).tolist())
        ordered = sorted(found)
        # just past each switch point, where the more expensive backend wins the tie
        return [*ordered, *(v * (1 + 1e-9) + 1e-12 for v in ordered)]


def _tune(predictor, table, hopeless, better, admissible, *, replay=None):
    """The best admissible ``lam`` on the training logs, its score, and every single
    backend's score. Scores are flat between switch points, so among the ``lam``
    values that tie for best the median is taken: away from the edge of the range
    the training data supports, where a new request is likeliest to flip."""
    replay = replay or _Replay(predictor, table)
    scored = []
    for lam in sorted(replay.candidates()):
        score = replay.score(replay.choices(lam, hopeless))
        if admissible(score):
            scored.append((lam, score))
    singles = {n: replay.single(j) for j, n in enumerate(replay.names)}
    if not scored:
        return None, None, singles
    best = scored[0][1]
    for _, score in scored[1:]:
        if better(score, best):
            best = score
    tied = [lam for lam, score in scored if score == best]
    lam = tied[(len(tied) - 1) // 2]
    return lam, replay.score(replay.choices(lam, hopeless)), singles


def fit_min_cost_of_pass(
    predictor: SuccessPredictor,
    train: Sequence[Mapping[str, Outcome]],
    *,
    min_gain: float = 0.05,
    confidence: float = 0.8,
    hopeless: float = 0.05,
) -> TradeoffPolicy:
    """The ``lam`` with the lowest total cost / total successes on the training logs.

    Routing is kept only when it beats the best single backend on train by
    ``min_gain`` (relative) in at least ``confidence`` of bootstrap resamples of the
    training requests: on a few dozen requests a gain of one success is noise.
    """
    replay = _Replay(predictor, train)
    lam, score, singles = _tune(
        predictor,
        train,
        hopeless,
        lambda a, b: a.cost_of_pass < b.cost_of_pass,
        lambda s: s.success_rate > 0,
        replay=replay,
    )
    name = min(singles, key=lambda n: (singles[n].cost_of_pass, predictor.mean_cost[n]))
    single = singles[name]
    if score is None or score.cost_of_pass > (1.0 - min_gain) * single.cost_of_pass:
        return _fixed(
            predictor, name, single, MIN_COST_OF_PASS, hopeless, "no routing gain on train"
        )
    picked = replay.choices(lam, hopeless)
    sure = replay.share_better(picked, replay.names.index(name), min_gain)
    if sure < confidence:
        why = f"routing gain on train not reliable ({sure:.0%} of resamples)"
        return _fixed(predictor, name, single, MIN_COST_OF_PASS, hopeless, why)
    return TradeoffPolicy(
        predictor,
        predictor.mean_cost,
        lam,
        objective=MIN_COST_OF_PASS,
        hopeless=hopeless,
        train=score,
    )


def fit_max_success(
    predictor: SuccessPredictor,
    train: Sequence[Mapping[str, Outcome]],
    budget: float,
    *,
    min_gain: float = 0.02,
    hopeless: float = 0.05,
) -> TradeoffPolicy:
    """The most successes on the training logs with mean cost per request <= ``budget``.

    ``min_gain`` is here an absolute margin in success rate over the best single
    backend within the budget. Raises ``ValueError`` when no backend fits the budget.
    """
    objective = MAX_SUCCESS.format(budget=budget)
    lam, score, singles = _tune(
        predictor,
        train,
        hopeless,
        lambda a, b: (a.success_rate, -a.mean_cost) > (b.success_rate, -b.mean_cost),
        lambda s: s.mean_cost <= budget + 1e-9,
    )
    within = [n for n in singles if singles[n].mean_cost <= budget + 1e-9]
    if score is None and not within:
        cheapest = min(singles.values(), key=lambda s: s.mean_cost)
        raise ValueError(
            f"budget {budget:g} per request is below what even the cheapest backend cost on "
            f"the training requests ({cheapest.mean_cost:.4g}); raise the budget"
        )
    if within:
        name = max(within, key=lambda n: (singles[n].success_rate, -singles[n].mean_cost))
        single = singles[name]
        if score is None or score.success_rate < single.success_rate + min_gain:
            return _fixed(predictor, name, single, objective, hopeless, "no routing gain on train")
    return TradeoffPolicy(
        predictor, predictor.mean_cost, lam, objective=objective, hopeless=hopeless, train=score
    )


def fit_min_cost(
    predictor: SuccessPredictor,
    train: Sequence[Mapping[str, Outcome]],
    floor: float,
    *,
    min_gain: float = 0.05,
    hopeless: float = 0.05,
) -> TradeoffPolicy:
    """The least mean cost on the training logs with success rate >= ``floor``.

    When nothing reaches the floor on training, the most successful choice is used
    and ``met`` is false (the note says so) before anything runs.
    """
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"floor must be in [0, 1], got {floor}")
    objective = MIN_COST.format(floor=floor)
    lam, score, singles = _tune(
        predictor,
        train,
        hopeless,
        lambda a, b: (a.mean_cost, -a.success_rate) < (b.mean_cost, -b.success_rate),
        lambda s: s.success_rate >= floor - 1e-9,
    )
    reaching = [n for n in singles if singles[n].success_rate >= floor - 1e-9]
    if score is None and not reaching:
        lam, score, _ = _tune(
            predictor,
            train,
            hopeless,
            lambda a, b: (a.success_rate, -a.mean_cost) > (b.success_rate, -b.mean_cost),
            lambda s: True,
        )
        best = max(singles, key=lambda n: (singles[n].success_rate, -singles[n].mean_cost))
        note = f"floor {floor:g} out of reach on train: the most successful choice"
        if singles[best].success_rate >= score.success_rate:
            policy = _fixed(predictor, best, singles[best], objective, hopeless, note)
            policy.met = False
            return policy
        return TradeoffPolicy(
            predictor,
            predictor.mean_cost,
            lam,
            objective=objective,
            hopeless=hopeless,
            train=score,
            met=False,
            note=note,
        )
    if reaching:
        name = min(reaching, key=lambda n: (singles[n].mean_cost, -singles[n].success_rate))
        single = singles[name]
        if score is None or score.mean_cost > (1.0 - min_gain) * single.mean_cost:
            return _fixed(predictor, name, single, objective, hopeless, "no routing gain on train")
    return TradeoffPolicy(
        predictor, predictor.mean_cost, lam, objective=objective, hopeless=hopeless, train=score
    )


def _fixed(predictor, name, score, objective, hopeless, why) -> TradeoffPolicy:
    return TradeoffPolicy(
        predictor,
        predictor.mean_cost,
        0.0,
        objective=objective,
        hopeless=hopeless,
        fixed=name,
        train=score,
        note=f"{why}: every request to {name}",
    )
