"""The baselines every glucose-forecasting paper reports, on the same windows as the model.

- Persistence: the last reading, repeated over the horizon (the "zero-order hold"; e.g. Oviedo
  et al., "A review of personalized blood glucose prediction strategies for T1DM patients",
  Int. J. Numer. Method. Biomed. Eng. 33(6), 2017, Sec. 5).
- Linear extrapolation: the least-squares line through the readings of the last few slots,
  continued over the horizon (Sparacino et al., "Glucose concentration can be predicted ahead
  in time from continuous glucose monitoring sensor time-series", IEEE TBME 54(5), 2007, use
  first-order models of recent readings).
- Ridge regression on lags: each future change from the last reading as a linear function of
  the last ``lags`` readings' differences from it (an autoregressive model with an L2 penalty,
  scikit-learn ``Ridge``), fitted on training windows only.

Inputs are a split's window arrays (:class:`~trainlab.tasks.forecasting.data.Windows` as NumPy):
``history`` ``(N, L)`` mg/dL and ``history_mask`` ``(N, L)`` bool, last slot observed.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge


def last_observed(history: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(N,)`` the last observed reading of each window's history, mg/dL.

    Raises:
        ValueError: a window has no observed reading.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any(axis=1).all():
        raise ValueError(f"{int((~mask.any(axis=1)).sum())} window(s) have no observed reading")
    last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)
    return np.asarray(history)[np.arange(len(history)), last]


def persistence(history: np.ndarray, mask: np.ndarray, horizon: int) -> np.ndarray:
    """``(N, H)`` float32: the last observed reading at every step."""
    return np.repeat(last_observed(history, mask)[:, None], horizon, axis=1).astype(np.float32)


def linear_extrapolation(history: np.ndarray, mask: np.ndarray, horizon: int, points: int = 3) -> np.ndarray:
    """``(N, H)`` float32: the least-squares line through the observed readings among the last
    ``points`` slots, evaluated at the next ``H`` slots; persistence where fewer than 2 are observed.

    Raises:
        ValueError: ``points`` < 2.
    """
    if points < 2:
        raise ValueError(f"linear extrapolation needs points >= 2, got {points}")
    y = np.asarray(history, dtype=np.float64)[:, -points:]
    w = np.asarray(mask, dtype=np.float64)[:, -points:]
    x = np.arange(-points + 1, 1, dtype=np.float64)[None, :]
    count = w.sum(axis=1, keepdims=True)
    safe = np.maximum(count, 1.0)
    x_mean, y_mean = (w * x).sum(axis=1, keepdims=True) / safe, (w * y).sum(axis=1, keepdims=True) / safe
    sxx = (w * (x - x_mean) ** 2).sum(axis=1, keepdims=True)
    slope = np.where(sxx > 0, (w * (x - x_mean) * (y - y_mean)).sum(axis=1, keepdims=True) / np.maximum(sxx, 1e-12), 0.0)
    steps = np.arange(1, horizon + 1, dtype=np.float64)[None, :]
    line = y_mean + slope * (steps - x_mean)
    fallback = persistence(history, mask, horizon)
    return np.where(count >= 2, line, fallback).astype(np.float32)


def lag_features(history: np.ndarray, mask: np.ndarray, lags: int) -> np.ndarray:
    """``(N, lags)`` float64: the last ``lags`` slots minus the last observed reading, missing slots
    carried forward from the previous observed slot (0 change where none precedes them)."""
    history = np.asarray(history, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    positions = np.where(mask, np.arange(mask.shape[1])[None, :], -1)
    filled_from = np.maximum.accumulate(positions, axis=1)[:, -lags:]
    last = last_observed(history, mask)[:, None]
    values = np.take_along_axis(history, np.maximum(filled_from, 0), axis=1)
    return np.where(filled_from >= 0, values, last) - last


class RidgeLags:
    """Ridge regression of the ``H`` future changes on the last ``lags`` readings (:func:`lag_features`).

    Args:
        lags: History slots used as features.
        alpha: L2 penalty (scikit-learn ``Ridge(alpha)``), in (mg/dL)^2 units of the features.

    Attributes (after :meth:`fit`, or set from a checkpoint):
        coef: ``(H, lags)`` float64; intercept: ``(H,)`` float64.
    """

    def __init__(self, lags: int = 24, alpha: float = 1.0):
        if lags < 1:
            raise ValueError(f"ridge lags must be >= 1, got {lags}")
        self.lags = int(lags)
        self.alpha = float(alpha)
        self.coef: np.ndarray | None = None
        self.intercept: np.ndarray | None = None

    def fit(self, history: np.ndarray, mask: np.ndarray, target: np.ndarray, target_mask: np.ndarray) -> RidgeLags:
        """Fit on the windows whose targets are all observed (missing targets are never filled).

        Raises:
            ValueError: no window has all its targets observed.
        """
        complete = np.asarray(target_mask, dtype=bool).all(axis=1)
        if not complete.any():
            raise ValueError("no training window has all its targets observed; cannot fit the ridge baseline")
        features = lag_features(history[complete], mask[complete], self.lags)
        change = np.asarray(target, dtype=np.float64)[complete] - last_observed(history[complete], mask[complete])[:, None]
        model = Ridge(alpha=self.alpha).fit(features, change)
        self.coef, self.intercept = np.asarray(model.coef_), np.asarray(model.intercept_)
        return self

    def predict(self, history: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``(N, H)`` float32 forecasts, mg/dL.

        Raises:
            RuntimeError: not fitted.
        """
        if self.coef is None or self.intercept is None:
            raise RuntimeError("the ridge baseline is not fitted")
        features = lag_features(history, mask, self.lags)
        change = features @ self.coef.T + self.intercept[None, :]
        return (last_observed(history, mask)[:, None] + change).astype(np.float32)
