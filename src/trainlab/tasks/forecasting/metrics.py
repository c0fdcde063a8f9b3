"""Forecast accuracy in mg/dL: RMSE, MAE, MARD and the Clarke error grid, per horizon step.

Every function takes forecasts and truths of shape ``(N, H)`` (mg/dL) and a mask ``(N, H)``
(``True`` where the truth is a native reading); masked entries count nowhere. RMSE and MAE are
torchmetrics' ``mean_squared_error(squared=False)`` and ``mean_absolute_error``; MARD (mean
absolute relative difference, %, relative to the reference reading) is 100 x torchmetrics'
``mean_absolute_percentage_error``. The Clarke error grid zones are ours, from the published
boundaries (Clarke W.L., Cox D., Gonder-Frederick L.A., Carter W., Pohl S.L., "Evaluating
clinical accuracy of systems for self-monitoring of blood glucose", Diabetes Care
10(5):622-628, 1987, Fig. 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torchmetrics.functional import mean_absolute_error, mean_absolute_percentage_error, mean_squared_error

ZONES = ("A", "B", "C", "D", "E")
METRICS = ("rmse", "mae", "mard", "clarke_a", "clarke_b", "clarke_ab", "n")


def clarke_zones(reference: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Clarke error grid zone of every (reference, prediction) pair (Clarke et al. 1987, Fig. 1).

    Boundaries, mg/dL (``r`` reference, ``p`` prediction), tested in the order A, E, C, D, B:

    - A: ``r <= 70`` and ``p <= 70``, or ``0.8 r <= p <= 1.2 r`` (within 20 %);
    - E: ``r >= 180`` and ``p <= 70``, or ``r <= 70`` and ``p >= 180`` (opposite treatment);
    - C: ``70 <= r <= 290`` and ``p >= r + 110``, or ``130 <= r <= 180`` and ``p <= 7/5 r - 182``
      (over-correction);
    - D: ``r >= 240`` and ``70 <= p <= 180``, or ``r <= 175/3`` and ``70 <= p <= 180``, or
      ``175/3 <= r <= 70`` and ``p >= 6/5 r`` (failure to detect);
    - B: everything else (benign).

    Args:
        reference: ``(...)`` float reference glucose, mg/dL.
        predicted: ``(...)`` float predicted glucose, same shape.

    Returns:
        ``(...)`` array of zone letters (``<U1``).

    Raises:
        ValueError: shapes differ.
    """
    r = np.asarray(reference, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if r.shape != p.shape:
        raise ValueError(f"reference {r.shape} and prediction {p.shape} shapes differ")
    a = ((r <= 70) & (p <= 70)) | ((p <= 1.2 * r) & (p >= 0.8 * r))
    e = ((r >= 180) & (p <= 70)) | ((r <= 70) & (p >= 180))
    c = ((r >= 70) & (r <= 290) & (p >= r + 110)) | ((r >= 130) & (r <= 180) & (p <= 7 / 5 * r - 182))
    d = (((r >= 240) & (p >= 70) & (p <= 180)) | ((r <= 175 / 3) & (p <= 180) & (p >= 70))
         | ((r >= 175 / 3) & (r <= 70) & (p >= 6 / 5 * r)))
    return np.select([a, e, c, d], ["A", "E", "C", "D"], default="B").astype("<U1")


def point_metrics(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """RMSE, MAE (mg/dL), MARD (%), Clarke A, B, A+B (% of pairs) and the count ``n`` of flat arrays.

    Returns NaN for every metric when there is no pair (``n`` = 0).
    """
    predicted = np.asarray(predicted, dtype=np.float64).ravel()
    truth = np.asarray(truth, dtype=np.float64).ravel()
    n = len(truth)
    if n == 0:
        return {**{k: float("nan") for k in METRICS[:-1]}, "n": 0}
    p, t = torch.from_numpy(predicted), torch.from_numpy(truth)
    zones = clarke_zones(truth, predicted)
    share_a, share_b = float((zones == "A").mean() * 100), float((zones == "B").mean() * 100)
    return {"rmse": float(mean_squared_error(p, t, squared=False)), "mae": float(mean_absolute_error(p, t)),
            "mard": float(mean_absolute_percentage_error(p, t) * 100), "clarke_a": share_a, "clarke_b": share_b,
            "clarke_ab": share_a + share_b, "n": n}


def horizon_metrics(predicted: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, dict[str, float]]:
    """:func:`point_metrics` per horizon step (``"step_1"`` .. ``"step_H"``) and over all steps (``"all"``).

    Args:
        predicted, truth: ``(N, H)`` mg/dL.
        mask: ``(N, H)`` bool, ``True`` where ``truth`` is a reading.

    Raises:
        ValueError: shapes differ.
    """
    predicted, truth, mask = np.asarray(predicted), np.asarray(truth), np.asarray(mask, dtype=bool)
    if not predicted.shape == truth.shape == mask.shape or predicted.ndim != 2:
        raise ValueError(f"predicted {predicted.shape}, truth {truth.shape} and mask {mask.shape} must be the same (N, H)")
    out = {f"step_{h + 1}": point_metrics(predicted[mask[:, h], h], truth[mask[:, h], h]) for h in range(truth.shape[1])}
    out["all"] = point_metrics(predicted[mask], truth[mask])
    return out


def metric_table(forecasts: Mapping[str, np.ndarray], truth: np.ndarray, mask: np.ndarray, subjects: np.ndarray,
                 cadence: int, steps: Sequence[int] | None = None) -> pd.DataFrame:
    """Long table of every model's metrics per horizon step, overall and per subject.

    Args:
        forecasts: Model name -> ``(N, H)`` forecasts, mg/dL, all on the same windows.
        truth, mask: ``(N, H)`` truth (mg/dL) and its mask.
        subjects: ``(N,)`` subject id of each window.
        cadence: Minutes per step (``minutes = step x cadence``).
        steps: Horizon steps to include (1-based); ``None``: all.

    Returns:
        Columns ``model, subject ("all" or the id), step (1..H or "all"), minutes, rmse, mae, mard,
        clarke_a, clarke_b, clarke_ab, n``.
    """
    horizon = truth.shape[1]
    steps = list(steps) if steps is not None else list(range(1, horizon + 1))
    groups: list[tuple[Any, np.ndarray]] = [("all", np.ones(len(truth), dtype=bool))]
    groups += [(int(s), subjects == s) for s in np.unique(subjects)]
    rows = []
    for name, forecast in forecasts.items():
        for subject, rows_of in groups:
            per_step = horizon_metrics(forecast[rows_of], truth[rows_of], mask[rows_of])
            for step in [*steps, "all"]:
                key = f"step_{step}" if step != "all" else "all"
                rows.append({"model": name, "subject": subject, "step": step,
                             "minutes": step * cadence if step != "all" else "all", **per_step[key]})
    return pd.DataFrame(rows)


def headline(table: pd.DataFrame, minutes: Sequence[int] = (30, 60)) -> dict[str, dict[str, float]]:
    """``{model: {"rmse_30": ..., "mae_60": ..., ...}}`` from :func:`metric_table`'s overall rows at ``minutes``."""
    out: dict[str, dict[str, float]] = {}
    overall = table[(table["subject"] == "all") & (table["minutes"].isin(list(minutes)))]
    for row in overall.itertuples():
        for metric in METRICS[:-1]:
            out.setdefault(row.model, {})[f"{metric}_{row.minutes}"] = float(getattr(row, metric))
    return out
