"""Preview a configured LR schedule without training: the LR of every parameter group at every step.

The optimizer and the schedule are built exactly as :class:`~trainlab.engine.module.TrainlabModule`
builds them (:mod:`trainlab.engine.optim`), over a stand-in model with the same parameter
groups, and stepped as Lightning steps them: per-step schedules after every optimizer step,
per-epoch schedules after every ``steps_per_epoch`` steps.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from trainlab.engine.io import atomic_write
from trainlab.engine.optim import RunLength, build_optimizer, build_scheduler, iter_learning_rates


def _stand_in_model(encoder_prefix: str) -> nn.Module:
    """A module with a weight and a norm layer under ``encoder_prefix`` and outside it, so
    that the four parameter groups (encoder or not, decayed or not) all exist."""
    root = nn.Module()
    owner = root
    parts = [p for p in encoder_prefix.split(".") if p]
    for part in parts[:-1]:
        child = nn.Module()
        owner.add_module(part, child)
        owner = child
    owner.add_module(parts[-1] if parts else "encoder", nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)))
    root.add_module("head", nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)))
    return root


def simulate_schedule(optimizer_config: Mapping[str, Any], scheduler_config: Mapping[str, Any] | None,
                      run: RunLength) -> pd.DataFrame:
    """The learning rate of each parameter group at every optimizer step of a run.

    Args:
        optimizer_config: The ``optimizer`` section.
        scheduler_config: The ``scheduler`` section (``None``: constant LR).
        run: Steps per epoch, epochs and total steps of the run.

    Returns:
        One row per optimizer step: ``step`` (0-based), ``epoch`` (fractional, ``step /
        steps_per_epoch``) and one column per parameter group name with the LR used by
        that step.

    Raises:
        ConfigError: as :func:`~trainlab.engine.optim.build_optimizer` and
            :func:`~trainlab.engine.optim.build_scheduler`.
    """
    model = _stand_in_model(str(optimizer_config.get("encoder_prefix", "net.encoder.")))
    optimizer = build_optimizer(model, optimizer_config)
    schedule = build_scheduler(optimizer, scheduler_config, run)
    rows = []
    for step in range(run.total_steps):
        rows.append({"step": step, "epoch": step / run.steps_per_epoch, **dict(iter_learning_rates(optimizer))})
        optimizer.step()  # no gradients: a no-op that keeps the scheduler's call-order check quiet
        if schedule is None:
            continue
        frequency = schedule["frequency"]
        if schedule["interval"] == "step":
            if (step + 1) % frequency == 0:
                schedule["scheduler"].step()
        elif (step + 1) % run.steps_per_epoch == 0 and ((step + 1) // run.steps_per_epoch) % frequency == 0:
            schedule["scheduler"].step()
    return pd.DataFrame(rows)


def plot_schedule(frame: pd.DataFrame, path: str | os.PathLike, title: str = "") -> Path:
    """Draw the LR curves of :func:`simulate_schedule` (x: epoch, y: LR, one line per
    distinct group curve) and write the PNG atomically.

    Returns:
        The PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [c for c in frame.columns if c not in ("step", "epoch")]
    distinct: dict[str, str] = {}
    for group in groups:
        twin = next((g for g in distinct if frame[g].equals(frame[group])), None)
        if twin is None:
            distinct[group] = group
        else:
            distinct[twin] = f"{distinct[twin]}, {group}"
    figure, axis = plt.subplots(figsize=(8, 4.5))
    for group, label in distinct.items():
        axis.plot(frame["epoch"], frame[group], label=label)
    axis.set_xlabel("epoch")
    axis.set_ylabel("learning rate")
    axis.set_title(title)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def steps_per_epoch(num_batches: int, accumulate_grad_batches: int = 1, limit_train_batches: int | float | None = None) -> int:
    """Optimizer steps per epoch from the number of training batches, as Lightning counts them.

    Args:
        num_batches: Batches of the training dataloader (``len(loader)``).
        accumulate_grad_batches: Batches per optimizer step.
        limit_train_batches: Lightning's limit (an int count or a float fraction), or ``None``.

    Raises:
        ValueError: fewer than one batch.
    """
    if limit_train_batches is not None:
        num_batches = min(num_batches, int(limit_train_batches)) if isinstance(limit_train_batches, int) \
            else int(num_batches * float(limit_train_batches))
    if num_batches < 1:
        raise ValueError("the training dataloader has no batch: check data.root, data.batch_size and limits")
    return -(-num_batches // max(1, int(accumulate_grad_batches)))

