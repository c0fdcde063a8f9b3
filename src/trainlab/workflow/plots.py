"""Ablation plots: the metric against each swept parameter, and every run's training curves.

Both read the table of ``trainlab collect``; the curves come from each run's
``manifest.json`` history. PNGs are written atomically.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from trainlab.engine.io import atomic_write  # noqa: E402


def _save(fig: plt.Figure, path: str | os.PathLike) -> Path:
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=100))
    plt.close(fig)
    return Path(path)


def _numeric(values: pd.Series) -> bool:
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


def plot_metric_vs_parameters(runs: pd.DataFrame, metric: str, parameters: Sequence[str],
                              path: str | os.PathLike) -> Path:
    """One panel per parameter: every run's ``metric`` (dots) and the mean per value (line).

    Numeric parameters spanning a factor of 10 or more get a log x axis; others are placed
    at evenly spaced categories.

    Raises:
        ValueError: no parameter to plot.
    """
    if not parameters:
        raise ValueError("no swept parameter to plot the metric against")
    fig, axes = plt.subplots(1, len(parameters), figsize=(4.5 * len(parameters), 3.8), squeeze=False,
                             constrained_layout=True)
    for axis, parameter in zip(axes[0], parameters):
        values = runs[parameter]
        if _numeric(values):
            x = pd.to_numeric(values)
            positive = x[x > 0]
            if len(positive) == len(x) and positive.max() / positive.min() >= 10:
                axis.set_xscale("log")
            means = runs.assign(_x=x).groupby("_x")[metric].mean()
            axis.plot(means.index, means.values, "-", color="C0", alpha=0.6, label="mean")
            axis.scatter(x, runs[metric], color="C0", zorder=3, label="runs")
        else:
            labels = list(dict.fromkeys(values.astype(str)))
            position = {label: i for i, label in enumerate(labels)}
            x = values.astype(str).map(position)
            means = runs.assign(_x=x).groupby("_x")[metric].mean()
            axis.plot(means.index, means.values, "-", color="C0", alpha=0.6, label="mean")
            axis.scatter(x, runs[metric], color="C0", zorder=3, label="runs")
            axis.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
        axis.set_xlabel(parameter)
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{metric} against the swept parameters ({len(runs)} runs)")
    return _save(fig, path)


def plot_training_curves(runs: pd.DataFrame, path: str | os.PathLike, label_columns: Sequence[str] = (),
                         metrics: Sequence[str] = ("train/loss",)) -> Path:
    """Overlay every run's per-epoch history: one panel per metric, one line per run.

    Args:
        runs: Collected rows with ``run_dir`` (the manifest is read from there) and ``run``.
        path: Output PNG.
        label_columns: Columns that label a run's line (default: its ``run`` folder).
        metrics: History keys to draw against the epoch (1-based), e.g. ``("train/loss", <the
            runs' optimized metric>)``.

    Raises:
        FileNotFoundError: no run's manifest could be read.
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), squeeze=False, constrained_layout=True)
    drawn = 0
    for _, row in runs.iterrows():
        manifest = Path(str(row["run_dir"])) / "manifest.json"
        if not manifest.is_file():
            continue
        history = json.loads(manifest.read_text(encoding="utf-8")).get("history") or []
        label = ", ".join(f"{c}={row[c]}" for c in label_columns) or str(row["run"])
        for axis, metric in zip(axes[0], metrics):
            points = [(h["epoch"] + 1, h[metric]) for h in history
                      if isinstance(h.get(metric), (int, float)) and math.isfinite(h[metric])]
            if points:
                axis.plot(*zip(*points), marker="o", ms=3, label=label)
        drawn += 1
    if not drawn:
        plt.close(fig)
        raise FileNotFoundError("no run's manifest.json could be read (run_dir column) to draw training curves")
    for axis, metric in zip(axes[0], metrics):
        axis.set_title(metric)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        if "loss" in metric:
            axis.set_yscale("log")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"training curves of {drawn} runs")
    return _save(fig, path)
