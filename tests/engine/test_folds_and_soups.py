"""Grouped fold assignment and greedy checkpoint soups, on the tiny real task."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from omegaconf import open_dict

from tests.engine.test_task_contract import REPO, tiny_config
from trainlab.engine.averaging import (
    average_checkpoints,
    last_epoch_checkpoints,
    save_checkpoint,
)
from trainlab.engine.checkpoint import load_checkpoint
from trainlab.engine.folds import assign_folds, union_groups
from trainlab.engine.train import train
from trainlab.workflow.soup import greedy_soup, validation_scorer


def test_groups_never_straddle_folds_and_folds_are_balanced():
    items = [f"img{i}" for i in range(23)]
    groups = union_groups(items, [("img0", "img1"), ("img1", "img7"), ("img3", "img4")])
    assert groups["img0"] == groups["img1"] == groups["img7"] and groups["img3"] == groups["img4"]
    assert len(set(groups.values())) == 23 - 3
    folds = assign_folds(groups, 5, seed=3)
    assert set(folds) == set(items) and folds["img0"] == folds["img7"] and folds["img3"] == folds["img4"]
    sizes = sorted(sum(1 for f in folds.values() if f == k) for k in range(5))
    assert sizes[-1] - sizes[0] <= 2  # a group of 3 can unbalance by its size at most
    assert assign_folds(groups, 5, seed=3) == folds and assign_folds(groups, 5, seed=4) != folds
    with pytest.raises(ValueError, match="2 groups of items cannot fill 3 folds"):
        assign_folds({"a": 0, "b": 1}, 3)
    with pytest.raises(ValueError, match="n_folds must be at least 2"):
        assign_folds(groups, 1)


@pytest.fixture(scope="module")
def epochs_run(mini_root, tmp_path_factory):
    """A tiny real run that keeps one checkpoint per epoch."""
    run = tmp_path_factory.mktemp("soup") / "run"
    cfg = tiny_config(mini_root, run, max_epochs=4)
    with open_dict(cfg):
        cfg.callbacks.epoch_checkpoints = {
            "_target_": "lightning.pytorch.callbacks.ModelCheckpoint", "dirpath": f"{run}/checkpoints",
            "filename": "epoch={epoch:02d}", "auto_insert_metric_name": False, "monitor": "epoch", "mode": "max",
            "save_top_k": -1, "every_n_epochs": 1, "enable_version_counter": False}
        cfg.callbacks.early_stopping = None
    train(cfg)
    return run


def test_greedy_soup_takes_candidates_by_score_and_skips_one_that_hurts(epochs_run):
    candidates = last_epoch_checkpoints(epochs_run, 2, every=True)
    assert len(candidates) == 4
    # A candidate that must hurt: the last epoch's weights with the classifier's sign flipped.
    broken = load_checkpoint(candidates[-1])
    broken["state_dict"] = {k: -v if k.startswith("net.3.") else v for k, v in broken["state_dict"].items()}
    bad = save_checkpoint(broken, epochs_run / "checkpoints" / "flipped.ckpt")
    score, metric, direction = validation_scorer(candidates[0])
    assert (metric, direction) == ("val/loss", "min")
    soup = greedy_soup([*candidates, bad], score, direction)
    own = [step.own_score for step in soup.steps]
    assert own == sorted(own) and soup.steps[0].kept  # best (lowest loss) first; the soup starts with it
    assert str(bad) not in soup.ingredients and not next(s for s in soup.steps if s.path == str(bad)).kept
    best = soup.steps[0].soup_score
    for step in soup.steps[1:]:
        assert step.kept == (step.soup_score <= best)  # kept exactly when validation does not get worse
        best = step.soup_score if step.kept else best
    assert soup.score == pytest.approx(best) and soup.score <= soup.steps[0].own_score
    if len(soup.ingredients) > 1:
        expected = average_checkpoints(soup.ingredients)["state_dict"]
        for key, value in soup.checkpoint["state_dict"].items():
            torch.testing.assert_close(value, expected[key])
    assert score(soup.checkpoint) == pytest.approx(soup.score)


def test_greedy_soup_through_the_command(epochs_run, tmp_path):
    env = {"PYTHONPATH": f"{REPO}:{REPO / 'src'}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "trainlab", "average", "--greedy", "--run", str(epochs_run),
                           "-o", str(tmp_path / "soup.ckpt")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["metric"] == "val/loss" and report["direction"] == "min" and len(report["steps"]) == 4
    assert load_checkpoint(tmp_path / "soup.ckpt")["trainlab"]["averaged_from"] == report["ingredients"]
