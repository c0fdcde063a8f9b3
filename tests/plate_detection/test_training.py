"""A short real training through the engine's recipe on real plates: the loss falls, anchors are
fitted and recorded, thresholds are tuned on validation and stored with the anchors in the
checkpoint, which ``trainlab eval`` and ``trainlab predict`` rebuild from alone."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import open_dict

from trainlab.engine.checkpoint import load_checkpoint, load_module
from trainlab.engine.train import train

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_short_training_learns_and_its_checkpoint_serves_eval_and_predict(plates_root, tmp_path):
    pytest.importorskip("onnx2torch")
    run = tmp_path / "run"
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[
            "experiment=plates_retinanet", f"data.root={plates_root}", "data.image_size=224", "data.limit_train=12",
            "data.batch_size=4", "trainer.max_epochs=4", "trainer.check_val_every_n_epoch=2", "trainer.accelerator=cpu", "scheduler.warmup=0",
            "~callbacks.rich_progress_bar", "logger=csv", "model.draw_detections=2"])
    with open_dict(cfg):
        cfg.data.augment = {}  # the same 12 images every epoch: the loss must fall
        cfg.paths.output_dir = str(run)
    metrics = train(cfg)

    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["optimized"] == {"metric": "val/map", "direction": "max"}
    losses = [epoch["train/loss"] for epoch in manifest["history"]]
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0], losses
    anchors = manifest["techniques"]["module"]["anchors"]
    assert anchors["source"] == "k-means on the training boxes" and anchors["boxes"] == 12
    assert len(anchors["sizes"]) == 3 and len(anchors["aspect_ratios"]) == 2
    tuned = manifest["tuned"]["postprocess"]
    assert 0.05 <= tuned["confidence_threshold"] <= 0.95 and tuned["nms_threshold"] in (0.3, 0.4, 0.5, 0.6, 0.7)
    assert {"test/map", "test/map_50", "test/mar_100", "test/precision", "test/recall"} <= set(metrics)
    assert len(list((run / "detections" / "val").glob("*.jpg"))) == 2
    assert len(list((run / "detections" / "test").glob("*.jpg"))) == 2

    best = run / manifest["best"]["path"]
    record = load_checkpoint(best)["trainlab"]
    assert record["postprocess"] == tuned and record["anchors"]["sizes"] == anchors["sizes"]
    model = load_module(best)
    assert [list(map(float, s)) for s in model.net.anchor_generator.sizes] == anchors["sizes"]
    assert model.postprocess.to_dict() == tuned

    summary = model.eval().write_predictions(plates_root / "eu" / "eu1.jpg", tmp_path / "predict", {"draw": True})
    assert summary["images"] == 1
    rows = list(csv.DictReader((tmp_path / "predict" / "detections.csv").open()))
    coco = json.loads((tmp_path / "predict" / "detections_coco.json").read_text())
    assert len(rows) == len(coco["annotations"]) == summary["detections"]
    assert coco["images"][0]["width"] == 1000 and (tmp_path / "predict" / "vis" / "eu1.jpg").is_file()
    assert all(float(r["score"]) >= tuned["confidence_threshold"] for r in rows)

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    done = subprocess.run([sys.executable, "-m", "trainlab", "eval", f"ckpt_path={best}", "split=val",
                           f"hydra.run.dir={tmp_path / 'eval'}"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert report["task"] == "plate_detection" and report["images"] == 49
    assert report["postprocess"] == tuned and 0.0 <= report["map"] <= report["map_50"] <= 1.0
    per_image = list(csv.DictReader((tmp_path / "eval" / "per_image.csv").open()))
    assert len(per_image) == 49 and sum(int(r["tp"]) for r in per_image) == report["tp"]
