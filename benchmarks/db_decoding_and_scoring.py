"""DB post-processing, threshold search and ``trainlab score`` speed on real receipts, against references.

Prints, in one run on the same PP-OCRv4 probability maps of real SROIE receipts
(:mod:`ppocr_maps`: ONNX Runtime, RapidOCR's resize, cached):

- post-processing ms per image: PaddleOCR's own ``DBPostProcess`` (from the installed
  ``paddleocr`` 2.10 wheel, ``pip install paddleocr==2.10.0 --no-deps``) against trainlab's
  ``db_postprocess`` with sub-pixel and with ``coordinate_rounding="paddle"`` coordinates
  (RapidOCR's settings: thresh 0.3, box_thresh 0.5, unclip 1.6, dilation, fast score), and
  how many images and boxes are identical with paddle rounding;
- the threshold search (``score_grid`` over PP-OCRv4's tuning grid, 72 configs) shared
  against decoding and scoring each config alone, and whether their results are identical.

With ``--baseline-src DIR`` (the ``src`` folder of another checkout, e.g. a worktree of an
older commit), also, each run in a fresh process, alternating the two source trees:

- ``trainlab score`` as a whole process (start to exit, bytecode cached as in an
  installation) on every receipt of the data set: ground truth against the PP-OCRv4
  zero-shot result files, written to a temporary folder;
- the threshold search of that checkout against this one's.

Every time is the median of ``--repeats`` interleaved repeats (the machine may be shared).

Usage:
    python benchmarks/db_decoding_and_scoring.py [--images 30] [--repeats 5]
        [--data-root /work/shared/data/sroie2019] [--cache DIR] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ppocr_maps import DEFAULT_CACHE, DEFAULT_ROOT, MapCache, records
from rich.console import Console
from rich.table import Table

from trainlab.tasks.text_detection.data.icdar_format import write_result_file
from trainlab.tasks.text_detection.family import get_family
from trainlab.tasks.text_detection.postprocess.db_postprocess import (
    DBPostprocessConfig,
    db_postprocess,
    paddle_reference_postprocess,
)
from trainlab.tasks.text_detection.threshold_search import score_grid, tune_grid

RAPIDOCR = {"thresh": 0.3, "box_thresh": 0.5, "unclip_ratio": 1.6, "min_size": 3, "dilation": True}
TUNE = {"thresh": [0.2, 0.3, 0.4], "box_thresh": [0.3, 0.4, 0.5, 0.6], "unclip_ratio": [1.2, 1.4, 1.6, 1.8, 2.0, 2.2]}

# Runs in a fresh process with either source tree on PYTHONPATH: times score_grid on cached maps.
SEARCH_SCRIPT = """
import json, sys, time
sys.path.insert(0, {benchmarks!r})
from ppocr_maps import MapCache, records
from pathlib import Path
from trainlab.tasks.text_detection.family import get_family
from trainlab.tasks.text_detection.threshold_search import score_grid, tune_grid
family = get_family("db")
grid = tune_grid(family, family.postprocess_config(**{rapidocr!r}), {tune!r})
items = records(Path({root!r}), ("test",))[:{images}]
samples = [(r.name, r.regions, {{"prob_map": m}}, s) for r, m, s in MapCache(Path({cache!r})).iter(items)]
start = time.perf_counter()
results = score_grid(samples, grid, family)
print(json.dumps({{"seconds": time.perf_counter() - start,
                   "matched": [sum(image.matched for image in images) for images in results]}}))
"""


def median_ms(times: list[float], count: int) -> float:
    return 1000 * statistics.median(times) / count


def bench_postprocess(maps: list[tuple[np.ndarray, tuple[int, int]]], repeats: int) -> dict[str, float]:
    reference = paddle_reference_postprocess(thresh=0.3, box_thresh=0.5, unclip_ratio=1.6, use_dilation=True,
                                             score_mode="fast")
    shape_lists = [np.array([[h, w, m.shape[0] / h, m.shape[1] / w]]) for m, (h, w) in maps]
    subpixel, paddle = DBPostprocessConfig(**RAPIDOCR), DBPostprocessConfig(**RAPIDOCR, coordinate_rounding="paddle")
    runs = {
        "paddleocr": lambda: [reference({"maps": m[None, None]}, s)[0]["points"] for (m, _), s in zip(maps, shape_lists)],
        "subpixel": lambda: [db_postprocess(m, size, subpixel) for m, size in maps],
        "paddle": lambda: [db_postprocess(m, size, paddle) for m, size in maps],
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs = {}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            outputs[name] = run()
            times[name].append(time.perf_counter() - start)
    same_images = same_boxes = 0
    for expected, regions in zip(outputs["paddleocr"], outputs["paddle"]):
        ours = np.array([region.points for region in regions]).reshape(-1, 4, 2)
        same_images += ours.shape == expected.shape and np.array_equal(ours, expected)
        if ours.shape == expected.shape:
            same_boxes += int((ours == expected).all(axis=(1, 2)).sum())
    return {
        **{f"{name}_ms": median_ms(t, len(maps)) for name, t in times.items()},
        "same_images": same_images, "same_boxes": same_boxes,
        "paddle_boxes": sum(len(points) for points in outputs["paddleocr"]),
        "subpixel_same_count": sum(len(a) == len(b) for a, b in zip(outputs["paddleocr"], outputs["subpixel"])),
    }


def bench_search(samples: list, repeats: int) -> dict[str, float]:
    family = get_family("db")
    grid = tune_grid(family, family.postprocess_config(**RAPIDOCR), TUNE)
    times: dict[bool, list[float]] = {True: [], False: []}
    results = {}
    for _ in range(repeats):
        for shared in (True, False):
            start = time.perf_counter()
            results[shared] = score_grid(samples, grid, family, shared=shared)
            times[shared].append(time.perf_counter() - start)
    return {"configs": len(grid), "shared_s": statistics.median(times[True]), "plain_s": statistics.median(times[False]),
            "identical": results[True] == results[False]}


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of a child process, and its standard output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, completed.stdout


def write_score_set(root: Path, cache: MapCache, folder: Path) -> int:
    """Ground truth of every receipt and its PP-OCRv4 zero-shot result file (RapidOCR's settings)."""
    (folder / "gt").mkdir(parents=True)
    (folder / "pred").mkdir()
    items = records(root)
    for record, prob_map, size in cache.iter(items):
        (folder / "gt" / record.annotation_path.name).write_bytes(record.annotation_path.read_bytes())
        write_result_file(folder / "pred" / f"res_{record.name}.txt",
                          db_postprocess(prob_map, size, DBPostprocessConfig(**RAPIDOCR)), with_scores=True)
    return len(items)


def bench_against_baseline(args: argparse.Namespace, cache: MapCache) -> dict[str, object]:
    trees = {"baseline": str(args.baseline_src.resolve()), "this": str(Path(__file__).resolve().parents[1] / "src")}
    with tempfile.TemporaryDirectory() as scratch:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(scratch) / "pycache")
        folder = Path(scratch) / "score_set"
        count = write_score_set(args.data_root, cache, folder)
        command = [sys.executable, "-m", "trainlab", "score", "--gt", str(folder / "gt"), "--pred", str(folder / "pred")]
        wall: dict[str, list[float]] = {name: [] for name in trees}
        cpu: dict[str, list[float]] = {name: [] for name in trees}
        outputs = {}
        for name, src in trees.items():  # compiles and caches the bytecode
            _timed(command, dict(env, PYTHONPATH=src))
        for _ in range(args.repeats):
            for name, src in trees.items():
                seconds, cpu_seconds, outputs[name] = _timed(command, dict(env, PYTHONPATH=src))
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
        script = SEARCH_SCRIPT.format(benchmarks=str(Path(__file__).resolve().parent), rapidocr=RAPIDOCR, tune=TUNE,
                                      root=str(args.data_root), images=args.images, cache=str(args.cache))
        search: dict[str, list[float]] = {name: [] for name in trees}
        matched = {}
        for _ in range(args.baseline_search_repeats):
            for name, src in trees.items():
                _, _, out = _timed([sys.executable, "-c", script], dict(env, PYTHONPATH=src))
                report = json.loads(out)
                search[name].append(report["seconds"])
                matched[name] = report["matched"]
    return {
        "receipts": count,
        "score_wall": {name: statistics.median(t) for name, t in wall.items()},
        "score_cpu": {name: statistics.median(t) for name, t in cpu.items()},
        "score_same_output": outputs["baseline"] == outputs["this"],
        "score_summary": json.loads(outputs["this"]),
        "search_s": {name: statistics.median(t) for name, t in search.items()},
        "search_configs_same_matches": sum(a == b for a, b in zip(matched["baseline"], matched["this"])),
        "search_configs": len(matched["this"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30, help="test receipts for post-processing and the search")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--baseline-src", type=Path, default=None, help="src folder of the checkout to compare with")
    parser.add_argument("--baseline-search-repeats", type=int, default=3)
    args = parser.parse_args()
    console = Console(width=150)
    cache = MapCache(args.cache)
    items = records(args.data_root, ("test",))[: args.images]
    loaded = list(cache.iter(items))
    console.print(f"{len(loaded)} SROIE test receipts, PP-OCRv4 maps {loaded[0][1].shape}..., {args.repeats} repeats")

    post = bench_postprocess([(prob_map, size) for _, prob_map, size in loaded], args.repeats)
    search = bench_search([(r.name, r.regions, {"prob_map": m}, s) for r, m, s in loaded], max(1, args.repeats // 2))
    table = Table(title="DB post-processing and threshold search (median of interleaved repeats)")
    for column in ("measure", "value", "ratio", "against"):
        table.add_column(column, justify="left" if column in ("measure", "against") else "right")
    reference = post["paddleocr_ms"]
    table.add_row("PaddleOCR DBPostProcess ms/image", f"{reference:.2f}", "1.00x", "itself")
    table.add_row("trainlab db_postprocess ms/image (sub-pixel)", f"{post['subpixel_ms']:.2f}",
                  f"{post['subpixel_ms'] / reference:.2f}x", "PaddleOCR")
    table.add_row("trainlab db_postprocess ms/image (paddle rounding)", f"{post['paddle_ms']:.2f}",
                  f"{post['paddle_ms'] / reference:.2f}x", "PaddleOCR")
    table.add_row("identical images / boxes with paddle rounding",
                  f"{post['same_images']}/{len(loaded)}, {post['same_boxes']}/{post['paddle_boxes']}", "", "PaddleOCR")
    table.add_row("images with PaddleOCR's box count (sub-pixel)", f"{post['subpixel_same_count']}/{len(loaded)}", "", "")
    table.add_row(f"threshold search s ({search['configs']} configs, shared)", f"{search['shared_s']:.2f}",
                  f"{search['plain_s'] / search['shared_s']:.1f}x faster", f"each config alone ({search['plain_s']:.2f} s)")
    table.add_row("shared search results identical to each config alone", str(search["identical"]), "", "")
    if args.baseline_src is not None:
        base = bench_against_baseline(args, cache)
        wall, cpu, seconds = base["score_wall"], base["score_cpu"], base["search_s"]
        table.add_row(f"trainlab score whole process s ({base['receipts']} receipts, wall)", f"{wall['this']:.3f}",
                      f"{wall['baseline'] / wall['this']:.2f}x faster", f"baseline {wall['baseline']:.3f} s")
        table.add_row("trainlab score whole process s (CPU)", f"{cpu['this']:.3f}",
                      f"{cpu['baseline'] / cpu['this']:.2f}x faster", f"baseline {cpu['baseline']:.3f} s")
        table.add_row("trainlab score output identical to baseline", str(base["score_same_output"]), "",
                      f"H-mean {base['score_summary']['hmean']:.4f}")
        table.add_row(f"threshold search s ({len(loaded)} receipts)", f"{seconds['this']:.2f}",
                      f"{seconds['baseline'] / seconds['this']:.1f}x faster", f"baseline {seconds['baseline']:.2f} s")
        table.add_row("configs with the baseline's matched count", f"{base['search_configs_same_matches']}/"
                      f"{base['search_configs']}", "", "sub-pixel unclip now exact, not on Clipper's 1/64 px grid")
    console.print(table)


if __name__ == "__main__":
    main()
