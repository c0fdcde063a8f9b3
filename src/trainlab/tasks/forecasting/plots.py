"""Forecast and attention drawings (matplotlib, PNG), written atomically."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from trainlab.engine.io import atomic_write  # noqa: E402


def _save(figure: plt.Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def plot_forecasts(path: str | Path, history: np.ndarray, history_mask: np.ndarray, target: np.ndarray,
                   target_mask: np.ndarray, forecasts: Mapping[str, np.ndarray], cadence: int,
                   titles: Sequence[str], shown_history: int = 36) -> Path:
    """One panel per window: the last ``shown_history`` history readings, the truth over the
    horizon and every model's forecast (minutes relative to the last reading).

    Args:
        path: PNG file to write.
        history, history_mask: ``(K, L)`` mg/dL and bool of the ``K`` windows drawn.
        target, target_mask: ``(K, H)`` mg/dL and bool.
        forecasts: Model name -> ``(K, H)`` mg/dL.
        cadence: Minutes per slot.
        titles: ``K`` panel titles.
        shown_history: History slots drawn (the most recent).
    """
    count, horizon = target.shape
    columns = min(count, 2)
    rows = int(np.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 3.4 * rows), squeeze=False)
    past = np.arange(-min(shown_history, history.shape[1]) + 1, 1) * cadence
    future = np.arange(1, horizon + 1) * cadence
    for k, axis in enumerate(axes.ravel()):
        if k >= count:
            axis.axis("off")
            continue
        seen = history_mask[k, -len(past):]
        axis.plot(past[seen], history[k, -len(past):][seen], "k.-", lw=1, ms=3, label="history")
        axis.plot(future[target_mask[k]], target[k][target_mask[k]], "o", color="tab:green", ms=4, label="truth")
        for name, forecast in forecasts.items():
            style = "-" if name == "model" else "--"
            axis.plot(future, forecast[k], style, lw=1.5 if name == "model" else 1, label=name)
        axis.axvline(0, color="grey", lw=0.5)
        axis.set_title(titles[k], fontsize=9)
        axis.set_xlabel("minutes from the last reading")
        axis.set_ylabel("glucose (mg/dL)")
    axes.ravel()[0].legend(fontsize=7, loc="best")
    figure.tight_layout()
    return _save(figure, Path(path))


def plot_attention(path: str | Path, history: np.ndarray, history_mask: np.ndarray, weights: np.ndarray,
                   patch_size: int, cadence: int, title: str) -> Path:
    """The history of one window above the last token's attention over its patches.

    Args:
        path: PNG file to write.
        history, history_mask: ``(L,)`` mg/dL and bool.
        weights: ``(L / P,)`` attention weights (sum 1).
        patch_size: ``P`` slots per token.
        cadence: Minutes per slot.
        title: Figure title.
    """
    length = len(history)
    minutes = (np.arange(length) - length + 1) * cadence
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    top.plot(minutes[history_mask], history[history_mask], "k.-", lw=0.8, ms=2)
    top.set_ylabel("glucose (mg/dL)")
    top.set_title(title, fontsize=9)
    centres = (np.arange(len(weights)) * patch_size + (patch_size - 1) / 2 - length + 1) * cadence
    bottom.bar(centres, weights, width=patch_size * cadence * 0.9, color="tab:orange")
    bottom.set_ylabel("attention of the last token")
    bottom.set_xlabel("minutes before the last reading")
    figure.tight_layout()
    return _save(figure, Path(path))
