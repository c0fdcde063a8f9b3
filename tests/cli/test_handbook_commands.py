"""Our users' OCR handbook writes commands in its own spellings (``+model=architectures/...``,
``training.learning_rate``, ``resume=``): each composes to the canonical keys, single runs through
the real command line (``--cfg job``), sweeps through the sweep's own composition check."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from hydra import compose, initialize_config_module

from trainlab.cli.aliases import canonical_overrides
from trainlab.workflow.sweep_check import probe_jobs

SINGLE_RUNS = [
    # (handbook arguments, expected values of the composed config)
    ("+model=architectures/dbnetpp model.encoder.model_name=resnet50 model.head.postprocess.use_polygon=true "
     "trainer.max_epochs=20 data.batch_size=6",
     {"model.architecture_name": "dbnetpp", "model.encoder.model_name": "resnet50",
      "model.head.postprocess.use_polygon": True, "trainer.max_epochs": 20, "data.batch_size": 6}),
    ('exp_name="fast_iteration" model.architecture_name=dbnet model.encoder.model_name=resnet18 trainer.max_epochs=8 '
     "data.batch_size=16 training.learning_rate=1e-3",
     {"exp_name": "fast_iteration", "model.architecture_name": "dbnet", "model.encoder.model_name": "resnet18",
      "trainer.max_epochs": 8, "data.batch_size": 16, "optimizer.lr": 1e-3}),
]


def value(config: dict, dotted: str):
    for part in dotted.split("."):
        config = config[part]
    return config


@pytest.mark.parametrize("arguments,expected", SINGLE_RUNS)
def test_handbook_single_runs_compose_through_the_command_line(arguments, expected):
    args = [a.replace('"', "") for a in arguments.split()]
    done = subprocess.run([sys.executable, "-m", "trainlab", "train", *args, "--cfg", "job"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    config = yaml.safe_load(done.stdout)
    for key, wanted in expected.items():
        assert value(config, key) == wanted, key


def test_handbook_sweep_composes_every_job_through_the_sweep_check():
    handbook = ('exp_name="parameter_sweep" data.batch_size=4,8,16 training.learning_rate=1e-3,5e-4,1e-4 '
                "trainer.max_epochs=10")
    overrides = canonical_overrides("train", [a.replace('"', "") for a in handbook.split()])
    assert "optimizer.lr=1e-3,5e-4,1e-4" in overrides
    jobs = probe_jobs(overrides)
    assert len(jobs) == 5  # 1 + (3 - 1) + (3 - 1): every swept value once
    seen = set()
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        for job in jobs:
            cfg = compose(config_name="train", overrides=job)
            assert cfg.exp_name == "parameter_sweep" and cfg.trainer.max_epochs == 10
            seen.add((cfg.data.batch_size, cfg.optimizer.lr))
    assert {b for b, _ in seen} == {4, 8, 16} and {lr for _, lr in seen} == {1e-3, 5e-4, 1e-4}


def test_resume_is_another_spelling_of_ckpt_path(tmp_path):
    checkpoint = str(tmp_path / "last.ckpt")
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        assert compose(config_name="train", overrides=[f"resume={checkpoint}"]).ckpt_path == checkpoint
        assert compose(config_name="train", overrides=[f"ckpt_path={checkpoint}"]).ckpt_path == checkpoint
        assert compose(config_name="train").ckpt_path is None


def test_aliases_leave_canonical_and_unrelated_arguments_alone():
    args = ["-m", "optimizer.lr=1e-3", "+model.loss.focal_gamma=1", "~callbacks.ema", "experiment=dbnet_sroie"]
    assert canonical_overrides("train", args) == args
    assert canonical_overrides("train", ["+model=architectures/craft", "+optimizer=sgd"]) == [
        "model=architectures/craft", "optimizer=sgd"]
    # eval starts from the checkpoint's data config: a data key is added to the empty node.
    assert canonical_overrides("eval", ["data.root=/x", "split=val"]) == ["++data.root=/x", "split=val"]
