"""The command dispatcher and the shipped configs: every experiment composes and instantiates."""

from __future__ import annotations

import subprocess
import sys

import hydra
import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from trainlab.cli.main import main, quote_override_values
from trainlab.engine.optim import build_optimizer, build_scheduler

EXPERIMENTS = ["dbnet_sroie_mini", "dbnet_sroie", "dbnet_icdar2015", "dbnet_hrnet_w44_receipts"]


def compose_train(*overrides: str):
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=True)


def test_override_values_with_equal_signs_are_quoted():
    assert quote_override_values(["ckpt_path=out/best-epoch=09-val_hmean=0.9651.ckpt", "-m", "a=b", "x='c=d'"]) == [
        "ckpt_path='out/best-epoch=09-val_hmean=0.9651.ckpt'", "-m", "a=b", "x='c=d'"]
    # An ensemble's list keeps its brackets: each element is quoted, and Hydra still reads a list.
    listed = quote_override_values(["ckpt_path=[f0/best-epoch=03.ckpt,'f1/best-epoch=04.ckpt',plain.ckpt]"])
    assert listed == ["ckpt_path=['f0/best-epoch=03.ckpt','f1/best-epoch=04.ckpt',plain.ckpt]"]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    assert OverridesParser.create().parse_override(listed[0]).value() == [
        "f0/best-epoch=03.ckpt", "f1/best-epoch=04.ckpt", "plain.ckpt"]


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["trian"])
    assert caught.value.code == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


def test_help_lists_commands():
    done = subprocess.run([sys.executable, "-m", "trainlab", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for command in ("train", "eval", "predict", "score"):
        assert f"  {command}" in done.stdout


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiments_compose(experiment):
    cfg = compose_train(f"experiment={experiment}")
    assert cfg.exp_name == experiment
    resolved = OmegaConf.to_container(cfg, resolve=False)
    for group in ("data", "model", "optimizer", "scheduler", "trainer", "callbacks", "logger", "paths"):
        assert group in resolved
    assert cfg.callbacks.model_checkpoint.monitor == "val/hmean"
    assert cfg.callbacks.model_checkpoint.filename == "best-epoch={epoch:02d}-val_hmean={val/hmean:.4f}"


def test_reference_recipe_values():
    cfg = compose_train("experiment=dbnet_hrnet_w44_receipts")
    assert cfg.model.encoder.model_name == "hrnet_w44" and cfg.data.batch_size == 8
    assert (cfg.optimizer.name, cfg.optimizer.lr, cfg.optimizer.weight_decay) == ("adam", 4.5e-4, 8.2e-5)
    assert (cfg.scheduler.name, cfg.scheduler.T_max, cfg.scheduler.eta_min) == ("cosine", 20, 8e-6)
    assert cfg.callbacks.early_stopping.patience == 5 and cfg.callbacks.early_stopping.monitor == "val/hmean"
    assert dict(cfg.callbacks.image_size_schedule.schedule) == {0: 640, 4: 960}
    schedule = hydra.utils.instantiate(cfg.callbacks.image_size_schedule)
    assert [schedule.size_at(e) for e in range(6)] == [640, 640, 640, 640, 960, 960]


def test_default_experiment_instantiates_on_the_embedded_data():
    cfg = compose_train()
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.setup()
    assert {k: len(v) for k, v in datamodule.records.items()} == {"train": 20, "val": 4, "test": 8}
    model = hydra.utils.instantiate(cfg.model, optimizer=cfg.optimizer, scheduler=cfg.scheduler, _convert_="all")
    optimizer = build_optimizer(model, model.optimizer_config)
    assert build_scheduler(optimizer, model.scheduler_config)["interval"] == "epoch"
    assert (model.postprocess.box_thresh, model.postprocess.unclip_ratio) == (0.4, 1.2)
