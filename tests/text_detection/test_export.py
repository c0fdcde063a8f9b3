"""trainlab export and the ONNX Runtime predict path, on real SROIE receipts: every architecture
exports, passes onnx.checker and matches PyTorch within 1e-4; the JSON sidecar round-trips; ONNX
Runtime writes the same boxes as PyTorch; and that path runs with torch blocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import albumentations as A
import numpy as np
import pytest
import torch

from trainlab.engine.export import ExportError, export_onnx
from trainlab.engine.module import TrainlabModule
from trainlab.engine.sidecar import read_sidecar
from trainlab.tasks.text_detection.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, normalize, read_image
from trainlab.tasks.text_detection.module import TextDetectionModule

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[2]
SMALL = {"mode": "long_side", "size": 256, "max_side": 256}
RAPIDOCR_RESIZE = {"mode": "min_side_limit", "size": 736, "max_side": 2000}
RAPIDOCR_POSTPROCESS = {"thresh": 0.3, "box_thresh": 0.5, "unclip_ratio": 1.6, "min_size": 3, "dilation": True,
                        "coordinate_rounding": "paddle"}
RECEIPTS = ("X00016469670", "X51005568855", "X51007339163")


@pytest.fixture(scope="module")
def receipts(mini_root, tmp_path_factory):
    """Three real receipts of the embedded SROIE test split, in a folder of their own."""
    folder = tmp_path_factory.mktemp("receipts")
    for name in RECEIPTS:
        (folder / f"{name}.jpg").symlink_to(mini_root / "images" / "test" / f"{name}.jpg")
    return folder


def small_module(architecture: str) -> TextDetectionModule:
    encoder = {} if architecture == "ppocr_det" else {"encoder": {"model_name": "resnet18", "pretrained": False}}
    neck = {"neck": {"inner_channels": 64}} if architecture in {"dbnet", "dbnetpp"} else {}
    torch.manual_seed(0)
    module = TextDetectionModule(architecture_name=architecture, resize=SMALL, tune_postprocess={"enabled": False},
                                 **encoder, **neck)
    module.configure_model()
    return module.eval()


@pytest.mark.parametrize("architecture", ["dbnet", "dbnetpp", "craft", "ppocr_det"])
def test_every_architecture_exports_and_matches_pytorch_on_real_receipts(architecture, receipts, tmp_path):
    module = small_module(architecture)
    sidecar = export_onnx(module, tmp_path / "model.onnx", parity_source=receipts, parity_limit=2)
    onnx.checker.check_model(onnx.load(tmp_path / "model.onnx"), full_check=True)
    parity = sidecar["parity"]
    assert parity["inputs"] == 2 and parity["max_abs_diff"] < 1e-4
    # Two receipts of other aspect ratios: the dynamic height and width were used.
    assert parity["shapes"][0] != parity["shapes"][1] and max(parity["shapes"][0][0][2:]) == 256
    assert sidecar["graph"]["output_names"] == list(module.family.inference_maps)


def test_sidecar_round_trips_and_the_runtime_reads_it(receipts, tmp_path):
    from trainlab.tasks.text_detection.onnx_runtime import OnnxTextDetector

    module = small_module("dbnet")
    module.override_postprocess({"box_thresh": 0.45, "unclip_ratio": 1.8})
    written = export_onnx(module, tmp_path / "dbnet.onnx", parity_source=receipts, parity_limit=1,
                          record={"checkpoint": "x.ckpt"})
    assert read_sidecar(tmp_path / "dbnet.onnx") == json.loads(json.dumps(written))
    assert written["postprocess"] == module.postprocess.to_dict() and written["checkpoint"] == "x.ckpt"
    assert "overridden: box_thresh, unclip_ratio" in written["postprocess_source"]
    assert written["preprocess"]["resize"] == {**SMALL, "multiple": 32}
    detector = OnnxTextDetector(tmp_path / "dbnet.onnx")
    assert detector.config == module.postprocess and detector.resize == written["preprocess"]["resize"]
    # Broken sidecars are refused with the file named.
    (tmp_path / "dbnet.json").write_text('{"task": "text_detection",\n "preprocess": }')
    with pytest.raises(ValueError, match=r"dbnet\.json:2:"):
        OnnxTextDetector(tmp_path / "dbnet.onnx")


def test_export_fails_when_onnx_runtime_differs_and_writes_nothing(receipts, tmp_path):
    with pytest.raises(ExportError, match="ONNX Runtime differs from PyTorch"):
        export_onnx(small_module("dbnet"), tmp_path / "m.onnx", parity_source=receipts, parity_limit=1, tolerance=1e-12)
    assert list(tmp_path.iterdir()) == []


def test_a_task_without_export_hooks_says_so(tmp_path):
    with pytest.raises(NotImplementedError, match="no network"):
        export_onnx(TrainlabModule(), tmp_path / "m.onnx")


def test_normalize_is_albumentations_normalize_bit_for_bit(receipts):
    for path in sorted(receipts.iterdir()):
        image = read_image(path)
        expected = A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD, max_pixel_value=255.0, p=1.0)(image=image)["image"]
        np.testing.assert_array_equal(normalize(image), expected.transpose(2, 0, 1))


@pytest.fixture(scope="module")
def ppocr_export(receipts, tmp_path_factory):
    """PP-OCRv4 with its real converted weights, RapidOCR's resize and thresholds, exported."""
    pytest.importorskip("onnx2torch")
    folder = tmp_path_factory.mktemp("ppocr_export")
    module = TextDetectionModule("ppocr_det", resize=RAPIDOCR_RESIZE, head={"postprocess": RAPIDOCR_POSTPROCESS},
                                 tune_postprocess={"enabled": False})
    module.configure_model()
    export_onnx(module.eval(), folder / "ppocr.onnx", parity_source=receipts, parity_limit=1)
    module.write_predictions(receipts, folder / "torch", {"draw": False})
    return folder


def test_onnx_runtime_predict_writes_the_same_boxes_as_pytorch(ppocr_export, receipts):
    from trainlab.tasks.text_detection.onnx_runtime import OnnxTextDetector

    detector = OnnxTextDetector(ppocr_export / "ppocr.onnx", threads=1)
    summary = detector.write_predictions(receipts, ppocr_export / "ort", {"draw": False})
    assert summary["images"] == 3 and summary["text_regions"] > 100
    torch_boxes = json.loads((ppocr_export / "torch" / "submission.json").read_text())
    assert json.loads((ppocr_export / "ort" / "submission.json").read_text()) == torch_boxes
    for name in RECEIPTS:
        assert (ppocr_export / "ort" / f"res_{name}.txt").read_text() == (ppocr_export / "torch" / f"res_{name}.txt").read_text()


BLOCK_TORCH = textwrap.dedent("""
    import importlib.abc, sys

    class BlockTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch.") or name in {"lightning", "albumentations"}:
                raise ImportError(f"{name} is blocked in this process")
            return None

    sys.meta_path.insert(0, BlockTorch())
""")


def test_onnx_runtime_predict_command_runs_with_torch_blocked(ppocr_export, receipts, tmp_path):
    script = BLOCK_TORCH + textwrap.dedent(f"""
        try:
            import torch
        except ImportError:
            pass
        else:
            raise SystemExit("torch was not blocked")
        from trainlab.cli.main import main
        try:
            main(["predict", "backend=onnxruntime", "model={ppocr_export / 'ppocr.onnx'}", "input={receipts}",
                  "draw=false", "threads=1", "hydra.run.dir={tmp_path / 'out'}"])
        except SystemExit as stop:
            if stop.code:
                raise
        assert "torch" not in sys.modules, "torch was imported"
    """)
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{REPO}")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"backend": "onnxruntime"' in done.stdout
    torch_boxes = json.loads((ppocr_export / "torch" / "submission.json").read_text())
    assert json.loads((tmp_path / "out" / "submission.json").read_text()) == torch_boxes
