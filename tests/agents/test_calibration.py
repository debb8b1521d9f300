"""Calibrators map over-confident probabilities to observed rates; ECE and Brier measure it."""

import numpy as np
import pytest

from agents.calibration import Calibrator, calibration_of, fold_indices


def _overconfident(n=400, seed=0):
    """Predictions of 0.95 and 0.05 that come true only 70% and 30% of the time."""
    rng = np.random.default_rng(seed)
    predicted = np.where(np.arange(n) % 2 == 0, 0.95, 0.05)
    truth = np.where(predicted > 0.5, 0.7, 0.3)
    return predicted, (rng.random(n) < truth).astype(float)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibrator_maps_overconfident_predictions_to_observed_rates(method):
    predicted, observed = _overconfident()
    before = calibration_of(predicted, observed)
    cal = Calibrator(method).fit(predicted, observed)
    after = calibration_of(cal(predicted), observed)
    assert before.ece > 0.2
    assert after.ece < 0.05 and after.brier < before.brier
    high = cal(np.array([0.95]))[0]
    assert 0.6 < high < 0.8
    restored = Calibrator.from_json(cal.to_json())
    assert np.array_equal(restored(predicted), cal(predicted))


def test_calibration_report_values_and_bad_input():
    report = calibration_of([0.8, 0.8, 0.2, 0.2], [1, 0, 0, 0])
    # bins: 0.8 predicted vs 0.5 observed, 0.2 vs 0.0, each half the mass
    assert report.ece == pytest.approx(0.25)
    assert report.brier == pytest.approx((0.04 + 0.64 + 0.04 + 0.04) / 4)
    assert report.mean_predicted == pytest.approx(0.5) and report.n == 4
    weighted = calibration_of([0.8, 0.2], [0.5, 0.0], [2, 2])
    assert weighted.ece == pytest.approx(0.25)
    with pytest.raises(ValueError, match="one observed outcome per prediction"):
        calibration_of([0.5], [1, 0])
    with pytest.raises(ValueError, match="unknown calibration method"):
        Calibrator("magic")
    with pytest.raises(RuntimeError, match="not fitted"):
        Calibrator()(np.array([0.5]))
    with pytest.raises(ValueError, match="needs"):
        Calibrator.from_json({"method": "platt", "params": {"a": 1.0}})


def test_folds_cover_every_index_once():
    folds = fold_indices(11, 5, seed=3)
    assert len(folds) == 5
    assert sorted(np.concatenate(folds).tolist()) == list(range(11))
    assert len(fold_indices(3, 5)) == 3
    with pytest.raises(ValueError, match="at least 2"):
        fold_indices(1)
