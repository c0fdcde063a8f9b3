"""Atomic checkpoint writes, safe loading, and the technique record of the run manifest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from hydra import compose, initialize_config_module

from tests.engine.tiny_task import PatchData, PixelClassifier, fit
from trainlab.engine.callbacks import EMA, NonFiniteGuard, RunManifest
from trainlab.engine.checkpoint import AtomicCheckpointIO, load_checkpoint


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle this")


class Custom:
    """An arbitrary class: only loadable with full unpickling."""


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 1}, path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="cannot pickle"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(100_000)}, "epoch": 2, "bad": Unpicklable()}, path)
    assert path.read_bytes() == before and load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temporary file left


def test_a_save_killed_mid_write_leaves_the_previous_checkpoint_intact(tmp_path):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"epoch": 1, "state_dict": {"w": torch.ones(3)}}, path)
    before = path.read_bytes()
    writer = ("import torch, sys; from trainlab.engine.checkpoint import AtomicCheckpointIO; "
              "AtomicCheckpointIO().save_checkpoint({'epoch': 2, 'state_dict': {'w': torch.randn(50_000_000)}}, sys.argv[1])")
    process = subprocess.Popen([sys.executable, "-c", writer, str(path)], env={**os.environ})
    deadline = time.monotonic() + 120
    while process.poll() is None and not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()) \
            and time.monotonic() < deadline:
        time.sleep(0.001)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert path.read_bytes() == before and load_checkpoint(path)["epoch"] == 1


def test_loading_is_weights_only_unless_trusted(tmp_path):
    path = tmp_path / "custom.ckpt"
    torch.save({"state_dict": {}, "extra": Custom()}, path)
    with pytest.raises(RuntimeError, match="(?s)cannot be loaded with weights_only=True.*trust_checkpoint=true"):
        load_checkpoint(path)
    assert isinstance(load_checkpoint(path, trust=True)["extra"], Custom)


def test_resuming_training_loads_weights_only_unless_trusted(tmp_path, mini_root):
    """``trainlab train ckpt_path=...`` refuses a checkpoint that needs unpickling, before training."""
    from trainlab.engine.train import train

    module = PixelClassifier()
    fit(module, PatchData(mini_root, batch_size=2, train_count=2, val_count=1), tmp_path, limit_val_batches=0)
    checkpoint = tmp_path / "custom.ckpt"
    torch.save({"state_dict": {}, "extra": Custom()}, checkpoint)
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[
            f"paths.output_dir={tmp_path / 'run'}", f"ckpt_path={checkpoint}", "data.limit_train=2",
            "callbacks.rich_progress_bar=null", "logger=csv"])
    with pytest.raises(RuntimeError, match="(?s)cannot be loaded with weights_only=True.*trust_checkpoint=true"):
        train(cfg)
    record = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert record["status"] == "failed" and "weights" in record["error"].lower()


def test_the_manifest_records_what_the_config_does_not_show(mini_root, tmp_path):
    manifest = RunManifest(str(tmp_path), config={}, plot=False)
    module = PixelClassifier(nan_at_steps=(1,), optimizer={"name": "adam", "lr": 1e-2},
                             scheduler={"name": "onecycle", "pct_start": 0.5})
    fit(module, PatchData(mini_root, batch_size=1, train_count=3, val_count=1), tmp_path,
        [EMA(decay=0.9), NonFiniteGuard(), manifest], max_epochs=2)
    techniques = json.loads((tmp_path / "manifest.json").read_text())["techniques"]
    assert techniques["ema"]["updates"] == 6 and techniques["ema"]["decay"] == 0.9
    assert techniques["non_finite_guard"]["skipped_steps"] == 1
    assert techniques["module"]["schedule"]["total_steps"] == 6  # derived from the trainer, not in the config
    assert techniques["module"]["schedule"]["run"] == {"steps_per_epoch": 3, "max_epochs": 2, "total_steps": 6}
    assert techniques["trainer"]["precision"] == "32-true" and techniques["trainer"]["world_size"] == 1
