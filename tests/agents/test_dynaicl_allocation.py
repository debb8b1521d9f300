import numpy as np
import pytest

from agents.dynaicl import BudgetTooSmall, allocate_budget, allocate_min_accuracy

GRID = (0, 1, 2, 4, 8)


def _batch(n_easy=5, n_hard=5, rng=None):
    easy = [0.9, 0.95, 0.97, 0.98, 0.99]
    hard = [0.05, 0.2, 0.4, 0.8, 0.95]
    success = np.array([easy] * n_easy + [hard] * n_hard)
    costs = np.tile(np.array(GRID, dtype=float), (n_easy + n_hard, 1))
    return success, costs


@pytest.mark.parametrize("budget", [0, 1, 3, 7, 10, 20, 33, 50, 80, 1000])
def test_budget_never_exceeded_and_hard_inputs_get_more(budget):
    success, costs = _batch()
    alloc = allocate_budget(GRID, success, costs, budget)
    assert alloc.total_cost <= budget
    assert alloc.total_cost == sum(alloc.ks)
    assert min(alloc.ks[5:]) >= max(alloc.ks[:5]) or budget >= 80
    if budget >= 20:
        assert min(alloc.ks[5:]) >= 4


def test_random_batches_stay_within_token_budgets():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 12))
        success = np.sort(rng.random((n, len(GRID))), axis=1)
        costs = np.cumsum(rng.integers(1, 40, (n, len(GRID))), axis=1).astype(float)
        budget = float(costs[:, 0].sum() + rng.integers(0, 300))
        alloc = allocate_budget(GRID, success, costs, budget)
        assert alloc.total_cost <= budget + 1e-9
        zero = success[:, 0].mean()
        assert alloc.expected_accuracy >= zero - 1e-12


def test_budget_below_zero_shot_cost_is_an_error():
    success, _ = _batch(2, 2)
    costs = np.tile(np.array([10.0, 20, 30, 50, 90]), (4, 1))
    with pytest.raises(BudgetTooSmall, match="below the zero-shot cost"):
        allocate_budget(GRID, success, costs, 39)


def test_min_accuracy_mode_is_cheap_and_records_unreachable_targets():
    success, costs = _batch()
    alloc = allocate_min_accuracy(GRID, success, costs, 0.8)
    assert alloc.met and alloc.expected_accuracy >= 0.8
    assert alloc.ks[:5] == [0] * 5
    assert alloc.total_cost < 8 * 5
    impossible = allocate_min_accuracy(GRID, success, costs, 0.999)
    assert not impossible.met and "out of reach" in impossible.note
    assert impossible.ks[5:] == [8] * 5


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="grid points"):
        allocate_budget(GRID, np.zeros((2, 3)), np.zeros((2, 3)), 10)
