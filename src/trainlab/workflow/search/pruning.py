"""Report each epoch's metric to an Optuna trial and stop the training when the pruner says so.

Optuna's own ``PyTorchLightningPruningCallback`` lives in the separate ``optuna-integration``
package and reports at ``on_validation_end``; this callback is the same idea in a few lines,
without the extra dependency, and reports at ``on_train_epoch_end``, which Lightning 2 calls
after the epoch's validation, when the run manifest records the epoch too (so a pruned
trial's manifest holds the epoch that pruned it).
Algorithm: ``trial.report(value, step=epoch)`` then ``trial.should_prune()``
(https://optuna.readthedocs.io/en/stable/tutorial/10_key_features/003_efficient_optimization_algorithms.html).
"""

from __future__ import annotations

import math
import lightning as L
import optuna
from lightning.pytorch.callbacks import Callback


class OptunaPruning(Callback):
    """Report ``monitor`` after every epoch; raise :class:`optuna.TrialPruned` when the trial is pruned.

    Args:
        trial: The running Optuna trial.
        monitor: Logged metric (e.g. ``val/hmean``, ``train/loss``); its ``_epoch`` variant counts too.
            The step reported is the epoch (0-based; a resumed training continues its count).

    Attributes:
        reported: ``{epoch: value}`` reported so far.

    Raises:
        optuna.TrialPruned: from ``on_train_epoch_end``, when ``trial.should_prune()``.
    """

    def __init__(self, trial: optuna.trial.Trial, monitor: str):
        super().__init__()
        self.trial, self.monitor = trial, monitor
        self.reported: dict[int, float] = {}

    def _value(self, trainer: L.Trainer) -> float | None:
        metrics = trainer.callback_metrics
        value = metrics.get(self.monitor, metrics.get(f"{self.monitor}_epoch"))
        return None if value is None else float(value)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = self._value(trainer)
        if value is None or not math.isfinite(value):
            return
        step = trainer.current_epoch
        self.trial.report(value, step=step)
        self.reported[step] = value
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {step} ({self.monitor} = {value:.4f})")

