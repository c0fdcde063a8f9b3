"""A tiny real run of the recipe through the engine (3 subjects, 1 short epoch, a small network):
checkpoint selected by val/rmse, the test table with the baselines, then ``trainlab eval`` on the
checkpoint (the real command) and predictions from it."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import open_dict

from trainlab.engine.checkpoint import load_checkpoint, load_module
from trainlab.engine.train import train

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_train_eval_predict(tmp_path, cgm_root, one_thread):
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[
            "experiment=cgm_forecast", f"data.root={cgm_root}", "data.subjects={train: [1, 2], val: [26], test: [18]}",
            "data.stride=12", "data.eval_stride=6", "trainer.accelerator=cpu", "trainer.max_epochs=1",
            "model.network.d_model=16", "model.network.dim_feedforward=32", "model.network.num_layers=1",
            "~callbacks.rich_progress_bar", "logger=csv"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    metrics = train(cfg)
    run = tmp_path / "run"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["task"] == "forecasting"
    assert manifest["best"]["monitor"] == "val/rmse" and manifest["optimized"] == {"metric": "val/rmse", "direction": "min"}
    assert manifest["data"]["splits"]["test"]["subjects"] == [18]
    best = run / manifest["best"]["path"]
    assert best.name.startswith("best-epoch=00-val_rmse=")
    assert float(best.stem.split("=")[-1]) == pytest.approx(metrics["val/rmse"], abs=1e-4)
    # The table of the model beside the baselines on the same windows, written by the run.
    table = (run / "metric_table.md").read_text()
    for name in ("model", "persistence", "linear", "ridge"):
        assert f"| {name} | 30 |" in table and f"| {name} | 60 |" in table
    assert (run / "forecasts.png").stat().st_size > 0 and (run / "attention.png").stat().st_size > 0
    # Standardisation and ridge coefficients were fitted on train and travel in the checkpoint.
    state = load_checkpoint(best)["state_dict"]
    train_values = torch.cat([torch.from_numpy(s.values[s.observed]) for s in _series(cgm_root, [1, 2])]).double()
    assert float(state["glucose_mean"]) == pytest.approx(float(train_values.mean()), rel=1e-6)
    assert state["ridge_coef"].shape == (12, 48) and state["ridge_coef"].abs().sum() > 0

    # trainlab eval on the checkpoint (the real command): the same test figures and the per-subject table.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "trainlab", "eval", f"ckpt_path={best}",
                           f"hydra.run.dir={tmp_path / 'eval'}"], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    scored = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert scored["task"] == "forecasting" and scored["model_rmse_60"] == pytest.approx(metrics["test/rmse_60"], rel=1e-4)
    assert scored["ridge_rmse_60"] == pytest.approx(metrics["test/ridge_rmse_60"], rel=1e-4)
    rows = list(csv.DictReader((tmp_path / "eval" / "metric_table.csv").open()))
    assert {r["subject"] for r in rows} == {"all", "18"} and {r["model"] for r in rows} == {"model", "persistence", "linear", "ridge"}

    # Predictions from a CGMacros file, past its end.
    model = load_module(best)
    summary = model.write_predictions(cgm_root / "CGMacros-018.csv.gz", tmp_path / "predict", {"stride": 0})
    assert summary["forecasts"] == 1
    lines = list(csv.DictReader((tmp_path / "predict" / "forecasts.csv").open()))
    assert [int(r["step"]) for r in lines] == list(range(1, 13)) and all(r["reading"] == "" for r in lines)
    assert all(float(r["persistence_forecast"]) == float(lines[0]["persistence_forecast"]) for r in lines)


def _series(root, subjects):
    from trainlab.tasks.forecasting.series import load_series

    return [load_series(root, s, "dexcom") for s in subjects]
