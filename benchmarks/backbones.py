"""Backbone table: parameters, FLOPs and CPU latency of every architecture on every listed encoder.

Writes ``docs/backbones.md`` (atomically) with one row per (architecture, encoder):

- parameters of the whole detector (encoder, neck or decoder, head);
- FLOPs of one forward pass at 640 x 640 (batch 1), counted by
  ``torch.utils.flop_counter.FlopCounterMode``: convolutions and matrix products only, a
  multiply-add counted as 2 FLOPs (so GFLOPs = 2 x GMACs); normalisation, activations and
  interpolation are not counted;
- CPU latency per image: median wall time of ``--repeats`` forward passes (batch 1, 640 x 640,
  eval mode, ``torch.no_grad``, channels-last as in training) after one warm-up pass, with the
  number of torch threads noted. Models above 60 GFLOPs get ``--repeats-big`` passes.

DB-family models use the paper's FPN width (256); CRAFT uses its fixed U-Net widths. CRAFT is
also listed with the paper's VGG16-BN encoder, the layout of the official weights.

Usage:
    python benchmarks/backbones.py [--output docs/backbones.md] [--size 640] [--repeats 3]
        [--repeats-big 2] [--threads N] [--architectures dbnet dbnetpp craft]
        [--encoders resnet18 resnet50 hrnet_w44 convnext_tiny convnext_small efficientnet_b3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from trainlab.engine.io import atomic_write_text
from trainlab.tasks.text_detection.models.registry import build_detector

ENCODERS = ["resnet18", "resnet50", "hrnet_w44", "convnext_tiny", "convnext_small", "efficientnet_b3"]
ARCHITECTURES = ["dbnet", "dbnetpp", "craft"]
BIG_GFLOPS = 60.0


def measure(architecture: str, encoder: str | None, size: int, repeats: int, repeats_big: int) -> dict[str, float]:
    """Parameters, GFLOPs (2 per multiply-add) and median latency (ms) of one detector at ``size`` x ``size``."""
    model = build_detector(architecture, encoder={"model_name": encoder}, neck={"inner_channels": 256}, head={})
    model = model.eval().to(memory_format=torch.channels_last)
    image = torch.randn(1, 3, size, size).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            model(image)
        gflops = counter.get_total_flops() / 1e9
        model(image)  # warm-up
        times = []
        for _ in range(repeats_big if gflops > BIG_GFLOPS else repeats):
            start = time.perf_counter()
            model(image)
            times.append(time.perf_counter() - start)
    return {"params_m": sum(p.numel() for p in model.parameters()) / 1e6, "gflops": gflops,
            "latency_ms": statistics.median(times) * 1000, "runs": len(times)}


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def render(rows: list[dict], args: argparse.Namespace, load: tuple[float, float], elapsed: float) -> str:
    """The markdown page."""
    lines = [
        "# Backbones: parameters, FLOPs and CPU latency",
        "",
        f"Written by `python benchmarks/backbones.py` (took {elapsed / 60:.1f} min). Input {args.size} x {args.size}, "
        "batch 1, eval mode.",
        "",
        f"- **FLOPs**: `torch.utils.flop_counter.FlopCounterMode`, convolutions and matrix products; one multiply-add "
        "= 2 FLOPs (GFLOPs = 2 x GMACs). Normalisation, activations and resizing are not counted.",
        f"- **Latency**: median of {args.repeats} forward passes ({args.repeats_big} for models above "
        f"{BIG_GFLOPS:.0f} GFLOPs) after one warm-up, `torch.no_grad`, channels-last, "
        f"{args.threads} torch thread(s), {cpu_name()}, torch {torch.__version__}. Load average "
        f"{load[0]:.1f} at the start and {load[1]:.1f} at the end (the machine's cores: {os.cpu_count()}); "
        "other work on a shared machine makes latencies longer, so compare rows of one table only.",
        "- DBNet and DBNet++ use the paper's FPN width 256 (the CPU experiments use 128). CRAFT outputs its maps at "
        "half resolution; its timm variants use a U-Net over the encoder's stride 2 (when it has one) to 32 "
        "features; `vgg16_bn (paper)` is the paper's encoder, the layout of the official weights.",
        "",
        f"| architecture | encoder | parameters (M) | GFLOPs @ {args.size}² | CPU latency (ms / image) |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row['architecture']} | {row['encoder']} | {row['params_m']:.2f} | {row['gflops']:.1f} | "
                     f"{row['latency_ms']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "backbones.md")
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeats-big", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--architectures", nargs="+", default=ARCHITECTURES)
    parser.add_argument("--encoders", nargs="+", default=ENCODERS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console()
    start, load_start = time.perf_counter(), os.getloadavg()[0]
    jobs = [(a, e, e) for a in args.architectures for e in args.encoders]
    if "craft" in args.architectures:
        jobs.append(("craft", None, "vgg16_bn (paper)"))
    rows = []
    for architecture, encoder, label in jobs:
        result = measure(architecture, encoder, args.size, args.repeats, args.repeats_big)
        rows.append({"architecture": architecture, "encoder": label, **result})
        console.print(f"{architecture:8s} {label:18s} {result['params_m']:7.2f} M  {result['gflops']:7.1f} GFLOPs  "
                      f"{result['latency_ms']:8.0f} ms")
    text = render(rows, args, (load_start, os.getloadavg()[0]), time.perf_counter() - start)
    atomic_write_text(args.output, text)
    table = Table("architecture", "encoder", "params (M)", "GFLOPs", "ms / image")
    for row in rows:
        table.add_row(row["architecture"], row["encoder"], f"{row['params_m']:.2f}", f"{row['gflops']:.1f}",
                      f"{row['latency_ms']:.0f}")
    console.print(table)
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
