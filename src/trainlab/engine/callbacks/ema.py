"""Exponential moving average (EMA) of the weights, validated and saved in checkpoints."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import WeightAveraging
from torch.optim.swa_utils import get_ema_multi_avg_fn


class EMA(WeightAveraging):
    """Keep an EMA of the parameters and buffers; validate and checkpoint with it.

    Source: Polyak & Juditsky 1992 (averaging of iterates); the exponential form
    ``ema = decay * ema + (1 - decay) * w`` after each optimizer step as in Tan & Le 2019
    (EfficientNet) and timm's ``ModelEmaV3``. Built on Lightning's ``WeightAveraging`` and
    torch's ``AveragedModel`` with ``get_ema_multi_avg_fn``.

    Behaviour (Lightning ``WeightAveraging``): validation runs with the EMA weights (swapped
    in at the start of each validation epoch and out at its end); every checkpoint's
    ``state_dict`` holds the EMA weights, so the best checkpoint, ``trainlab eval`` and
    ``trainlab average`` use what was validated, while ``current_model_state`` keeps the raw
    weights for resuming; at the end of training the model holds the EMA weights.

    Args:
        decay: EMA decay per update, in ``[0, 1)``; 0.999 averages roughly the last 1000 updates.
        update_every_n_steps: Update after every N-th optimizer step.
        start_step: First optimizer step (0-based) to update at; the first update copies the weights.
        device: Where to keep the averaged copy (default: the model's device; ``"cpu"`` saves GPU memory).

    Raises:
        ValueError: ``decay`` outside ``[0, 1)`` or ``update_every_n_steps < 1``.
    """

    manifest_key = "ema"

    def __init__(self, decay: float = 0.999, update_every_n_steps: int = 1, start_step: int = 0,
                 device: str | None = None):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"callbacks.ema.decay must be in [0, 1), got {decay}")
        if update_every_n_steps < 1:
            raise ValueError(f"callbacks.ema.update_every_n_steps must be >= 1, got {update_every_n_steps}")
        super().__init__(device=device, use_buffers=True, multi_avg_fn=get_ema_multi_avg_fn(decay))
        self.decay = float(decay)
        self.update_every_n_steps = int(update_every_n_steps)
        self.start_step = int(start_step)

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        """Update after optimizer step ``step_idx`` (0-based) from ``start_step`` on, every N steps."""
        if step_idx is None or step_idx < self.start_step:
            return False
        return (step_idx - self.start_step) % self.update_every_n_steps == 0

    @property
    def updates(self) -> int:
        """How many times the average was updated."""
        return 0 if self._average_model is None else int(self._average_model.n_averaged.item())

    def manifest_summary(self) -> dict[str, Any]:
        """``decay``, ``updates`` so far and the update rule, for the run manifest."""
        return {"decay": self.decay, "updates": self.updates, "update_every_n_steps": self.update_every_n_steps,
                "start_step": self.start_step, "validated_with_ema": True}

    def averaged_module(self) -> L.LightningModule | None:
        """The module holding the EMA weights (``None`` before ``fit`` starts)."""
        return None if self._average_model is None else self._average_model.module
