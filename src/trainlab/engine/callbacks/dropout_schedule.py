"""Dropout schedules: adaptive (p ramps over epochs) and late (switched on at a step).

Source: Liu et al. 2023, "Dropout Reduces Underfitting" (ICML): dropout used only early
(early dropout) or only late (late dropout) in training; the ramp generalises both.
Both callbacks set ``p`` of every dropout layer of the model (``nn.Dropout``,
``Dropout1d/2d/3d``, ``AlphaDropout``) and, with ``drop_path: true``, scale the
stochastic-depth rates of timm ``DropPath`` layers (Huang et al. 2016), keeping their
depth profile. They hold no state: the rate is a function of the epoch or step, so a
resumed run gets the same rates.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from torch import nn

from trainlab.engine.model_options import drop_path_modules, dropout_modules, set_dropout

log = logging.getLogger(__name__)


def _check_rate(section: str, key: str, value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"callbacks.{section}.{key} must be in [0, 1), got {value}")
    return float(value)


class _DropoutCallback(Callback):
    def __init__(self, drop_path: bool, peak: float):
        super().__init__()
        self.drop_path = bool(drop_path)
        self.peak = peak
        self.current_p: float | None = None
        self._profile: dict[nn.Module, float] = {}
        self._layers = 0

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._layers = len(dropout_modules(pl_module))
        self._profile = {m: float(m.drop_prob) for m in drop_path_modules(pl_module)} if self.drop_path else {}
        if self._layers == 0 and not self._profile:
            log.warning("%s: the model has no dropout layer%s; the schedule changes nothing", type(self).__name__,
                        " and no DropPath" if self.drop_path else "")

    def _apply(self, pl_module: L.LightningModule, p: float) -> None:
        if p == self.current_p:
            return
        scale = (p / self.peak) if (self._profile and self.peak > 0) else None
        set_dropout(pl_module, p, self._profile, scale)
        self.current_p = p

    def manifest_summary(self) -> dict[str, Any]:
        """The rate in use and how many layers it reaches."""
        return {"p": self.current_p, "dropout_layers": self._layers, "drop_path_layers": len(self._profile)}


class AdaptiveDropout(_DropoutCallback):
    """Ramp the dropout rate linearly from ``initial`` to ``final`` over ``epochs`` epochs.

    ``p(epoch) = initial + (final - initial) * clip((epoch - start_epoch) / epochs, 0, 1)``,
    set at the start of each training epoch (epochs 0-based). ``initial > final`` gives
    early dropout that fades out.

    Args:
        initial: Rate at ``start_epoch`` and before, in ``[0, 1)``.
        final: Rate from ``start_epoch + epochs`` on, in ``[0, 1)``.
        epochs: Ramp length in epochs (>= 1).
        start_epoch: First epoch of the ramp.
        drop_path: Also scale DropPath rates by ``p / max(initial, final)``.

    Raises:
        ValueError: a rate outside ``[0, 1)`` or ``epochs < 1``.
    """

    manifest_key = "adaptive_dropout"

    def __init__(self, initial: float = 0.1, final: float = 0.6, epochs: int = 30, start_epoch: int = 0,
                 drop_path: bool = False):
        self.initial, self.final = _check_rate("adaptive_dropout", "initial", initial), \
            _check_rate("adaptive_dropout", "final", final)
        if epochs < 1:
            raise ValueError(f"callbacks.adaptive_dropout.epochs must be >= 1, got {epochs}")
        super().__init__(drop_path, max(initial, final))
        self.epochs, self.start_epoch = int(epochs), int(start_epoch)

    def p_at(self, epoch: int) -> float:
        """The dropout rate of a 0-based epoch."""
        progress = min(max((epoch - self.start_epoch) / self.epochs, 0.0), 1.0)
        return self.initial + (self.final - self.initial) * progress

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._apply(pl_module, self.p_at(trainer.current_epoch))


class LateDropout(_DropoutCallback):
    """Dropout off (``p = before``) until optimizer step ``start_step``, then ``p``.

    Checked before every training batch against ``trainer.global_step`` (optimizer steps).

    Args:
        p: Rate from ``start_step`` on, in ``[0, 1)``.
        start_step: First optimizer step (0-based) with dropout.
        before: Rate before ``start_step`` (0: no dropout).
        drop_path: Also scale DropPath rates by ``rate / p``.

    Raises:
        ValueError: a rate outside ``[0, 1)`` or a negative ``start_step``.
    """

    manifest_key = "late_dropout"

    def __init__(self, p: float = 0.8, start_step: int = 1000, before: float = 0.0, drop_path: bool = False):
        self.p, self.before = _check_rate("late_dropout", "p", p), _check_rate("late_dropout", "before", before)
        if start_step < 0:
            raise ValueError(f"callbacks.late_dropout.start_step must be >= 0, got {start_step}")
        super().__init__(drop_path, max(p, before))
        self.start_step = int(start_step)

    def p_at(self, step: int) -> float:
        """The dropout rate at optimizer step ``step``."""
        return self.p if step >= self.start_step else self.before

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self._apply(pl_module, self.p_at(trainer.global_step))
