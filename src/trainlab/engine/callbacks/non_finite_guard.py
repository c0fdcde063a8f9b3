"""Skip optimizer steps whose loss or gradients are NaN/Inf; stop after too many in a row."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Training stopped because too many consecutive steps had a non-finite loss or gradient."""


class NonFiniteGuard(Callback):
    """Turn an optimizer step with a NaN/Inf loss or gradient into a no-op, for any task.

    How: the loss is checked in ``on_before_backward`` (every micro-batch) and the gradients
    in ``on_before_optimizer_step`` (before clipping). A bad step has every ``.grad`` set to
    ``None``, which makes torch optimizers skip every parameter (no update, no moment or step
    count change), and the model's buffers (BatchNorm running statistics, updated by the bad
    forward pass) are restored from the copy taken before the step's first micro-batch.
    Under DDP the decision is shared by all processes. ``global_step`` and per-step LR
    schedules still advance. With a ``16-mixed`` GradScaler the gradient check is left to
    the scaler (overflow skips are normal there); the loss is still checked.

    After ``max_consecutive`` bad steps in a row, :class:`NonFiniteLossError` stops the run:
    the weights are those of the last finite step, and no checkpoint is written from the
    failing state (checkpoints already on disk are left as they are).

    Args:
        max_consecutive: Bad steps in a row that stop training (>= 1).
        check_gradients: Also check gradients (a finite loss can still give Inf gradients).

    Raises:
        ValueError: ``max_consecutive < 1``.
    """

    manifest_key = "non_finite_guard"

    def __init__(self, max_consecutive: int = 10, check_gradients: bool = True):
        super().__init__()
        if max_consecutive < 1:
            raise ValueError(f"callbacks.non_finite_guard.max_consecutive must be >= 1, got {max_consecutive}")
        self.max_consecutive = int(max_consecutive)
        self.check_gradients = bool(check_gradients)
        self.skipped_steps = 0
        self.consecutive = 0
        self.skipped_at: list[int] = []
        self._bad_loss = False
        self._buffers: list[torch.Tensor] | None = None

    # Snapshot of the buffers before the first micro-batch of each optimizer step ---------------
    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._buffers is None:
            self._buffers = [buffer.detach().clone() for buffer in pl_module.buffers()]

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if not bool(torch.isfinite(loss.detach()).all()):
            self._bad_loss = True

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        bad = self._bad_loss
        if not bad and self.check_gradients and getattr(trainer.precision_plugin, "scaler", None) is None:
            bad = not _gradients_finite(pl_module)
        if trainer.world_size > 1:
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        self._bad_loss = False
        if bad:
            self._skip(trainer, pl_module)
        else:
            self.consecutive = 0
        self._buffers = None

    def _skip(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for param in pl_module.parameters():
            param.grad = None
        if self._buffers is not None:
            with torch.no_grad():
                for buffer, saved in zip(pl_module.buffers(), self._buffers):
                    buffer.copy_(saved)
        self.skipped_steps += 1
        self.consecutive += 1
        self.skipped_at.append(int(trainer.global_step))
        log.warning("non-finite loss or gradient at epoch %d, global step %d: step skipped (%d in a row, %d in all)",
                    trainer.current_epoch, trainer.global_step, self.consecutive, self.skipped_steps)
        if self.consecutive >= self.max_consecutive:
            folders = sorted({str(c.dirpath) for c in trainer.checkpoint_callbacks
                              if isinstance(c, ModelCheckpoint) and c.dirpath})
            raise NonFiniteLossError(
                f"{self.consecutive} consecutive optimizer steps had a non-finite loss or gradient (last at epoch "
                f"{trainer.current_epoch}, global step {trainer.global_step}); training stopped. The weights are those "
                f"of the last finite step and the checkpoints already written are intact"
                f"{' (' + ', '.join(folders) + ')' if folders else ''}. Try a lower optimizer.lr, "
                "trainer.gradient_clip_val=1.0, precision 32-true or bf16-mixed, or check the data; "
                "callbacks.non_finite_guard.max_consecutive sets the limit.")

    def manifest_summary(self) -> dict[str, Any]:
        """``skipped_steps`` (count), ``skipped_at`` (global steps, first 100) and the limit."""
        return {"skipped_steps": self.skipped_steps, "skipped_at": self.skipped_at[:100],
                "max_consecutive": self.max_consecutive}

    def state_dict(self) -> dict[str, Any]:
        return {"skipped_steps": self.skipped_steps, "consecutive": self.consecutive,
                "skipped_at": list(self.skipped_at)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.skipped_steps = int(state_dict.get("skipped_steps", 0))
        self.consecutive = int(state_dict.get("consecutive", 0))
        self.skipped_at = list(state_dict.get("skipped_at", []))


def _gradients_finite(module: torch.nn.Module) -> bool:
    """Whether every gradient element of ``module`` is finite (one host sync)."""
    flags = [torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None]
    return True if not flags else bool(torch.stack([f.to(flags[0].device) for f in flags]).all())
