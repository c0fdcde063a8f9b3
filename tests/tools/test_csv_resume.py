"""``logs/csv/metrics.csv`` across a resume into the same folder (ResumableCSVLogger).

Real fits of the tiny pixel classifier on embedded receipts (tests/engine/tiny_task.py), one
row per logged epoch value and one per learning rate (rows with a step and no epoch). The resumed segment starts from a
checkpoint of an earlier epoch than the last rows written, as after a SIGKILL between the end
of an epoch's logging and its checkpoint: the rows of every epoch must be there exactly once.
"""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint

from tests.engine.tiny_task import PatchData, PixelClassifier, fit
from trainlab.engine.loggers import ResumableCSVLogger


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def logger(run: Path) -> ResumableCSVLogger:
    return ResumableCSVLogger(save_dir=str(run / "logs"), name="csv", version="")


def epoch_rows(table: list[dict[str, str]], column: str) -> list[int]:
    return [int(float(r["epoch"])) for r in table if r.get(column)]


def shape(table: list[dict[str, str]]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Each row's epoch, step and the names it has a value for."""
    return [(r["epoch"], r["step"], tuple(sorted(k for k, v in r.items() if v and k not in ("epoch", "step"))))
            for r in table]


@pytest.fixture(scope="module")
def data(mini_root) -> PatchData:
    return PatchData(mini_root, batch_size=4, train_count=8, val_count=2, test_count=1, shuffle=False)


def test_resume_keeps_earlier_rows_once(data, tmp_path):
    run = tmp_path / "run"
    every_epoch = ModelCheckpoint(dirpath=run / "checkpoints", save_top_k=-1, every_n_epochs=1, filename="{epoch}")
    fit(PixelClassifier(), data, run, callbacks=[every_epoch, LearningRateMonitor()], logger=logger(run), max_epochs=2,
        log_every_n_steps=1, enable_checkpointing=True)
    metrics = run / "logs" / "csv" / "metrics.csv"
    assert epoch_rows(rows(metrics), "val/loss") == [0, 1]

    # Resume from the end of epoch 0 (epoch 1's rows are already in the file) and train to 3 epochs.
    trainer = L.Trainer(logger=logger(run), callbacks=[LearningRateMonitor()], max_epochs=3, log_every_n_steps=1, accelerator="cpu", devices=1,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                        num_sanity_val_steps=0, default_root_dir=str(run))
    trainer.fit(PixelClassifier(), datamodule=data, ckpt_path=str(run / "checkpoints" / "epoch=0.ckpt"))
    table = rows(metrics)
    assert epoch_rows(table, "val/loss") == [0, 1, 2]
    assert epoch_rows(table, "train/loss") == [0, 1, 2]
    logged = [(int(float(r["epoch"])), int(float(r["step"])), name) for r in table for name in ("train/loss", "val/loss")
              if r.get(name)]
    assert len(logged) == len(set(logged)) == 6  # each epoch's train and val values once
    assert [(e, s) for e, s, _ in logged] == sorted((e, s) for e, s, _ in logged)
    # Row for row (which values at which epoch and step) what an uninterrupted 3-epoch run writes.
    straight = tmp_path / "straight"
    fit(PixelClassifier(), data, straight, callbacks=[LearningRateMonitor()], logger=logger(straight), max_epochs=3,
        log_every_n_steps=1)
    assert shape(table) == shape(rows(straight / "logs" / "csv" / "metrics.csv"))
    assert sum(1 for r in table if r.get("lr-SGD/main")) == 9  # 3 rows per epoch: epoch start, 2 batches

def test_fresh_run_in_a_used_folder_starts_a_new_file(data, tmp_path):
    run = tmp_path / "run"
    fit(PixelClassifier(), data, run, logger=logger(run), max_epochs=2)
    fit(PixelClassifier(), data, run, logger=logger(run), max_epochs=1)  # no ckpt_path: not a resume
    assert epoch_rows(rows(run / "logs" / "csv" / "metrics.csv"), "val/loss") == [0]


def test_unreadable_metrics_file_names_the_line(tmp_path):
    folder = tmp_path / "logs" / "csv"
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text("epoch,step,val/loss\n0,1,0.5\n1,2,0.4,extra\n")
    with pytest.raises(ValueError, match=r"metrics\.csv:3: more fields"):
        ResumableCSVLogger(save_dir=str(tmp_path / "logs"), name="csv", version="").experiment
