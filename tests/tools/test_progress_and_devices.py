"""Per-epoch progress lines off a terminal, and which callbacks a run keeps where it runs.

- :class:`EpochProgressLog` on a real 2-epoch fit of the tiny pixel classifier (embedded
  receipts) writes one line per epoch with epoch, step, training loss, validation loss, LR,
  elapsed and remaining time; ``mode=auto`` stays silent when stdout is a terminal.
- The shipped callback config (``callbacks=default``) carries the progress line and Lightning's
  ``DeviceStatsMonitor``; :func:`select_callbacks` keeps the device statistics on a GPU with a
  logger only, and the rich progress bar on a terminal only.

The whole ``trainlab train`` path with stdout piped (lines in ``train.log``) is tested in
``test_tracking.py``.
"""

from __future__ import annotations

import logging
import re

import pytest
from hydra import compose, initialize_config_module
from lightning.pytorch.callbacks import DeviceStatsMonitor, RichProgressBar

from tests.engine.tiny_task import PatchData, PixelClassifier, fit
from trainlab.engine.callbacks.progress_log import EpochProgressLog
from trainlab.engine.config import instantiate_group
from trainlab.engine.train import select_callbacks, uses_gpu

LINE = re.compile(r"^epoch (\d+)/2 \| step (\d+) \| train/loss ([\d.e+-]+) \| val/loss ([\d.e+-]+) \| lr 1\.00e-01 "
                  r"\| elapsed \d+:\d\d:\d\d \| eta \d+:\d\d:\d\d$")


def test_one_line_per_epoch(mini_root, tmp_path, caplog):
    data = PatchData(mini_root, batch_size=4, train_count=8, val_count=2, test_count=1, shuffle=False)
    with caplog.at_level(logging.INFO, logger="trainlab.engine.callbacks.progress_log"):
        trainer = fit(PixelClassifier(), data, tmp_path, callbacks=[EpochProgressLog(mode="always")], max_epochs=2)
    lines = [r.getMessage() for r in caplog.records if r.name == "trainlab.engine.callbacks.progress_log"]
    assert len(lines) == 2, lines
    found = [LINE.match(line) for line in lines]
    assert all(found), lines
    assert [(int(m.group(1)), int(m.group(2))) for m in found] == [(1, 2), (2, 4)]  # 8 images / batch 4
    assert float(found[-1].group(4)) == pytest.approx(float(trainer.callback_metrics["val/loss"]), rel=1e-3)


def test_auto_mode_follows_the_terminal(monkeypatch):
    monkeypatch.setattr("trainlab.engine.callbacks.progress_log.stdout_is_terminal", lambda: True)
    assert not EpochProgressLog().active and EpochProgressLog("always").active
    monkeypatch.setattr("trainlab.engine.callbacks.progress_log.stdout_is_terminal", lambda: False)
    assert EpochProgressLog().active and not EpochProgressLog("never").active
    with pytest.raises(ValueError, match="mode='sometimes'"):
        EpochProgressLog("sometimes")


def test_default_callbacks_wire_device_stats_on_gpu_only(tmp_path):
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=["trainer.accelerator=cpu", f"paths.output_dir={tmp_path}"])
    assert cfg.callbacks.device_stats._target_ == "lightning.pytorch.callbacks.DeviceStatsMonitor"
    assert cfg.callbacks.progress_log.mode == "auto"
    assert not uses_gpu(cfg.trainer)
    callbacks = instantiate_group(cfg.callbacks)
    kinds = lambda kept: {type(c) for c in kept}  # noqa: E731
    on_gpu_terminal = kinds(select_callbacks(callbacks, terminal=True, gpu=True, logged=True))
    assert {DeviceStatsMonitor, RichProgressBar, EpochProgressLog} <= on_gpu_terminal
    on_cpu_in_ci = kinds(select_callbacks(callbacks, terminal=False, gpu=False, logged=True))
    assert DeviceStatsMonitor not in on_cpu_in_ci and RichProgressBar not in on_cpu_in_ci
    assert EpochProgressLog in on_cpu_in_ci
    assert DeviceStatsMonitor not in kinds(select_callbacks(callbacks, terminal=True, gpu=True, logged=False))
