"""Samplers seeded per process: a resumed study and concurrent workers never draw the same
parameters, and a database URL whose driver is missing is refused with a clear message.

The studies are real Optuna studies in real SQLite files, sampled by the real TPE sampler
(its first trials are its random start-up draws); the concurrent workers are two real
processes. No training runs here.
"""

from __future__ import annotations

import sys

import optuna
import pytest

from tests.workflow.workflow_helpers import run_together
from trainlab.workflow.search.space import parse_space
from trainlab.workflow.search.study import (
    ProcessSeededSampler,
    check_storage,
    open_study,
    process_seed,
)

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # QMCSampler

SPACE = parse_space({
    "optimizer": {"type": "categorical", "choices": ["adam", "adamw", "sgd"]},
    "optimizer.lr": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
})


def search_section(seed: int | None = 0, name: str = "tpe") -> dict:
    return {"study_name": "seeds", "direction": "maximize", "sampler": {"name": name, "seed": seed}}


def run_process(search: dict, folder: str, n_trials: int, barrier=None) -> None:
    """What one ``trainlab tune`` process does to the study, without the training: open it,
    sample ``n_trials`` trials and record the seed it sampled with."""
    study = open_study(search, folder)
    if barrier is not None:
        barrier.wait(30)

    def objective(trial: optuna.trial.Trial) -> float:
        trial.set_user_attr("sampler_seed", study.sampler.seed)
        for param in SPACE:
            param.suggest(trial)
        return 0.0

    study.optimize(objective, n_trials=n_trials)


def drawn(study: optuna.Study) -> list[tuple]:
    return [tuple(sorted(t.params.items())) for t in study.trials]


def test_a_resumed_study_draws_new_parameters_and_a_fresh_one_is_reproducible(tmp_path):
    search = search_section(seed=0)
    run_process(search, str(tmp_path / "search"), 3)
    run_process(search, str(tmp_path / "search"), 3)  # the same command again: a new process, a new sampler
    study = open_study(search, tmp_path / "search")
    assert len(set(drawn(study))) == 6
    assert [t.user_attrs["sampler_seed"] for t in study.trials] == [process_seed(0, 0)] * 3 + [process_seed(0, 3)] * 3

    run_process(search, str(tmp_path / "again"), 3)  # a fresh study with the same seed draws the same values
    assert drawn(open_study(search, tmp_path / "again")) == drawn(study)[:3]


def test_two_concurrent_workers_draw_different_parameters(tmp_path):
    search = search_section(seed=0)
    open_study(search, tmp_path)  # the first worker creates the study, then both sample at once
    assert run_together(run_process, (search, str(tmp_path), 4), 2) == [0, 0]

    study = open_study(search, tmp_path)
    assert [t.number for t in study.trials] == list(range(8))
    assert len(set(drawn(study))) == 8
    seeds = {t.user_attrs["sampler_seed"] for t in study.trials}
    assert len(seeds) == 2
    firsts = {seed: min(t.number for t in study.trials if t.user_attrs["sampler_seed"] == seed) for seed in seeds}
    assert all(seed == process_seed(0, first) for seed, first in firsts.items())


def test_unseeded_and_qmc_samplers_keep_their_seed(tmp_path):
    for name, seed in (("tpe", None), ("qmc", 5)):
        study = open_study(search_section(seed=seed, name=name), tmp_path / name)
        study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
        assert study.sampler.seed == seed and study.sampler.first_trial == 0
    with pytest.raises(ValueError, match="search.sampler.seed must be a non-negative integer or null, got -1"):
        ProcessSeededSampler({"name": "tpe", "seed": -1})
    with pytest.raises(ValueError, match="unknown sampler 'tp'"):
        ProcessSeededSampler({"name": "tp"})


def test_a_storage_url_without_its_driver_is_refused_with_what_to_install(monkeypatch):
    with pytest.raises(ValueError, match=r"search.storage='nonsense' is not a database URL; write e.g. postgresql://"):
        check_storage("nonsense")
    with pytest.raises(ValueError, match=r"search.storage=nosuchdb://h/x: SQLAlchemy knows no database 'nosuchdb'"):
        check_storage("nosuchdb://h/x")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as when psycopg is not installed: its import fails
    with pytest.raises(ValueError, match=r"search.storage=postgresql://optuna:\*\*\*@db/optuna: its database driver "
                                         r"'psycopg' is not installed \(.*\); pip install 'trainlab\[search\]'"):
        check_storage("postgresql://optuna:secret@db/optuna")
    check_storage("sqlite:///study.db")
