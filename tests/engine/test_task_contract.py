"""The task contract: a task that is not text detection runs through the real ``train(cfg)``
recipe and the task-agnostic ``trainlab eval``, judged by its own metric and direction; the
registry finds built-in tasks and plug-ins of other packages (entry points, their configs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import open_dict

from tests.engine.tiny_task import PixelClassifier
from trainlab.engine.checkpoint import load_checkpoint
from trainlab.engine.optim import ConfigError
from trainlab.engine.train import train
from trainlab.tasks import available_tasks, get_task

REPO = Path(__file__).resolve().parents[2]


def tiny_config(mini_root: Path, output_dir: Path, max_epochs: int = 3):
    """The shipped ``train`` config with the tiny pixel task in place of text detection."""
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=["trainer.accelerator=cpu", f"trainer.max_epochs={max_epochs}",
                                                      "~callbacks.rich_progress_bar", "logger=csv"])
    with open_dict(cfg):
        cfg.task = "tiny_pixels"
        cfg.optimized_metric, cfg.optimized_direction = "val/loss", "min"
        cfg.data = {"_target_": "tests.engine.tiny_task.PatchData", "root": str(mini_root), "batch_size": 2,
                    "train_count": 4, "val_count": 2, "test_count": 2}
        cfg.model = {"_target_": "tests.engine.tiny_task.PixelClassifier", "channels_last": True}
        cfg.optimizer = {"name": "sgd", "lr": 0.5}
        cfg.scheduler = {"name": "none"}
        cfg.paths.output_dir = str(output_dir)
    return cfg


def test_a_tiny_task_runs_through_the_train_recipe_and_task_agnostic_eval(mini_root, tmp_path):
    run = tmp_path / "run"
    metrics = train(tiny_config(mini_root, run))
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["task"] == "tiny_pixels"
    assert manifest["optimized"] == {"metric": "val/loss", "direction": "min"}
    losses = [h["val/loss"] for h in manifest["history"]]
    # Checkpoint selection followed the experiment's metric and direction: the lowest validation loss.
    assert len(losses) == 3 and metrics["val/loss"] == pytest.approx(min(losses))
    best = run / manifest["best"]["path"]
    assert best.name.startswith(f"best-epoch={losses.index(min(losses)):02d}-val_loss=")
    assert "test/loss" in metrics and manifest["techniques"]["module"]["channels_last"] is True
    record = load_checkpoint(best)["trainlab"]
    assert record["task"] == "tiny_pixels" and record["data"]["_target_"] == "tests.engine.tiny_task.PatchData"

    # trainlab eval rebuilds module and data from the checkpoint alone; data.* overrides its data config.
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'src'}")
    done = subprocess.run([sys.executable, "-m", "trainlab", "eval", f"ckpt_path={best}", "data.test_count=3",
                           f"hydra.run.dir={tmp_path / 'eval'}"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert report["task"] == "tiny_pixels" and report["split"] == "test"
    assert report["data"]["splits"]["test"]["images"] == 3 and report["loss"] > 0
    printed = next(line for line in done.stdout.splitlines() if line.startswith('{"split"'))
    assert json.loads(printed)["loss"] == pytest.approx(report["loss"])


def test_model_options_are_applied_by_the_engine_base():
    module = PixelClassifier(channels_last=True)
    assert not module.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    module.configure_model()
    module.configure_model()  # idempotent: Lightning calls it before every fit/validate/test
    assert module.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    seen = []
    module.net[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    module(torch.rand(1, 3, 8, 8))
    assert seen == [True]
    assert module.model_options_record == {"channels_last": True, "grad_checkpointing": [], "compiled": False}
    with pytest.raises(ConfigError, match="feature_dropout=0.2: Sequential has no encoder"):
        PixelClassifier(feature_dropout=0.2).configure_model()


def test_registry_lists_builtin_tasks_and_names_the_installed_ones():
    assert "text_detection" in available_tasks()
    task = get_task("text_detection")
    assert task.module_class().__name__ == "TextDetectionModule" and task.missing() == []
    with pytest.raises(ValueError, match="unknown task 'ocr'; installed: .*text_detection"):
        get_task("ocr")


def test_another_package_adds_a_task_through_the_entry_point_group(tmp_path):
    """A plug-in package (found by its entry point), its configs on Hydra's search path."""
    package = tmp_path / "ext_task"
    (package / "configs" / "experiment").mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from trainlab.engine.task import Task\n"
        "TASK = Task(name='ext_demo', summary='a plug-in task', module='tests.engine.tiny_task.PixelClassifier',\n"
        "            datamodule='tests.engine.tiny_task.PatchData', config_package='ext_task.configs')\n")
    (package / "configs" / "__init__.py").write_text("")
    (package / "configs" / "experiment" / "ext_demo_run.yaml").write_text(
        "# @package _global_\nexp_name: ext_demo_run\ntask: ext_demo\noptimized_metric: val/loss\n"
        "optimized_direction: min\ndata: {_target_: tests.engine.tiny_task.PatchData, root: x}\n"
        "model: {_target_: tests.engine.tiny_task.PixelClassifier}\n")
    dist = tmp_path / "ext_task-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ext-task\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[trainlab.tasks]\next_demo = ext_task:TASK\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO), str(REPO / "src")]))

    listed = subprocess.run([sys.executable, "-m", "trainlab", "tasks", "--json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=True)
    tasks = {row["name"]: row for row in json.loads(listed.stdout)}
    assert tasks["ext_demo"]["experiments"] == ["ext_demo_run"] and "dbnet_sroie_mini" in tasks["text_detection"]["experiments"]
    composed = subprocess.run([sys.executable, "-m", "trainlab", "train", "experiment=ext_demo_run", "--cfg", "job"],
                              cwd=tmp_path, env=env, capture_output=True, text=True)
    assert composed.returncode == 0, composed.stderr[-2000:]
    assert "task: ext_demo" in composed.stdout and "_target_: tests.engine.tiny_task.PixelClassifier" in composed.stdout
