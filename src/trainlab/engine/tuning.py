"""Lightning's tuner on a configured run: the LR range test and the batch-size finder.

Both build the data and the model exactly as ``trainlab train`` does
(:func:`trainlab.engine.train.build_data_and_model`), run Lightning's
``Tuner`` (https://lightning.ai/docs/pytorch/stable/advanced/training_tricks.html) without
callbacks or loggers, and write their result in the run folder.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from lightning.pytorch.tuner import Tuner
from omegaconf import DictConfig

from trainlab.engine.config import to_plain
from trainlab.engine.io import atomic_write, atomic_write_json
from trainlab.engine.train import build_data_and_model

log = logging.getLogger(__name__)


def _prepare(cfg: DictConfig, output_dir: str | Path, section: str) -> tuple[Path, Any, Any, dict[str, Any], L.Trainer]:
    """Seed, data, model, the tuner options of ``cfg[section]``, and the configured trainer
    without callbacks, loggers, checkpoints or time cap."""
    output_dir = Path(output_dir)
    L.seed_everything(cfg.seed, workers=True)
    datamodule, model = build_data_and_model(cfg)
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=[], logger=False, enable_checkpointing=False,
                                      enable_progress_bar=False, max_time=None, default_root_dir=str(output_dir),
                                      _convert_="all")
    return output_dir, datamodule, model, to_plain(cfg[section]), trainer


def find_lr(cfg: DictConfig, output_dir: str | Path) -> dict[str, Any]:
    """Run the LR range test and write ``lr_find.png`` and ``lr_find.json`` in ``output_dir``.

    Source: Smith 2017, "Cyclical Learning Rates for Training Neural Networks", Sec. 3.3
    (LR range test); Lightning's ``Tuner.lr_find``: the LR grows from ``cfg.lr_find.min_lr``
    to ``max_lr`` over ``num_training`` steps (exponentially or linearly), the loss is
    recorded, and the suggestion is the LR of the steepest loss descent. During the test
    every parameter group gets the same LR (the encoder multiplier is not applied).

    Returns:
        ``{"suggestion": lr or None, "lr": [...], "loss": [...], "options": ...}`` (as written
        to ``lr_find.json``).

    Raises:
        Whatever the data, the model or the trainer raise for bad config.
    """
    import matplotlib.pyplot as plt

    output_dir, datamodule, model, options, trainer = _prepare(cfg, output_dir, "lr_find")
    finder = Tuner(trainer).lr_find(model, datamodule=datamodule, update_attr=False, **options)
    suggestion = finder.suggestion()
    result = {"suggestion": suggestion, "lr": [float(v) for v in finder.results["lr"]],
              "loss": [float(v) for v in finder.results["loss"]], "options": options,
              "configured_lr": float(cfg.optimizer.lr)}
    figure = finder.plot(suggest=suggestion is not None)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    atomic_write(output_dir / "lr_find.png", lambda handle: handle.write(buffer.getvalue()))
    atomic_write_json(output_dir / "lr_find.json", result)
    return result


def find_batch_size(cfg: DictConfig, output_dir: str | Path) -> dict[str, Any]:
    """Run Lightning's batch-size finder on ``datamodule.batch_size``; write ``batch_size_find.json``.

    Lightning's ``Tuner.scale_batch_size``: from ``init_val``, the batch size is doubled
    (``power``) or bisected (``binsearch``) while ``steps_per_trial`` training steps fit in
    memory, at most ``max_trials`` times. On CPU nothing runs out of memory, so the answer is
    the largest size tried (bounded by ``max_trials``).

    Returns:
        ``{"batch_size": n, "configured": n, "options": ..., "accelerator": ..., "train_images": n}``.

    Raises:
        Whatever the data, the model or the trainer raise for bad config.
    """
    output_dir, datamodule, model, options, trainer = _prepare(cfg, output_dir, "batch_size_find")
    configured = int(datamodule.batch_size)
    size = Tuner(trainer).scale_batch_size(model, datamodule=datamodule, batch_arg_name="batch_size", **options)
    result = {"batch_size": size, "configured": configured, "options": options,
              "accelerator": type(trainer.accelerator).__name__,
              "train_images": len(datamodule.dataset("train"))}
    atomic_write_json(output_dir / "batch_size_find.json", result)
    return result
