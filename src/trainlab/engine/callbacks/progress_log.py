"""One log line per epoch for runs whose output is not a terminal (CI, SLURM, nohup).

A progress bar redrawn in place is unreadable in a log file; :class:`EpochProgressLog` writes
instead, through Python's logging (which Hydra sends to the console and to the run's
``train.log``), one line at the end of every training epoch::

    epoch 2/20 | step 40 | train/loss 0.5123 | val/hmean 0.7312 val/loss 0.4021 | lr 9.8e-04 | elapsed 0:00:42 | eta 0:06:18
"""

from __future__ import annotations

import datetime
import logging
import math
import sys
import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)

_MODES = ("auto", "always", "never")


def stdout_is_terminal() -> bool:
    """Whether standard output is an interactive terminal (``False`` when piped, redirected or closed)."""
    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except ValueError:  # closed stream
        return False


def _clock(seconds: float) -> str:
    """``3725.2`` -> ``1:02:05`` (hours:minutes:seconds, rounded to the second)."""
    return str(datetime.timedelta(seconds=round(seconds)))


def _number(value: Any) -> float | None:
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else None
    return float(value) if isinstance(value, (int, float)) else None


class EpochProgressLog(Callback):
    """Log one line per training epoch: epoch, global step, training losses, validation metrics,
    learning rate, elapsed and estimated remaining time.

    Args:
        mode: ``auto`` (log only when standard output is not a terminal, where the progress bar
            serves), ``always`` or ``never``.

    Values come from ``trainer.callback_metrics`` at the end of the training epoch (validation
    of that epoch has run by then): the epoch-level ``train/*`` and ``val/*`` values (``_step``
    entries left out), 4 significant digits. ``lr`` is the first optimizer's first parameter
    group's learning rate, as used in the epoch that ended. ``elapsed`` is the wall time since
    this process started training (a resumed run counts from its resumption); ``eta`` is the
    mean epoch time of this process times the epochs left to ``max_epochs`` (no ``eta`` without
    a finite ``max_epochs``), which ignores early stopping and ``max_time``. Global rank 0 only.

    Raises:
        ValueError: ``mode`` is not one of ``auto``, ``always``, ``never``.
    """

    def __init__(self, mode: str = "auto"):
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"EpochProgressLog mode={mode!r}: choose one of {', '.join(_MODES)}")
        self.mode = mode
        self._start: float | None = None
        self._first_epoch = 0
        self._lr: float | None = None

    @property
    def active(self) -> bool:
        """Whether lines are written (``mode``, and for ``auto`` whether stdout is a terminal)."""
        return self.mode == "always" or (self.mode == "auto" and not stdout_is_terminal())

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.monotonic()
        self._first_epoch = trainer.current_epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        groups = trainer.optimizers[0].param_groups if trainer.optimizers else []
        self._lr = float(groups[0]["lr"]) if groups else None

    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.active and not trainer.sanity_checking:
            log.info("%s", self.line(trainer))

    def line(self, trainer: L.Trainer) -> str:
        """The progress line for the epoch that just ended (see the class docstring for the fields)."""
        epoch = trainer.current_epoch
        max_epochs = trainer.max_epochs if trainer.max_epochs not in (None, -1) else None
        parts = [f"epoch {epoch + 1}/{max_epochs}" if max_epochs else f"epoch {epoch + 1}", f"step {trainer.global_step}"]
        values: dict[str, float] = {}
        for key, value in trainer.callback_metrics.items():
            number = _number(value)
            if number is None or key.endswith("_step") or not key.startswith(("train/", "val/")):
                continue
            values[key[:-6] if key.endswith("_epoch") else key] = number
        for prefix in ("train/", "val/"):
            group = [f"{k} {v:.4g}" for k, v in sorted(values.items()) if k.startswith(prefix)]
            if group:
                parts.append(" ".join(group))
        if self._lr is not None:
            parts.append(f"lr {self._lr:.2e}")
        if self._start is not None:
            elapsed = time.monotonic() - self._start
            parts.append(f"elapsed {_clock(elapsed)}")
            done = epoch + 1 - self._first_epoch
            if max_epochs and done > 0 and math.isfinite(elapsed):
                parts.append(f"eta {_clock(elapsed / done * max(0, max_epochs - epoch - 1))}")
        return " | ".join(parts)
