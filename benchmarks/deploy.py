"""Deployment benchmark: trainlab (PyTorch), trainlab (ONNX Runtime) and RapidOCR's PP-OCRv4 detection
pipeline, side by side in one run on the same SROIE test receipts at the same input size.

For each pipeline and image (decoded beforehand; reading the file is not timed): network time,
post-processing time and end-to-end latency (pre-processing, network, post-processing), then the
ICDAR 2015 H-mean of its boxes (IoU protocol, trainlab's scorer) and how many images get exactly
the boxes of trainlab's PyTorch path.

- trainlab: the ``ppocr_det`` checkpoint given by ``--ckpt`` (default: one written here from the
  pretrained PP-OCRv4 weights, no fine-tuning, RapidOCR's resize and thresholds with
  ``coordinate_rounding=paddle``), exported by ``trainlab export``'s code path
  (:func:`~trainlab.engine.export.export_onnx`), run by PyTorch and by
  :class:`~trainlab.tasks.text_detection.onnx_runtime.OnnxTextDetector`;
- RapidOCR: ``rapidocr_onnxruntime``'s ``TextDetector`` on the BGR image after
  ``RapidOCR.preprocess``'s long-side cap (2000 px), with PaddleOCR's ImageNet mean and std (the
  normalisation the PP-OCRv4 detector was trained with, which trainlab's conversion uses; RapidOCR
  1.4's config.yaml says 0.5 / 0.5) and its ``config.yaml`` thresholds; boxes mapped back to the
  original image as ``RapidOCR.__call__`` does.

Every pipeline runs with the same thread count (``--threads``, default 1). Usage::

    TRAINLAB_DATA_DIR=/work/shared/data python benchmarks/deploy.py [--ckpt <ppocr_det.ckpt>] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from trainlab.engine.checkpoint import load_module
from trainlab.engine.export import export_onnx
from trainlab.tasks.text_detection.data.icdar_format import read_split
from trainlab.tasks.text_detection.data.preprocess import read_image, resize_for_eval
from trainlab.tasks.text_detection.metrics.icdar2015 import evaluate_dataset
from trainlab.tasks.text_detection.module import TextDetectionModule
from trainlab.tasks.text_detection.onnx_runtime import OnnxTextDetector
from trainlab.tasks.text_detection.types import TextRegion

RAPIDOCR_RESIZE = {"mode": "min_side_limit", "size": 736, "max_side": 2000}
RAPIDOCR_POSTPROCESS = {"thresh": 0.3, "box_thresh": 0.5, "unclip_ratio": 1.6, "min_size": 3, "dilation": True,
                        "coordinate_rounding": "paddle"}
PADDLE_MEAN, PADDLE_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def zero_shot_checkpoint(path: Path) -> Path:
    """A trainlab checkpoint of the pretrained PP-OCRv4 detector with RapidOCR's resize and thresholds."""
    module = TextDetectionModule("ppocr_det", resize=RAPIDOCR_RESIZE, head={"postprocess": RAPIDOCR_POSTPROCESS},
                                 tune_postprocess={"enabled": False})
    checkpoint = {"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    checkpoint["trainlab"]["task"] = "text_detection"
    torch.save(checkpoint, path)
    return path


class Timer:
    """Per-stage seconds summed over images."""

    def __init__(self) -> None:
        self.network = self.postprocess = self.total = 0.0


def run_torch(module: TextDetectionModule, images: list[np.ndarray]) -> tuple[list[list[TextRegion]], Timer]:
    timer = Timer()
    out = []
    for image in images:
        start = time.perf_counter()
        batch = torch.from_numpy(resize_for_eval(image, module.resize))[None]
        mid = time.perf_counter()
        maps = module.predict_maps(batch)[0]
        end = time.perf_counter()
        out.append(module.detect(maps, image.shape[:2]))
        stop = time.perf_counter()
        timer.network += end - mid
        timer.postprocess += stop - end
        timer.total += stop - start
    return out, timer


def run_onnxruntime(detector: OnnxTextDetector, images: list[np.ndarray]) -> tuple[list[list[TextRegion]], Timer]:
    timer = Timer()
    detector.timings = dict.fromkeys(detector.timings, 0.0)
    out = []
    for image in images:
        start = time.perf_counter()
        out.append(detector.detect(image))
        timer.total += time.perf_counter() - start
    timer.network, timer.postprocess = detector.timings["network"], detector.timings["postprocess"]
    return out, timer


def run_rapidocr(images_bgr: list[np.ndarray], threads: int) -> tuple[list[list[TextRegion]], Timer]:
    import yaml
    from rapidocr_onnxruntime import ch_ppocr_det
    from rapidocr_onnxruntime.utils.process_img import reduce_max_side

    package = Path(ch_ppocr_det.__file__).resolve().parents[1]
    config = yaml.safe_load((package / "config.yaml").read_text())
    det_config = {**config["Det"], "model_path": str(package / config["Det"]["model_path"]),
                  "intra_op_num_threads": threads, "inter_op_num_threads": 1, "mean": PADDLE_MEAN, "std": PADDLE_STD}
    detector = ch_ppocr_det.TextDetector(det_config)
    max_side = config["Global"]["max_side_len"]
    timer = Timer()
    infer, postprocess = detector.infer, detector.postprocess_op

    def timed(function, stage):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = function(*args, **kwargs)
            setattr(timer, stage, getattr(timer, stage) + time.perf_counter() - start)
            return result
        return wrapper

    detector.infer = timed(infer, "network")
    detector.postprocess_op = timed(postprocess, "postprocess")
    out = []
    for image in images_bgr:
        start = time.perf_counter()
        ratio_h = ratio_w = 1.0
        if max(image.shape[:2]) > max_side:
            image, ratio_h, ratio_w = reduce_max_side(image, max_side)
        boxes, _ = detector(image)
        boxes = [] if boxes is None else [np.asarray(b, dtype=np.float64) * [ratio_w, ratio_h] for b in boxes]
        timer.total += time.perf_counter() - start
        out.append([TextRegion(points=b) for b in boxes])
    return out, timer


def box_key(regions: list[TextRegion]) -> list[tuple]:
    return sorted(tuple(np.round(r.points).astype(int).ravel().tolist()) for r in regions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path,
                        default=Path(os.environ.get("TRAINLAB_DATA_DIR", "../shared/data")) / "sroie2019")
    parser.add_argument("--ckpt", type=Path, help="a ppocr_det checkpoint (default: the pretrained weights, no fine-tuning)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="only the first N test images")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = read_split(args.data_root / "images" / "test", args.data_root / "annotations" / "test")[: args.limit]
    images = [read_image(r.image_path) for r in records]
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.ckpt or zero_shot_checkpoint(Path(tmp) / "ppocr_det_zero_shot.ckpt")
        module = load_module(ckpt).eval()
        sidecar = export_onnx(module, Path(tmp) / "ppocr_det.onnx", record={"checkpoint": str(ckpt)})
        results = {}
        with torch.no_grad():
            results["trainlab (PyTorch)"] = run_torch(module, images)
        for level in ("extended", "all"):
            detector = OnnxTextDetector(Path(tmp) / "ppocr_det.onnx", threads=args.threads, optimization=level)
            results[f"trainlab (ONNX Runtime, {level})"] = run_onnxruntime(detector, images)
    results["RapidOCR TextDetector"] = run_rapidocr([np.ascontiguousarray(i[:, :, ::-1]) for i in images], args.threads)
    reference = [box_key(regions) for regions in results["trainlab (PyTorch)"][0]]
    rows = []
    for name, (detections, timer) in results.items():
        scored = evaluate_dataset([(r.name, r.regions, d) for r, d in zip(records, detections)])
        same = sum(box_key(d) == ref for d, ref in zip(detections, reference))
        n = len(images)
        rows.append({"pipeline": name, "network_ms": 1000 * timer.network / n, "postprocess_ms": 1000 * timer.postprocess / n,
                     "end_to_end_ms": 1000 * timer.total / n, "hmean": scored.hmean, "precision": scored.precision,
                     "recall": scored.recall, "boxes": sum(len(d) for d in detections), "same_boxes_as_pytorch": same})
    rapid = rows[-1]["end_to_end_ms"]
    print(f"{len(images)} SROIE test images, {args.threads} thread(s), parity max |ONNX Runtime - PyTorch| = "
          f"{sidecar['parity']['max_abs_diff']:.2g} ({sidecar['parity']['inputs']} receipts)")
    print("| pipeline | network ms/img | post-processing ms/img | end-to-end ms/img | vs RapidOCR | H-mean (P / R) | boxes | images with PyTorch's boxes |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['pipeline']} | {row['network_ms']:.0f} | {row['postprocess_ms']:.1f} | {row['end_to_end_ms']:.0f} | "
              f"{row['end_to_end_ms'] / rapid:.2f}x | {row['hmean']:.4f} ({row['precision']:.4f} / {row['recall']:.4f}) | "
              f"{row['boxes']} | {row['same_boxes_as_pytorch']}/{len(images)} |")
    if args.json:
        args.json.write_text(json.dumps({"images": len(images), "threads": args.threads, "rows": rows,
                                         "parity": sidecar["parity"]}, indent=2))


if __name__ == "__main__":
    main()
