"""``trainlab plot-lr [overrides]``: draw the configured LR schedule as a PNG, without training.

Composes ``configs/plot_lr.yaml`` (the training config plus ``steps_per_epoch``), so every
experiment and override of ``trainlab train`` applies: ``trainlab plot-lr
experiment=dbnet_sroie scheduler=onecycle``. Steps per epoch come from the datamodule's
training loader (its length, ``trainer.accumulate_grad_batches`` and
``trainer.limit_train_batches``) unless ``steps_per_epoch=N`` is given, which skips reading
the data. Writes ``lr_schedule.png`` and ``lr_schedule.csv`` (LR of every parameter group at
every optimizer step) in the run folder and prints their paths and the LR range.
"""

from __future__ import annotations

import json
import logging

import hydra
from omegaconf import DictConfig

import trainlab.engine.config  # noqa: F401  (registers the ${trainlab_asset:...} resolver)
from trainlab.engine.console import quiet_third_party

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../configs", config_name="plot_lr")
def _hydra_main(cfg: DictConfig) -> None:
    from pathlib import Path

    from trainlab.engine.config import to_plain
    from trainlab.engine.io import atomic_write_text
    from trainlab.engine.optim import RunLength
    from trainlab.engine.schedule_preview import plot_schedule, simulate_schedule, steps_per_epoch

    trainer = cfg.trainer
    if cfg.steps_per_epoch:
        per_epoch = int(cfg.steps_per_epoch)
    else:
        datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
        datamodule.setup("fit")
        per_epoch = steps_per_epoch(len(datamodule.train_dataloader()), trainer.get("accumulate_grad_batches", 1),
                                    trainer.get("limit_train_batches"))
    max_epochs = int(trainer.max_epochs)
    total = per_epoch * max_epochs
    max_steps = int(trainer.get("max_steps") or -1)
    if max_steps > 0:
        total = min(total, max_steps)
    run = RunLength(steps_per_epoch=per_epoch, max_epochs=max_epochs, total_steps=total)
    frame = simulate_schedule(to_plain(cfg.optimizer), to_plain(cfg.scheduler), run)
    output_dir = Path(cfg.paths.output_dir)
    title = f"{cfg.exp_name}: {cfg.scheduler.name} ({per_epoch} steps/epoch, {max_epochs} epochs)"
    png = plot_schedule(frame, output_dir / "lr_schedule.png", title=title)
    csv = atomic_write_text(output_dir / "lr_schedule.csv", frame.to_csv(index=False))
    groups = [c for c in frame.columns if c not in ("step", "epoch")]
    print(json.dumps({"png": str(png), "csv": str(csv), "steps_per_epoch": per_epoch, "total_steps": total,
                      "lr": {g: {"first": float(frame[g].iloc[0]), "max": float(frame[g].max()),
                                 "min": float(frame[g].min()), "last": float(frame[g].iloc[-1])} for g in groups}}))


def main(argv: list[str] | None = None) -> None:
    """Run ``trainlab plot-lr``; Hydra reads its overrides from ``sys.argv`` (set by the dispatcher)."""
    quiet_third_party()
    _hydra_main()
