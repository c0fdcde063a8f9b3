"""plot-lr, lr-find, batch-size-find, and progressive resolution in a real fit."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import lightning as L
import pandas as pd
import pytest
from hydra import compose, initialize_config_module
from lightning.pytorch.callbacks import Callback

from trainlab.engine.callbacks import ImageSizeSchedule
from trainlab.tasks.text_detection.data.datamodule import TextDetectionDataModule
from trainlab.tasks.text_detection.module import TextDetectionModule

SMALL = ["data.limit_train=4", "data.image_size=64", "data.resize.size=128", "data.resize.max_side=256",
         "model.neck.inner_channels=16", "callbacks.rich_progress_bar=null"]


def compose_root(name: str, *overrides: str):
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))


def test_plot_lr_draws_the_configured_schedule_without_training(tmp_path):
    """Steps per epoch from the embedded data (20 train receipts / batch 4 = 5); SGDR with T_0 = 2 epochs."""
    done = subprocess.run([sys.executable, "-m", "trainlab", "plot-lr", "scheduler=cosine_restarts", "scheduler.T_0=2",
                           "scheduler.T_mult=1", "scheduler.warmup=0", "trainer.max_epochs=4",
                           "hydra.run.dir=out"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["steps_per_epoch"] == 5 and summary["total_steps"] == 20
    assert (tmp_path / "out" / "lr_schedule.png").stat().st_size > 10_000
    frame = pd.read_csv(tmp_path / "out" / "lr_schedule.csv")
    lr, eta_min = 3e-3, 3e-5  # the default experiment's LR; eta_min_factor 0.01
    # Stepped per epoch: constant within an epoch, restarting every 2 epochs.
    expected = [eta_min + (lr - eta_min) * (1 + math.cos(math.pi * ((t // 5) % 2) / 2)) / 2 for t in range(20)]
    assert frame["main"].tolist() == pytest.approx(expected, rel=1e-6)


def test_lr_find_writes_its_curve_and_suggestion(tmp_path):
    from trainlab.engine.tuning import find_lr

    # 14 points: Lightning's suggestion skips the first 10 and the last one, so 3 are candidates.
    cfg = compose_root("tuner", *SMALL, f"paths.output_dir={tmp_path}", "lr_find.num_training=14",
                       "lr_find.min_lr=1e-5", "lr_find.max_lr=1e-1", "lr_find.early_stop_threshold=null")
    result = find_lr(cfg, tmp_path)
    assert len(result["lr"]) == 14 and result["lr"][0] == pytest.approx(1e-5, rel=0.01)
    assert all(b > a for a, b in zip(result["lr"], result["lr"][1:]))
    assert result["suggestion"] in result["lr"][10:13]
    assert json.loads((tmp_path / "lr_find.json").read_text())["lr"] == result["lr"]
    assert (tmp_path / "lr_find.png").stat().st_size > 5_000


def test_batch_size_find_doubles_until_its_cap(tmp_path):
    from trainlab.engine.tuning import find_batch_size

    cfg = compose_root("tuner", *SMALL, f"paths.output_dir={tmp_path}", "batch_size_find.init_val=1",
                       "batch_size_find.max_trials=2", "batch_size_find.steps_per_trial=1")
    result = find_batch_size(cfg, tmp_path)
    assert result["batch_size"] == 4 and result["configured"] == 4  # 1 -> 2 -> 4, no out-of-memory on CPU
    assert json.loads((tmp_path / "batch_size_find.json").read_text())["batch_size"] == 4


def test_progressive_resolution_changes_the_training_crops_at_the_scheduled_epoch(mini_root, tmp_path):
    class Sizes(Callback):
        def __init__(self):
            self.sizes = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.sizes.append((trainer.current_epoch, tuple(batch["image"].shape[-2:]), tuple(batch["prob_map"].shape[-2:])))

    datamodule = TextDetectionDataModule(str(mini_root), val_split=0.2, batch_size=2, image_size=64,
                                         resize={"size": 128, "max_side": 256}, limit_train=2)
    model = TextDetectionModule(neck={"inner_channels": 16}, resize={"size": 128, "max_side": 256},
                                tune_postprocess={"enabled": False})
    sizes = Sizes()
    L.Trainer(max_epochs=3, callbacks=[ImageSizeSchedule({0: 64, 2: 96}), sizes], logger=False,
              enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
              default_root_dir=str(tmp_path)).fit(model, datamodule=datamodule)
    assert sizes.sizes == [(0, (64, 64), (64, 64)), (1, (64, 64), (64, 64)), (2, (96, 96), (96, 96))]
