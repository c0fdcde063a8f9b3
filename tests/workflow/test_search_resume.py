"""A real Optuna search on the embedded receipts: pruning from inside training, a killed search
resumed from its SQLite study, and the best trial written as an experiment config.

Every trial is a tiny real training run; the search is marked ``slow``. The pruning rule is
the real median pruner on a real per-epoch metric; the metric is controlled by the sampled
parameter (a 1000-times larger probability-map loss weight multiplies ``train/loss``), and
the first trials are enqueued, so the pruned trial is known in advance.
"""

from __future__ import annotations

import optuna
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState

from tests.workflow.workflow_helpers import (
    TINY,
    kill_when,
    read_manifest,
    start,
    trainlab,
)
from trainlab.cli.collect import main as collect

pytestmark = pytest.mark.slow

SEARCH = """\
# @package _global_
search:
  study_name: loss_weight
  n_trials: 4
  metric: train/loss
  direction: minimize
  pruner: {name: median, n_startup_trials: 2, n_warmup_steps: 0}
  enqueue:
    - {model.loss.prob_weight: 1.0}
    - {model.loss.prob_weight: 2.0}
    - {model.loss.prob_weight: 1000.0}
    - {model.loss.prob_weight: 1.0}
  params:
    model.loss.prob_weight: {type: categorical, choices: [1.0, 2.0, 1000.0]}
"""


def test_killed_search_resumes_its_study_and_writes_the_best_experiment(tmp_path):
    configs = tmp_path / "configs"
    (configs / "hparams_search").mkdir(parents=True)
    (configs / "hparams_search" / "loss_weight.yaml").write_text(SEARCH)
    args = ["tune", "--config-dir", str(configs), "hparams_search=loss_weight", "exp_name=search", *TINY,
            "trainer.max_epochs=2"]
    folder = tmp_path / "outputs" / "search" / "search_loss_weight"
    storage = f"sqlite:///{folder / 'study.db'}"

    # First run: trials 0-1 complete, trial 2 is pruned after its first epoch, then the
    # process is killed while trial 3 trains its second epoch.
    first = start(*args, cwd=tmp_path)
    kill_when(first, lambda: (folder / "trials" / "0003" / "checkpoints" / "last.ckpt").is_file())
    study = optuna.load_study(study_name="loss_weight", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED,
                                               TrialState.RUNNING]
    pruned = read_manifest(folder / "trials" / "0002")
    assert pruned["status"] == "pruned" and "pruned at epoch 0" in pruned["error"]
    assert study.trials[2].intermediate_values[0] > 100 * max(study.trials[0].intermediate_values[0],
                                                              study.trials[1].intermediate_values[0])

    # The same command again: the dead trial is failed and retried; the count goes on.
    done = trainlab(*args, cwd=tmp_path)
    assert "trial 3: its process" in done.stderr + done.stdout
    study = optuna.load_study(study_name="loss_weight", storage=storage)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL,
                      TrialState.COMPLETE]
    retry = study.trials[4]
    assert retry.user_attrs["retry_of"] == 3 and retry.params == study.trials[3].params
    resumed = read_manifest(folder / "trials" / "0004")
    assert resumed["resumed_from"] == str(folder / "trials" / "0003" / "checkpoints" / "last.ckpt")
    assert [h["epoch"] for h in resumed["history"]] == [0, 1]
    for trial in (0, 1, 4):
        history = read_manifest(folder / "trials" / f"{trial:04d}")["history"]
        assert study.trials[trial].value == pytest.approx(min(h["train/loss"] for h in history))

    # Results: the trials table, the best parameters and a runnable experiment config.
    best = yaml.safe_load((folder / "best_params.yaml").read_text())
    assert best["trial"] == study.best_trial.number and best["params"] == study.best_trial.params
    experiment = folder / "configs" / "experiment" / "loss_weight_best.yaml"
    shown = trainlab("train", "--config-dir", str(folder / "configs"), "experiment=loss_weight_best", "--cfg", "job",
                     cwd=tmp_path)
    composed = yaml.safe_load(shown.stdout)
    assert composed["model"]["loss"]["prob_weight"] == best["params"]["model.loss.prob_weight"]
    assert composed["data"]["limit_train"] == 2 and composed["trainer"]["max_epochs"] == 2
    assert composed["exp_name"] == "loss_weight_best" and composed["test"] is True
    assert experiment.read_text().startswith("# @package _global_")
    assert len(pd.read_csv(folder / "trials.csv")) == 5

    assert collect([str(folder), "-o", str(tmp_path / "trials.csv")]) == 0
    statuses = pd.read_csv(tmp_path / "trials.csv").set_index("run")["status"].to_dict()
    assert statuses == {"trials/0000": "finished", "trials/0001": "finished", "trials/0002": "pruned",
                        "trials/0003": "interrupted", "trials/0004": "finished"}
