"""The search space, study settings and the best-trial experiment config, without training."""

from __future__ import annotations

import optuna
import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from trainlab.workflow.collect import parse_overrides
from trainlab.workflow.search.best import (
    group_overrides,
    recipe_overlay,
    write_best_experiment,
)
from trainlab.workflow.search.space import (
    SearchSpaceError,
    override,
    parse_param,
    parse_space,
)
from trainlab.workflow.search.study import make_pruner, make_sampler, open_study


def compose_root(name: str, *overrides: str, config_dir=None):
    extra = [f"hydra.searchpath=[file://{config_dir}]"] if config_dir else []
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        cfg = compose(config_name=name, overrides=[*extra, *overrides], return_hydra_config=True)
    choices = OmegaConf.to_container(cfg.hydra.runtime.choices)
    return cfg, choices


def test_shipped_searches_compose_and_parse():
    for name in ("dbnet", "optimizer"):
        cfg, choices = compose_root("tune", f"hparams_search={name}", "experiment=dbnet_sroie")
        space = parse_space(cfg.search.params)
        assert cfg.search.study_name == f"dbnet_sroie_{name}" and cfg.search.metric == "val/hmean"
        assert cfg.search.sampler.name == "tpe" and cfg.search.pruner.name == "median"
        assert choices["hparams_search"] == name and cfg.test is False
        assert {p.type for p in space} >= {"float", "categorical"}
    dbnet = {p.key: p for p in parse_space(compose_root("tune", "hparams_search=dbnet")[0].search.params)}
    assert dbnet["optimizer.lr"].log and dbnet["data.batch_size"].type == "int"


def test_every_kind_of_dimension_samples_within_its_bounds():
    space = parse_space({
        "optimizer.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "optimizer.weight_decay": {"type": "float", "low": 0.0, "high": 1e-3, "step": 1e-4},
        "data.batch_size": {"type": "int", "low": 2, "high": 8, "step": 2},
        "optimizer": {"type": "categorical", "choices": ["adam", "adamw"]},
    })
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        values = {p.key: p.suggest(trial) for p in space}
        study.tell(trial, 0.0)
        assert 1e-4 <= values["optimizer.lr"] <= 1e-2
        assert round(values["optimizer.weight_decay"] / 1e-4, 6).is_integer()
        assert values["data.batch_size"] in (2, 4, 6, 8) and values["optimizer"] in ("adam", "adamw")
    distributions = study.trials[0].distributions
    assert distributions["optimizer.lr"].log and distributions["data.batch_size"].step == 2


@pytest.mark.parametrize("spec, message", [
    ({"type": "uniform", "low": 0, "high": 1}, r"search.params.x.type: 'uniform' is not one of float, int, categorical"),
    ({"type": "float", "low": 1}, r"search.params.x: missing 'high'"),
    ({"type": "float", "low": 1, "high": 1}, r"need low < high"),
    ({"type": "float", "low": 0, "high": 1, "log": True}, r"log scale needs low > 0"),
    ({"type": "float", "low": 1e-3, "high": 1, "log": True, "step": 0.1}, r"'log' and 'step' cannot be combined"),
    ({"type": "int", "low": 1.5, "high": 4}, r"int bounds must be integers"),
    ({"type": "categorical", "choices": []}, r"choices: give a non-empty list"),
    ({"type": "categorical", "choices": [[1, 2]]}, r"is not a scalar"),
    ({"type": "float", "low": 0, "high": 1, "scale": "log"}, r"unknown field\(s\) scale"),
])
def test_malformed_dimensions_are_named(spec, message):
    with pytest.raises(SearchSpaceError, match=message):
        parse_param("x", spec)


def test_empty_space_and_unknown_sampler_or_pruner_are_refused():
    with pytest.raises(SearchSpaceError, match="search.params is empty"):
        parse_space({})
    with pytest.raises(ValueError, match="unknown sampler 'tp'; choose one of tpe, random"):
        make_sampler({"name": "tp"})
    with pytest.raises(ValueError, match="search.pruner: .*n_startup"):
        make_pruner({"name": "median", "n_startup": 3})
    assert isinstance(make_sampler(None), optuna.samplers.TPESampler)
    assert isinstance(make_pruner(None), optuna.pruners.MedianPruner)


@pytest.mark.parametrize("value", [0.00123456789, 3, True, None, "resnet18", "a b=c,'d'", "null", "/data/x-y_z.1"])
def test_sampled_values_become_exact_hydra_overrides(value):
    assert parse_overrides([override("k.e-y", value)]) == {"k.e-y": value}


def test_a_stored_study_is_loaded_not_replaced_and_keeps_its_direction(tmp_path):
    search = {"study_name": "s", "direction": "maximize", "sampler": {"name": "random", "seed": 0}}
    study = open_study(search, tmp_path)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    assert (tmp_path / "study.db").is_file()
    assert len(open_study(search, tmp_path).trials) == 2
    with pytest.raises(ValueError, match="created to maximize, but search.direction=minimize"):
        open_study({**search, "direction": "minimize"}, tmp_path)


def test_best_experiment_reproduces_the_trial_config(tmp_path):
    """The written overlay, run by `trainlab train --config-dir ... experiment=<name>`, composes
    the trial's config again: a group switched by the search, sampled values, the command's
    overrides and what the search config set."""
    trial, trial_choices = compose_root(
        "tune", "hparams_search=optimizer", "experiment=dbnet_sroie", "data.limit_train=7",
        "callbacks.rich_progress_bar=null", "optimizer=adamw", "optimizer.lr=0.0123", "trainer.max_epochs=3",
        f"paths.output_dir={tmp_path}/trials/0007")
    base, base_choices = compose_root("train", "experiment=dbnet_sroie")
    groups = group_overrides(trial_choices, base_choices)
    assert groups == {"optimizer": "adamw"}
    values = {"exp_name": "s_best", **recipe_overlay(trial, base)}
    assert values["optimizer"]["lr"] == 0.0123 and values["data"] == {"limit_train": 7}
    assert "search" not in values and "output_dir" not in values.get("paths", {})
    path = write_best_experiment(tmp_path / "configs" / "experiment" / "s_best.yaml", "dbnet_sroie", groups, values,
                                 "Best trial 7.\nRun it.")
    assert path.read_text().startswith("# @package _global_\n# Best trial 7.\n# Run it.\n")
    again, again_choices = compose_root("train", "experiment=s_best", config_dir=tmp_path / "configs")
    assert again_choices["optimizer"] == "adamw" and again.exp_name == "s_best"
    assert trial.test is False and again.test is True  # trials skip the test split, the best run does not
    strip = lambda cfg: {k: v for k, v in OmegaConf.to_container(cfg, resolve=False).items()  # noqa: E731
                         if k not in ("hydra", "search", "exp_name", "test", "paths")}
    assert strip(again) == strip(trial)


@pytest.mark.parametrize("override", ["search.n_workers=0", "search.n_workers=two", "search.worker=1"])
def test_bad_worker_settings_are_refused_before_the_study_opens(tmp_path, override):
    from trainlab.workflow.search.runner import Search

    cfg, _ = compose_root("tune", "hparams_search=optimizer", override)
    with pytest.raises(ValueError, match=r"search.n_workers must be an integer >= 1 and search.worker one of "
                                         r"0..n_workers-1, got n_workers="):
        Search(cfg, tmp_path, [])
    assert not (tmp_path / "study.db").exists()
