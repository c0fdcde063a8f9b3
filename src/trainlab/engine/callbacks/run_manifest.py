"""The run manifest: one JSON file that says what a run was, what it used and what it got.

``manifest.json`` (written atomically at start, after every epoch and at the end) holds:
``status`` (running / finished / failed / interrupted, with the error), ``exp_name``,
``seed``, ``started`` / ``ended`` / ``heartbeat`` (UTC ISO 8601, milliseconds), the ``pid``
and ``host`` of the training process (so that a reader can tell a live run from one whose
process died), ``resumed_from`` (checkpoint), the resolved ``config``, ``git`` commit, package ``versions``, ``data``
fingerprint, ``params`` (total / trainable), ``hardware``, per-epoch ``history``
(losses, validation metrics, learning rates, seconds), ``best`` checkpoint and score,
``tuned`` inference parameters and ``final`` metrics, and ``techniques``: what the config
does not show about the training techniques in use (schedule lengths derived from the run,
EMA updates, skipped non-finite steps, dropout rate in use, model switches, precision,
world size, deterministic mode), gathered from every callback and from the LightningModule
that define ``manifest_summary()``. ``training_history.png`` is redrawn from the history
after every epoch. ``wall_seconds`` counts the whole training across resumptions (the time
already spent travels in the checkpoint). During long epochs the manifest is rewritten at
least every :attr:`RunManifest.heartbeat_seconds` so that ``heartbeat`` stays fresh. Under
DDP only global rank 0 writes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_only

from trainlab.engine.environment import git_state, hardware, package_versions
from trainlab.engine.history_plot import plot_history
from trainlab.engine.io import atomic_write_json

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _scalar(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    return value


class RunManifest(Callback):
    """Writes ``manifest.json`` and ``training_history.png`` in ``output_dir``.

    Args:
        output_dir: The run folder.
        config: The resolved run config (plain dict).
        seed: The global seed.
        exp_name: Experiment name.
        plot: Draw ``training_history.png`` after every epoch.

    The training function fills ``data``, ``tuned`` and ``final`` through :meth:`update`
    and closes the record with :meth:`finish`.
    """

    #: Longest time (seconds) between two writes while batches run, which refreshes ``heartbeat``.
    heartbeat_seconds = 60.0

    def __init__(self, output_dir: str, config: Mapping[str, Any] | None = None, seed: int | None = None,
                 exp_name: str | None = None, plot: bool = True):
        super().__init__()
        self.path = Path(output_dir) / "manifest.json"
        self.plot_path = Path(output_dir) / "training_history.png"
        self.plot = plot
        self.record: dict[str, Any] = {
            "status": "running",
            "error": None,
            "exp_name": exp_name,
            "seed": seed,
            "started": _now(),
            "ended": None,
            "heartbeat": None,
            "wall_seconds": None,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "resumed_from": None,
            "config": dict(config or {}),
            "git": git_state(),
            "versions": package_versions(),
            "hardware": hardware(),
            "data": None,
            "params": None,
            "history": [],
            "best": None,
            "tuned": None,
            "final": None,
            "techniques": None,
        }
        self._start = time.monotonic()
        self._last_write = self._start
        self._seconds_before = 0.0  # training time of earlier segments of a resumed run
        self._epoch_start = None
        self._epoch_lrs: dict[str, float] = {}

    def update(self, **fields: Any) -> None:
        """Set top-level fields and rewrite the manifest."""
        self.record.update(fields)
        self.write()

    def wall_seconds(self) -> float:
        """Seconds of training so far, earlier segments of a resumed run included."""
        return self._seconds_before + time.monotonic() - self._start

    def write(self) -> None:
        """Rewrite ``manifest.json`` atomically, global rank 0 only (refreshes ``wall_seconds`` and ``heartbeat``)."""
        if rank_zero_only.rank != 0:
            return
        self._last_write = time.monotonic()
        self.record["wall_seconds"] = round(self.wall_seconds(), 3)
        self.record["heartbeat"] = _now()
        atomic_write_json(self.path, self.record)

    def _beat(self) -> None:
        if time.monotonic() - self._last_write >= self.heartbeat_seconds:
            self.write()

    def collect_techniques(self, trainer: L.Trainer) -> dict[str, Any]:
        """Technique facts from the trainer, its callbacks and the module (``manifest_summary()``)."""
        techniques: dict[str, Any] = {
            "trainer": {
                "precision": str(trainer.precision),
                "strategy": type(trainer.strategy).__name__,
                "world_size": trainer.world_size,
                "accumulate_grad_batches": trainer.accumulate_grad_batches,
                "gradient_clip_val": trainer.gradient_clip_val,
                "gradient_clip_algorithm": str(trainer.gradient_clip_algorithm),
                "deterministic": torch.are_deterministic_algorithms_enabled(),
            }
        }
        for callback in trainer.callbacks:
            if callback is not self and hasattr(callback, "manifest_summary"):
                techniques[getattr(callback, "manifest_key", type(callback).__name__)] = callback.manifest_summary()
        module = trainer.lightning_module
        if module is not None and hasattr(module, "manifest_summary"):
            techniques["module"] = module.manifest_summary()
        return techniques

    def _update_techniques(self, trainer: L.Trainer) -> None:
        try:
            self.record["techniques"] = self.collect_techniques(trainer)
        except Exception as error:  # a record must never take a run down
            log.warning("could not collect technique facts: %s", error)

    def finish(self, status: str, error: str | None = None) -> None:
        """Close the record with ``status`` (finished / failed / interrupted) and an optional error text."""
        self.record.update(status=status, error=error, ended=_now())
        self.write()
        if self.plot and self.record["history"]:
            self._draw()

    def _draw(self) -> None:
        if rank_zero_only.rank != 0:
            return
        try:
            plot_history(self.record["history"], self.plot_path, title=self.record.get("exp_name") or "")
        except Exception as error:  # a plot must never take a run down
            log.warning("could not draw %s: %s", self.plot_path, error)

    # Lightning hooks -----------------------------------------------------------------
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        total = sum(p.numel() for p in pl_module.parameters())
        trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
        self.record["params"] = {"total": total, "trainable": trainable}
        self.write()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._update_techniques(trainer)
        self.write()

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._update_techniques(trainer)
        self.write()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._update_techniques(trainer)
        self.write()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self._beat()

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self._beat()

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self._beat()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.monotonic()
        # The learning rates this epoch trains with (schedulers step at epoch end).
        self._epoch_lrs = {}
        for optimizer in trainer.optimizers:
            for index, group in enumerate(optimizer.param_groups):
                self._epoch_lrs[group.get("name", f"group{index}")] = float(group["lr"])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: _scalar(v) for k, v in trainer.callback_metrics.items()
                   if not k.endswith("_step") and (k.startswith("train/") or k.startswith("val/"))}
        metrics = {k[:-6] if k.endswith("_epoch") else k: v for k, v in metrics.items()}
        lrs = dict(getattr(self, "_epoch_lrs", {}))
        seconds = time.monotonic() - self._epoch_start if self._epoch_start else None
        entry = {"epoch": trainer.current_epoch, "step": trainer.global_step, "seconds": seconds, "lr": lrs, **metrics}
        image_size = getattr(trainer.datamodule, "image_size", None) if trainer.datamodule is not None else None
        if image_size is not None:
            entry["image_size"] = image_size
        history = [h for h in self.record["history"] if h["epoch"] != entry["epoch"]]
        self.record["history"] = history + [entry]
        self._update_techniques(trainer)
        self.write()
        if self.plot:
            self._draw()

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.record["history"]), "wall_seconds": self.wall_seconds()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Resuming: keep the epochs already run and the time they took, so the record covers the whole training.
        self.record["history"] = list(state_dict.get("history", []))
        self._seconds_before = float(state_dict.get("wall_seconds") or 0.0)
