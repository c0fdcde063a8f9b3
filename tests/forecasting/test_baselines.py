"""The baselines on a real slice of CGMacros and on exact lines."""

from __future__ import annotations

import numpy as np
import pytest

from trainlab.tasks.forecasting.baselines import RidgeLags, lag_features, last_observed, linear_extrapolation, persistence


def _arrays(windows):
    return windows.history.numpy(), windows.history_mask.numpy(), windows.target.numpy(), windows.target_mask.numpy()


def test_persistence_repeats_the_last_reading(small_data):
    history, mask, _, _ = _arrays(small_data.windows["test"])
    forecast = persistence(history, mask, 12)
    assert forecast.shape == (len(history), 12)
    assert (forecast == history[:, -1:]).all()  # the last slot is always observed
    # With the last slots missing it is the last observed reading.
    gapped = mask.copy()
    gapped[:, -3:] = False
    assert (persistence(history, gapped, 4)[:, 0] == history[:, -4]).all()


def test_linear_extrapolation_continues_a_line_and_skips_missing_slots():
    history = np.array([[0.0, 100.0, 105.0, 110.0], [0.0, 100.0, 999.0, 110.0], [0.0, 0.0, 0.0, 120.0]])
    mask = np.array([[True, True, True, True], [True, True, False, True], [False, False, False, True]])
    forecast = linear_extrapolation(history, mask, horizon=3, points=3)
    assert forecast[0] == pytest.approx([115.0, 120.0, 125.0])
    assert forecast[1] == pytest.approx([115.0, 120.0, 125.0])  # the 999 is masked out
    assert forecast[2] == pytest.approx([120.0, 120.0, 120.0])  # one reading: persistence


def test_lag_features_carry_the_previous_reading_forward():
    history = np.array([[90.0, 0.0, 100.0, 0.0, 110.0]])
    mask = np.array([[True, False, True, False, True]])
    assert lag_features(history, mask, 4)[0] == pytest.approx([-20.0, -10.0, -10.0, 0.0])
    assert last_observed(history, mask)[0] == 110.0


def test_ridge_fits_on_training_windows_and_beats_persistence_there(small_data):
    history, mask, target, target_mask = _arrays(small_data.windows["train"])
    ridge = RidgeLags(lags=24, alpha=1.0).fit(history, mask, target, target_mask)
    assert ridge.coef.shape == (12, 24) and ridge.intercept.shape == (12,)
    complete = target_mask.all(axis=1)
    # The fitted objective is at most that of "no change" (coefficients 0, intercept 0), so on the
    # windows it was fitted on its squared error is at most persistence's.
    err_ridge = ((ridge.predict(history, mask) - target)[complete] ** 2).mean()
    err_persistence = ((persistence(history, mask, 12) - target)[complete] ** 2).mean()
    assert err_ridge <= err_persistence
    test_history, test_mask, _, _ = _arrays(small_data.windows["test"])
    assert np.isfinite(ridge.predict(test_history, test_mask)).all()
