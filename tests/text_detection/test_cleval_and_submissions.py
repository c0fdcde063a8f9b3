"""CLEval against the cleval package's own command line, and submission files written by
``trainlab predict`` read back by ``trainlab score``, on real PP-OCRv4 detections of the
embedded test receipts."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from trainlab.tasks.text_detection.inference import detect_image, list_inputs, predict_folder
from trainlab.tasks.text_detection.module import TextDetectionModule

pytest.importorskip("cleval", reason="the cleval package (pip install -e '.[cleval]')")
pytest.importorskip("onnx2torch", reason="PP-OCRv4 needs the ppocr extra")

REPO = Path(__file__).resolve().parents[2]
RAPIDOCR_RESIZE = {"mode": "min_side_limit", "size": 736, "max_side": 2000}


@pytest.fixture(scope="module")
def predictions(mini_root, tmp_path_factory):
    """PP-OCRv4 zero-shot on the 8 embedded test receipts, every submission format."""
    folder = tmp_path_factory.mktemp("ppocr_predictions")
    model = TextDetectionModule("ppocr_det", resize=RAPIDOCR_RESIZE, tune_postprocess={"enabled": False})
    model.configure_model()
    model.eval()
    predict_folder(lambda image: detect_image(model, image), list_inputs(mini_root / "images" / "test"), folder,
                   draw=False, formats=["icdar", "icdar-zip", "json", "csv"])
    return folder


def trainlab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'src'}")
    done = subprocess.run([sys.executable, "-m", "trainlab", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_cleval_equals_the_packages_command_line(predictions, mini_root, tmp_path):
    gt_dir = mini_root / "annotations" / "test"
    scored = json.loads(trainlab("score", "--gt", str(gt_dir), "--pred", str(predictions), "--metrics", "iou", "cleval",
                                 cwd=tmp_path).stdout)
    # The package's own command, on the zips it expects (gt_<name>.txt, res_<name>.txt).
    with zipfile.ZipFile(tmp_path / "gt.zip", "w") as archive:
        for path in gt_dir.glob("*.txt"):
            archive.write(path, arcname=f"gt_{path.name}")
    cli = shutil.which("cleval", path=str(Path(sys.executable).parent)) or "cleval"
    done = subprocess.run([cli, "-g", str(tmp_path / "gt.zip"), "-s", str(predictions / "submission.zip"), "-t", "1",
                           "-o", str(tmp_path / "cleval_out")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    official = ast.literal_eval(done.stdout[done.stdout.index("{"):])["all"]["det"]
    assert 0.5 < official["hmean"] < 1.0  # a real detector, neither empty nor perfect
    for key in ("precision", "recall", "hmean", "num_char_gt", "num_char_det", "num_char_tp_recall",
                "num_char_tp_precision", "num_char_fp"):
        assert scored["cleval"][key] == pytest.approx(official[key], abs=1e-12), key


def test_every_submission_format_reads_back_with_the_same_scores(predictions, mini_root, tmp_path):
    gt_dir = str(mini_root / "annotations" / "test")
    scores = {}
    for source in ("", "submission.zip", "submission.json", "submission.csv"):
        done = trainlab("score", "--gt", gt_dir, "--pred", str(predictions / source), cwd=tmp_path)
        scores[source or "folder"] = json.loads(done.stdout)
    assert scores["folder"]["num_images"] == 8 and scores["folder"]["num_images_without_results"] == 0
    assert 0.5 < scores["folder"]["hmean"] < 1.0
    assert all(score == scores["folder"] for score in scores.values()), scores
    rows = (predictions / "submission.csv").read_text().splitlines()
    detections = json.loads((predictions / "submission.json").read_text())
    assert rows[0] == "image,points,score" and len(rows) - 1 == sum(len(v) for v in detections.values())
    with zipfile.ZipFile(predictions / "submission.zip") as archive:
        assert sorted(archive.namelist()) == sorted(p.name for p in predictions.glob("res_*.txt"))
    bad = tmp_path / "bad.csv"
    bad.write_text("image,points,score\nX1,1 2 3,0.5\nX2,,\n")
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'src'}")
    done = subprocess.run([sys.executable, "-m", "trainlab", "score", "--gt", gt_dir, "--pred", str(bad)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "bad.csv" in done.stderr
