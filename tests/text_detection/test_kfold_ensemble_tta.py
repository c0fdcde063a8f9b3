"""k-fold splits of receipts (copies kept in one fold), map-level ensembles, test-time augmentation
that inverts exactly, and the whole k-fold plan on real receipts through ``trainlab kfold``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import shared_dataset
from trainlab.engine.checkpoint import load_checkpoint
from trainlab.tasks.text_detection import tta
from trainlab.tasks.text_detection.data.datamodule import TextDetectionDataModule
from trainlab.tasks.text_detection.module import TextDetectionModule

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def receipts_with_copies(mini_root, tmp_path_factory):
    """The embedded receipts plus a byte-identical copy and a re-encoded, downscaled copy of two of them."""
    root = tmp_path_factory.mktemp("copies") / "data"
    shutil.copytree(mini_root, root)
    images, annotations = root / "images" / "train", root / "annotations" / "train"
    shutil.copy(images / "X51005442383.jpg", images / "COPY_BYTES.jpg")
    shutil.copy(annotations / "X51005442383.txt", annotations / "COPY_BYTES.txt")
    image = cv2.imread(str(images / "X51006388064.jpg"))
    small = cv2.resize(image, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(images / "COPY_RESCALED.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 60])
    lines = []
    for line in (annotations / "X51006388064.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split(",", 8)
        lines.append(",".join([str(round(int(v) * 0.8)) for v in parts[:8]] + parts[8:]))
    (annotations / "COPY_RESCALED.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_every_receipt_is_in_exactly_one_validation_fold_and_copies_stay_together(receipts_with_copies):
    names, folds = [], []
    for fold in range(5):
        datamodule = TextDetectionDataModule(root=str(receipts_with_copies), n_folds=5, fold=fold, seed=7)
        datamodule.setup()
        val = {r.name for r in datamodule.records["val"]}
        train = {r.name for r in datamodule.records["train"]}
        assert val and not val & train and len(val | train) == 26
        names += sorted(val)
        folds.append(datamodule.fingerprint()["folds"])
    assert sorted(names) == sorted(folds[0]["assignment"]) and len(names) == len(set(names)) == 26
    assignment = folds[0]["assignment"]
    assert all(f["assignment"] == assignment for f in folds)  # one assignment, whichever fold is held out
    assert assignment["COPY_BYTES"] == assignment["X51005442383"]
    assert assignment["COPY_RESCALED"] == assignment["X51006388064"]
    assert ["COPY_BYTES", "X51005442383"] in folds[0]["kept_together"]
    assert ["COPY_RESCALED", "X51006388064"] in folds[0]["kept_together"]
    with pytest.raises(ValueError, match="data.fold and data.n_folds go together"):
        TextDetectionDataModule(root=str(receipts_with_copies), fold=5, n_folds=5)


def test_sroie_duplicates_share_a_fold():
    root = shared_dataset("sroie2019")
    datamodule = TextDetectionDataModule(root=str(root), n_folds=5, fold=0)
    datamodule.setup()
    assignment = datamodule.fingerprint()["folds"]["assignment"]
    assert assignment["X51005268262"] == assignment["X51005301659"]  # byte-identical pair (SOURCE.md)
    assert "X51007135247" not in assignment  # byte-identical to a test image: dropped from train


@pytest.mark.parametrize("name", ["identity", "hflip", "vflip", "rot90", "rot180", "rot270", "scale_1.0"])
def test_tta_inverse_brings_a_known_map_back_exactly(name):
    rng = np.random.default_rng(0)
    known = rng.random((96, 64), dtype=np.float32)
    transformed = tta.apply(name, torch.from_numpy(known)[None, None])[0, 0].numpy()
    np.testing.assert_array_equal(tta.invert(name, transformed, known.shape), known)


def test_tta_rescaling_comes_back_to_the_input_grid():
    known = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (96, 1))  # smooth: bilinear resampling keeps it
    for name in ("scale_0.9", "scale_1.1"):
        transformed = tta.apply(name, torch.from_numpy(known)[None, None])
        assert transformed.shape[-2] % 32 == 0 and transformed.shape[-1] % 32 == 0
        back = tta.invert(name, transformed[0, 0].numpy(), known.shape)
        assert back.shape == known.shape and np.abs(back - known).max() < 0.03
    with pytest.raises(ValueError, match="unknown transform 'mirror'"):
        tta.check_transforms(["mirror"])


def small_detector(seed: int) -> TextDetectionModule:
    torch.manual_seed(seed)
    model = TextDetectionModule(neck={"inner_channels": 16}, tune_postprocess={"enabled": False})
    model.configure_model()
    return model.eval()


def test_an_ensemble_of_a_model_with_itself_is_the_model(mini_root):
    make = small_detector
    image = torch.from_numpy(cv2.resize(cv2.imread(str(mini_root / "images" / "test" / "X51005568855.jpg")),
                                        (256, 384)).transpose(2, 0, 1).astype(np.float32) / 255)[None]
    alone = make(0).predict_maps(image)[0]["prob_map"]
    twin = TextDetectionModule.ensemble([make(0), make(0)])
    np.testing.assert_allclose(twin.predict_maps(image)[0]["prob_map"], alone, rtol=0, atol=1e-6)
    # Weights: all weight on the first member gives the first member; equal weights give the mean.
    other = make(1).predict_maps(image)[0]["prob_map"]
    np.testing.assert_allclose(TextDetectionModule.ensemble([make(0), make(1)], [1, 0]).predict_maps(image)[0]["prob_map"],
                               alone, atol=1e-6)
    np.testing.assert_allclose(TextDetectionModule.ensemble([make(0), make(1)]).predict_maps(image)[0]["prob_map"],
                               (alone + other) / 2, atol=1e-6)
    # TTA with the identity alone changes nothing; with a flip it averages the mirrored view.
    model = make(0)
    model.configure_tta(["identity", "hflip"])
    flipped = make(0).predict_maps(image.flip(-1))[0]["prob_map"][:, ::-1]
    np.testing.assert_allclose(model.predict_maps(image)[0]["prob_map"], (alone + flipped) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="non-negative values"):
        TextDetectionModule.ensemble([make(0), make(1)], [1, -1])


@pytest.mark.slow
def test_kfold_plan_chooses_on_out_of_fold_predictions_and_scores_the_ensemble(mini_root, tmp_path):
    """Two folds of the embedded receipts, one short epoch each, through the real command."""
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'src'}")
    args = [sys.executable, "-m", "trainlab", "kfold", "n_folds=2", "exp_name=kfold_test", "model.neck.inner_channels=32",
            "model.encoder.model_name=mobilenetv3_small_100", "data.image_size=128", "data.resize.size=256",
            "data.resize.max_side=512", "data.batch_size=4", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
            "model.tune_postprocess.unclip_ratio=[1.4,2.0]", "model.tune_postprocess.box_thresh=[0.3,0.6]",
            "~callbacks.rich_progress_bar", "logger=csv", "paths.output_root=outputs"]
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    sweep = next((tmp_path / "outputs" / "kfold_test").glob("kfold2_*"))
    summary = json.loads((sweep / "kfold_summary.json").read_text())
    assert [f["fold"] for f in summary["folds"]] == [0, 1]
    # The out-of-fold pool holds every train receipt once (each from the fold that held it out) and no test image.
    fingerprints = [json.loads((sweep / f["run"] / "manifest.json").read_text())["data"] for f in summary["folds"]]
    assignment = fingerprints[0]["folds"]["assignment"]
    assert summary["out_of_fold_choice"]["images"] == len(assignment) == 24
    assert all(fp["splits"]["val"]["images"] == sum(1 for f in assignment.values() if f == k)
               for k, fp in enumerate(fingerprints))
    for fold in summary["folds"]:
        record = load_checkpoint(fold["checkpoint"])["trainlab"]
        assert record["postprocess_source"].startswith("out-of-fold: 2 folds, 24 held-out samples")
        assert record["postprocess"] == {**record["postprocess"], **summary["out_of_fold_choice"]["postprocess"]}
        assert set(fold["test_out_of_fold_choice"]) >= {"test/hmean", "test/precision", "test/recall"}
    assert set(summary["ensemble"]["test"]) >= {"test/hmean"} and len(summary["ensemble"]["checkpoints"]) == 2
    assert "| mean ± std |" in (sweep / "kfold_table.md").read_text()
    # Re-choosing the fold ensemble's thresholds on a validation split is refused: fold 1 trained on fold 0's.
    spec = "[" + ",".join(f["checkpoint"] for f in summary["folds"]) + "]"
    refused = subprocess.run([sys.executable, "-m", "trainlab", "eval", f"ckpt_path={spec}", "choose_on=val"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "hold out different folds" in refused.stderr
    # trainlab collect + ablate: one row per fold, then the mean ± std over the folds.
    subprocess.run([sys.executable, "-m", "trainlab", "collect", str(sweep), "-o", str(tmp_path / "runs.csv")],
                   cwd=tmp_path, env=env, check=True, capture_output=True)
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert sorted(runs["data.fold"]) == [0, 1]
    subprocess.run([sys.executable, "-m", "trainlab", "ablate", str(tmp_path / "runs.csv"), "--format", "csv",
                    "-o", str(tmp_path / "table.csv"), "--no-plots"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    table = pd.read_csv(tmp_path / "table.csv")
    assert len(table) == 1 and table["runs"][0] == 2 and table["folds"][0] == "0 1"
    assert table["val/hmean mean"][0] == pytest.approx(runs["val/hmean"].mean())
