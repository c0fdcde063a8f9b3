"""Draw a run's per-epoch history: losses, validation metrics and learning rate."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from trainlab.engine.io import atomic_write  # noqa: E402


def plot_history(history: Sequence[Mapping[str, Any]], path: str | os.PathLike, title: str = "") -> None:
    """Save a three-panel PNG: ``train/*`` losses, ``val/*`` metrics and learning rates, against epoch.

    Args:
        history: Per-epoch entries with ``epoch`` (int, 0-based), ``train/...`` and
            ``val/...`` floats and ``lr`` (group name to float).
        path: Output PNG, written atomically.
        title: Figure title.
    """
    epochs = [h["epoch"] + 1 for h in history]
    keys = sorted({k for h in history for k in h if isinstance(h.get(k), (int, float))})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    for key in [k for k in keys if k.startswith("train/")]:
        axes[0].plot(epochs, [h.get(key) for h in history], marker="o", ms=3, label=key[6:])
    axes[0].set_title("training losses")
    axes[0].set_yscale("log")
    for key in [k for k in keys if k.startswith("val/") and not k.endswith("/num_images")]:  # counts, not rates
        axes[1].plot(epochs, [h.get(key) for h in history], marker="o", ms=3, label=key[4:])
    axes[1].set_title("validation metrics")
    axes[1].set_ylim(0, 1.02)
    groups = sorted({g for h in history for g in (h.get("lr") or {})})
    for group in groups:
        axes[2].plot(epochs, [(h.get("lr") or {}).get(group) for h in history], marker="o", ms=3, label=group)
    axes[2].set_title("learning rate")
    axes[2].set_yscale("log")
    for axis in axes:
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=100))
    plt.close(fig)
