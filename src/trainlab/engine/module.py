"""The engine's LightningModule base: optimizer and schedule from config, checkpoint metadata.

A task subclasses :class:`TrainlabModule`, builds its network in ``__init__`` and writes
``training_step`` / ``validation_step`` / ``test_step``; the optimizer, the LR schedule and
the checkpoint's record of which class to rebuild come from here, so every task gets the
same techniques from the same config keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L

from trainlab.engine.optim import build_optimizer, build_scheduler, needs_run_length, run_length_from_trainer


class TrainlabModule(L.LightningModule):
    """Base class of every task's LightningModule.

    Args:
        optimizer: The ``optimizer`` config section (see :mod:`trainlab.engine.optim`).
        scheduler: The ``scheduler`` config section, or ``None``.
    """

    def __init__(self, optimizer: Mapping[str, Any] | None = None, scheduler: Mapping[str, Any] | None = None):
        super().__init__()
        self.optimizer_config = dict(optimizer or {"name": "adam", "lr": 1e-3})
        self.scheduler_config = dict(scheduler or {"name": "none"})
        # What the config does not show, for the run manifest (see manifest_summary).
        self.schedule_record: dict[str, Any] = {}
        self.model_options_record: dict[str, Any] = {}

    def configure_optimizers(self) -> Any:
        """Optimizer and LR schedule from the config sections (:mod:`trainlab.engine.optim`).

        Lengths the schedule leaves to the run (one-cycle ``total_steps``, cosine ``T_max``
        after warmup, epoch/step conversion) come from the attached trainer's
        ``estimated_stepping_batches`` and ``num_training_batches``.
        """
        optimizer = build_optimizer(self, self.optimizer_config)
        run = None
        if needs_run_length(self.scheduler_config) and self._trainer is not None:
            run = run_length_from_trainer(self._trainer)
        scheduler = build_scheduler(optimizer, self.scheduler_config, run)
        if scheduler is None:
            self.schedule_record = {"name": "none"}
            return optimizer
        self.schedule_record = scheduler.pop("resolved")
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def manifest_summary(self) -> dict[str, Any]:
        """Facts for the run manifest that the config does not show: the schedule as built
        (derived lengths, stepping unit) and the model switches applied."""
        return {"schedule": dict(self.schedule_record), **self.model_options_record}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        cls = type(self)
        checkpoint.setdefault("trainlab", {})["module"] = f"{cls.__module__}.{cls.__qualname__}"

    @staticmethod
    def hparams_for_loading(hparams: dict[str, Any]) -> dict[str, Any]:
        """Adjust saved hyper-parameters before rebuilding from a checkpoint (e.g. skip
        pretrained-weight downloads, since the checkpoint holds the weights)."""
        return hparams

    def configure_datamodule(self, datamodule: L.LightningDataModule) -> None:
        """Hook run before ``fit``: adapt the datamodule to this model (e.g. which training
        targets to build). Default: nothing."""

    def after_fit(self, datamodule: L.LightningDataModule) -> dict[str, Any]:
        """Hook run once after ``fit`` with the best weights loaded, before ``test``.

        Tasks override it to tune inference-time parameters on the validation split (never
        on test). Returns what was chosen, for the run manifest.
        """
        return {}
