"""Text-detection throughput on this machine: training, post-processing, evaluation.

Prints one table:

- training images/s of DBNet on real receipt crops through the real DataLoader, and the
  share of each step spent waiting for data;
- DB post-processing ms per image (on probability maps of the embedded test receipts);
- ICDAR 2015 evaluation ms per image (the protocol alone, and the whole eval step:
  forward + post-processing + protocol);

with ratios against references: the 0.8 img/s that a random-init DBNet-R18 trains at on a
2-core CPU with 640 px crops, and the forward pass (post-processing must never dominate).

Usage:
    python benchmarks/text_detection.py [--steps 6] [--image-size 640] [--inner-channels 128]
        [--encoder resnet18] [--batch-size 4] [--workers 0] [--data-root DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader

from trainlab.engine.config import asset_path
from trainlab.engine.optim import build_optimizer
from trainlab.tasks.text_detection.data.dataset import TextDetectionDataset, collate
from trainlab.tasks.text_detection.data.icdar_format import read_split
from trainlab.tasks.text_detection.data.transforms import scale_points, target_size
from trainlab.tasks.text_detection.metrics.icdar2015 import evaluate_image
from trainlab.tasks.text_detection.module import TextDetectionModule
from trainlab.tasks.text_detection.postprocess.db_postprocess import db_postprocess
from trainlab.tasks.text_detection.targets.db_targets import make_db_targets

REFERENCE_TRAIN_IMG_S = 0.8  # random-init DBNet-R18, 640 px crops, 2 CPU cores
AUGMENT = {"random_scale": {"scale": [0.5, 1.5]}, "rotate": {"limit": 10}, "flip": {"p": 0.5}, "crop": {},
           "color_jitter": {}, "blur": {}}


def bench_training(args: argparse.Namespace, root: Path) -> dict[str, float]:
    records = read_split(root / "images" / "train", root / "annotations" / "train")
    dataset = TextDetectionDataset(records, True, args.image_size, augment=AUGMENT)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        collate_fn=collate, drop_last=True, persistent_workers=args.workers > 0)
    model = TextDetectionModule(encoder={"model_name": args.encoder}, neck={"inner_channels": args.inner_channels})
    model.train()
    optimizer = build_optimizer(model, {"name": "adam", "lr": 1e-3})
    # Warm the image cache and the kernels, as a real run's first epoch does.
    for index in range(len(dataset)):
        dataset._load(index)
    waits, computes = [], []
    iterator = iter(loader)
    for step in range(args.steps + 1):
        start = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            batch = next(iterator)
        ready = time.perf_counter()
        losses = model.loss_fn(model(batch["image"]), batch)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        done = time.perf_counter()
        if step:  # the first step pays one-off costs
            waits.append(ready - start)
            computes.append(done - ready)
    total = sum(waits) + sum(computes)
    return {"img_s": args.batch_size * args.steps / total, "wait_share": sum(waits) / total}


def bench_inference(args: argparse.Namespace, root: Path) -> dict[str, float]:
    records = read_split(root / "images" / "test", root / "annotations" / "test")
    post_ms, metric_ms, forward_ms, step_ms = [], [], [], []
    model = TextDetectionModule(encoder={"model_name": args.encoder}, neck={"inner_channels": args.inner_channels})
    model.eval()
    dataset = TextDetectionDataset(records, False)
    for index, record in enumerate(records):
        original = cv2.imread(str(record.image_path), cv2.IMREAD_GRAYSCALE).shape[:2]
        height, width = target_size(*original)
        polygons = [scale_points(r.points, original, (height, width)) for r in record.regions]
        # A soft, model-like probability map: the ground-truth kernels, blurred.
        prob_map = cv2.GaussianBlur(make_db_targets(polygons, [False] * len(polygons), height, width).prob_map, (0, 0), 2)
        start = time.perf_counter()
        detections = db_postprocess(prob_map, original)
        post_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        evaluate_image(record.regions, detections)
        metric_ms.append((time.perf_counter() - start) * 1000)
        item = dataset[index]
        start = time.perf_counter()
        maps = model.predict_maps(item["image"][None])
        forward_ms.append((time.perf_counter() - start) * 1000)
        regions = model.detect(maps[0], item["original_size"])
        evaluate_image(record.regions, regions)
        step_ms.append((time.perf_counter() - start) * 1000)
    return {"post_ms": statistics.mean(post_ms), "metric_ms": statistics.mean(metric_ms),
            "forward_ms": statistics.mean(forward_ms), "eval_step_ms": statistics.mean(step_ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--image-size", type=int, default=640)
    parser.add_argument("--inner-channels", type=int, default=128)
    parser.add_argument("--encoder", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--data-root", type=Path, default=Path(asset_path("sroie_mini")))
    args = parser.parse_args()
    torch.manual_seed(0)
    np.random.seed(0)
    console = Console()
    console.print(f"DBNet-{args.encoder} (FPN {args.inner_channels}), {args.image_size}px crops, batch {args.batch_size}, "
                  f"{args.workers} workers, {torch.get_num_threads()} threads, data {args.data_root}")
    train = bench_training(args, args.data_root)
    infer = bench_inference(args, args.data_root)
    table = Table(title="text detection throughput")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("against")
    table.add_row("training images/s", f"{train['img_s']:.2f}", f"{train['img_s'] / REFERENCE_TRAIN_IMG_S:.2f}x",
                  f"{REFERENCE_TRAIN_IMG_S} img/s reference (DBNet-R18, 640px, 2 cores)")
    table.add_row("data wait share of a step", f"{100 * train['wait_share']:.1f} %", "", "")
    table.add_row("post-processing ms/image", f"{infer['post_ms']:.1f}", f"{infer['post_ms'] / infer['forward_ms']:.3f}x",
                  f"forward pass ({infer['forward_ms']:.0f} ms/image)")
    table.add_row("ICDAR 2015 protocol ms/image", f"{infer['metric_ms']:.2f}", f"{infer['metric_ms'] / infer['forward_ms']:.4f}x",
                  "forward pass")
    table.add_row("eval step ms/image (forward + post + protocol)", f"{infer['eval_step_ms']:.0f}",
                  f"{(infer['eval_step_ms'] - infer['forward_ms']) / infer['eval_step_ms']:.3f}", "share outside the network")
    console.print(table)


if __name__ == "__main__":
    main()
