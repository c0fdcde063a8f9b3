"""Plate detection: pretrained sources vs random init on the held-out test split, and latency per image.

For each trained run folder given (``trainlab train experiment=plates_retinanet ...``), the best
checkpoint is evaluated on the test split of the data it was trained on (its decision parameters
were tuned on validation) and one row is printed: mAP@0.5, mAP@[.5:.95], mAR@100, precision and
recall at the tuned confidence threshold, the run's epochs and the CPU time of its training process
(user + sys from ``<run>.time``, the output of ``/usr/bin/time -v``, when present), then the
inference latency per image at the run's input size (CPU time and wall time of forward +
post-processing, batch 1, ``--threads`` torch threads) with its ratio to the first run.

``--encoders`` adds latency-only rows for encoders that were not trained here (random weights:
latency does not depend on them), e.g. ``timm:resnet18 craft_vgg``.

``--alpr`` adds the optional end-to-end step: each test image's best detection is read by
RapidOCR's recogniser and compared with the ground-truth plate string (exact match, CER); also
for the ground-truth boxes, which separates detection errors from reading errors.

Usage:
    python benchmarks/plates.py RUN_DIR [RUN_DIR ...] [--names a b ...] [--threads 1]
        [--latency-images 20] [--encoders timm:resnet18 craft_vgg] [--image-size 512] [--alpr] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import time
from pathlib import Path

import hydra
import torch
from rich.console import Console
from rich.table import Table

from trainlab.engine.checkpoint import load_module
from trainlab.tasks.plate_detection.metrics import evaluate
from trainlab.tasks.plate_detection.postprocess import confident, postprocess


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def training_cpu(run: Path) -> float | None:
    """User + sys seconds of the run's training process, from ``<run>.time`` (``/usr/bin/time -v``)."""
    path = run.with_suffix(".time")
    if not path.is_file():
        return None
    text = path.read_text()
    values = [float(m.group(1)) for key in ("User time", "System time")
              if (m := re.search(rf"{key} \(seconds\): ([0-9.]+)", text))]
    return sum(values) if len(values) == 2 else None


def evaluate_run(run: Path, args: argparse.Namespace) -> dict:
    manifest = json.loads((run / "manifest.json").read_text())
    best = manifest.get("best") or {}
    # A run still going (or stopped) has no "best" record yet: its best checkpoint so far, thresholds as configured.
    checkpoint = run / best["path"] if best.get("path") else max(run.glob("checkpoints/best-*.ckpt"),
                                                                 key=lambda p: p.stat().st_mtime)
    model = load_module(checkpoint).eval()
    data = hydra.utils.instantiate(model.run_record["data"], _convert_="all")
    data.setup("test")
    names, raw, truth = model.run_split(data, "test")
    result = evaluate(raw, truth, model.postprocess)
    row = {"run": str(run), "encoder": model.hparams["encoder"], "image_size": model.image_size,
           "status": manifest["status"], "epochs": len(manifest["history"]), "checkpoint": checkpoint.name,
           "train_cpu_s": training_cpu(run), "train_wall_s": manifest.get("wall_seconds"),
           "postprocess": model.postprocess.to_dict(), **{k: result[k] for k in
                                                         ("map_50", "map", "map_75", "mar_100", "precision", "recall")}}
    row.update(latency(model, data, args.latency_images))
    if args.alpr:
        row.update(read_plates(model, data, raw))
    return row


@torch.no_grad()
def latency(model, data, count: int) -> dict[str, float]:
    """CPU and wall milliseconds per test image (batch 1): forward + post-processing, after one warm-up."""
    dataset = data.eval_dataset("test")
    items = [dataset[i] for i in range(min(count, len(dataset)))]
    model.detect_raw([items[0]["image"]], [items[0]["scale"]])
    cpu, wall = cpu_seconds(), time.perf_counter()
    for item in items:
        raw = model.detect_raw([item["image"]], [item["scale"]])[0]
        confident(postprocess(raw, model.postprocess), model.postprocess)
    return {"latency_cpu_ms": 1000 * (cpu_seconds() - cpu) / len(items),
            "latency_wall_ms": 1000 * (time.perf_counter() - wall) / len(items)}


def encoder_latency(spec: str, args: argparse.Namespace) -> dict:
    """Latency of an untrained detector with encoder ``spec`` (``source`` or ``timm:<model name>``)."""
    import os

    from trainlab.tasks.plate_detection.data.datamodule import PlateDataModule
    from trainlab.tasks.plate_detection.module import PlateDetectionModule

    source, _, name = spec.partition(":")
    encoder = {"source": source, **({"model_name": name} if name else {})}
    if source == "ppocr":
        encoder["pretrained"] = True
    root = args.data_root or Path(os.environ.get("TRAINLAB_DATA_DIR", "../shared/data")) / "license_plates"
    data = PlateDataModule(root=str(root), image_size=args.image_size)
    data.setup()
    model = PlateDetectionModule(image_size=args.image_size, encoder=encoder, fpn={"channels": args.fpn_channels}).eval()
    count = args.latency_images if source != "craft_vgg" else max(2, args.latency_images // 4)
    return {"name": f"{spec} (untrained)", "encoder": encoder, "image_size": args.image_size,
            **latency(model, data, count)}


def read_plates(model, data, raw) -> dict[str, float]:
    """Plate-string accuracy of the best detection per test image, and of the ground-truth boxes."""
    from trainlab.tasks.plate_detection.alpr import PlateReader, plate_accuracy
    from trainlab.tasks.plate_detection.data.dataset import read_image

    reader = PlateReader()
    detected, given, truth = [], [], []
    for record, detections in zip(data.records["test"], raw):
        image = read_image(record.image_path)
        kept = confident(postprocess(detections, model.postprocess), model.postprocess)
        detected.append(reader.read_boxes(image, kept["boxes"][:1].numpy())[0][0] if len(kept["boxes"]) else "")
        given.append(reader.read_boxes(image, record.boxes[:1])[0][0])
        truth.append(record.texts[0])
    on_detections, on_truth = plate_accuracy(detected, truth), plate_accuracy(given, truth)
    return {"plate_accuracy": on_detections["plate_accuracy"], "plate_cer": on_detections["character_error_rate"],
            "plate_accuracy_gt_boxes": on_truth["plate_accuracy"], "plate_cer_gt_boxes": on_truth["character_error_rate"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", type=Path, help="run folders of trainlab train (manifest.json, checkpoints/)")
    parser.add_argument("--names", nargs="*", help="a row label per run (default: the folder names)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the latency measurement")
    parser.add_argument("--latency-images", type=int, default=20)
    parser.add_argument("--encoders", nargs="*", default=[], help="latency-only rows, e.g. timm:resnet18 craft_vgg")
    parser.add_argument("--image-size", type=int, default=512, help="input size of the --encoders rows")
    parser.add_argument("--fpn-channels", type=int, default=64, help="FPN width of the --encoders rows")
    parser.add_argument("--data-root", type=Path, help="OpenALPR folder for the --encoders rows")
    parser.add_argument("--alpr", action="store_true", help="also read the plates (rapidocr-onnxruntime)")
    parser.add_argument("--json", type=Path, help="also write the rows as json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.names or [run.name for run in args.runs]
    rows = [{"name": name, **evaluate_run(run, args)} for name, run in zip(names, args.runs)]
    rows += [encoder_latency(spec, args) for spec in args.encoders]
    reference = rows[0]["latency_cpu_ms"]
    table = Table(title=f"Plate detection, held-out test split (latency: batch 1, {args.threads} thread(s))")
    columns = ["name", "image_size", "epochs", "train_cpu_s", "map_50", "map", "mar_100", "precision", "recall",
               "confidence", "latency_cpu_ms", "latency_wall_ms", "latency_ratio"]
    if args.alpr:
        columns += ["plate_accuracy", "plate_accuracy_gt_boxes"]
    for column in columns:
        table.add_column(column)
    for row in rows:
        row["confidence"] = row["postprocess"]["confidence_threshold"] if "postprocess" in row else None
        row["latency_ratio"] = row["latency_cpu_ms"] / reference
        table.add_row(*[f"{row.get(c):.3f}" if isinstance(row.get(c), float) else str(row.get(c, "-")) for c in columns])
    Console(width=240).print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
