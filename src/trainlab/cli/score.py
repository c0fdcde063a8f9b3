"""``trainlab score``: score ICDAR result files against ground truth, with no model.

Usage::

    trainlab score --gt GT_DIR --pred RESULT_DIR [--per-image per_image.csv] [--polygon-points 4|auto]

Scores the output of any detector by the ICDAR 2015 Challenge 4 Task 4.1 protocol
(:mod:`trainlab.tasks.text_detection.metrics.icdar2015`). Ground-truth files are named
``gt_<name>.txt`` (ICDAR 2015) or ``<name>.txt`` (SROIE); result files ``res_<name>.txt``,
one region per line: coordinates, optionally followed by a confidence.

- A ground-truth file without a result file counts as an image with no detections (a
  warning on stderr gives how many).
- A result file without ground truth, or a ``.txt`` file in the result folder not named
  ``res_<name>.txt``, is an error.

Prints one JSON object on stdout: ``precision``, ``recall``, ``hmean``, ``matched``,
``num_gt_care``, ``num_det_care``, ``num_images``, ``num_images_without_results``.
``--per-image`` also writes a CSV (columns ``name, num_gt_care, num_det_care, matched,
precision, recall, hmean``), atomically. Exit status: 0 on success, 2 on a usage error, a
missing folder or a malformed file (one line on stderr, ``file:line: problem``).

This command never imports torch.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from trainlab.tasks.text_detection.data.icdar_format import AnnotationError, gt_stem, read_icdar_file, result_stem
from trainlab.tasks.text_detection.metrics.icdar2015 import DatasetResult, Icdar2015Accumulator

PROG = "trainlab score"


class ScoreError(Exception):
    """A problem with the command's input, reported as one line on stderr (exit 2)."""


def _polygon_points(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 3:
        raise argparse.ArgumentTypeError(f"expected an integer >= 3 or 'auto', got {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Score ICDAR result files (res_<name>.txt) against ground truth (gt_<name>.txt or "
            "<name>.txt) by the ICDAR 2015 Task 4.1 IoU protocol. Prints one JSON object."
        ),
    )
    parser.add_argument("--gt", required=True, type=Path, help="folder of ground-truth files")
    parser.add_argument("--pred", required=True, type=Path, help="folder of result files res_<name>.txt")
    parser.add_argument("--per-image", type=Path, default=None, metavar="CSV", help="also write per-image figures here")
    parser.add_argument(
        "--polygon-points",
        type=_polygon_points,
        default=4,
        metavar="4|auto",
        help="vertices per region: 4 (ICDAR 2015, SROIE; default), another integer, or 'auto' for varying polygons",
    )
    return parser


def _natural_key(name: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _txt_files(folder: Path, role: str) -> list[Path]:
    if not folder.exists():
        raise ScoreError(f"{role} folder not found: {folder}")
    if not folder.is_dir():
        raise ScoreError(f"{role} path is not a folder: {folder}")
    return [p for p in folder.iterdir() if p.suffix == ".txt" and not p.name.startswith(".") and p.is_file()]


def pair_files(gt_dir: Path, pred_dir: Path) -> list[tuple[str, Path, Path | None]]:
    """Pair ground-truth and result files by image name.

    Returns:
        ``(name, gt_path, result_path or None)`` sorted by name (numbers in natural order).

    Raises:
        ScoreError: a folder is missing, the ground-truth folder has no ``.txt`` file, two
            ground-truth files claim one image, a result file name is not
            ``res_<name>.txt``, or a result file has no ground truth.
    """
    gt_files: dict[str, Path] = {}
    for path in _txt_files(gt_dir, "ground-truth"):
        name = gt_stem(path.name)
        if name in gt_files:
            raise ScoreError(f"{path}: ground truth for image {name!r} is also in {gt_files[name].name}")
        gt_files[name] = path
    if not gt_files:
        raise ScoreError(f"no ground-truth files (gt_<name>.txt or <name>.txt) in {gt_dir}")
    results: dict[str, Path] = {}
    for path in sorted(_txt_files(pred_dir, "result")):
        name = result_stem(path.name)
        if name is None:
            raise ScoreError(f"{path}: not a result file name (expected res_<name>.txt)")
        if name not in gt_files:
            raise ScoreError(f"{path}: no ground truth for image {name!r} (looked for gt_{name}.txt or {name}.txt in {gt_dir})")
        results[name] = path
    return [(name, gt_files[name], results.get(name)) for name in sorted(gt_files, key=_natural_key)]


def score(gt_dir: Path, pred_dir: Path, polygon_points: int | str = 4) -> tuple[DatasetResult, list[str]]:
    """Score a result folder against a ground-truth folder.

    Returns:
        ``(DatasetResult, names of the images without a result file)``.

    Raises:
        ScoreError: see :func:`pair_files`.
        AnnotationError: a malformed line (names file and line).
    """
    accumulator = Icdar2015Accumulator()
    missing = []
    for name, gt_path, result_path in pair_files(gt_dir, pred_dir):
        gt = read_icdar_file(gt_path, polygon_points=polygon_points)
        if result_path is None:
            missing.append(name)
            detections = []
        else:
            detections = read_icdar_file(result_path, polygon_points=polygon_points, with_transcription=False)
        accumulator.update(name, gt, detections)
    return accumulator.compute(), missing


def main(argv: list[str]) -> int:
    """Run ``trainlab score``.

    Args:
        argv: The command's arguments (without ``trainlab score``).

    Returns:
        0 on success; 2 on a usage error, a missing folder, a naming problem or a
        malformed file (one line on stderr); 0 after ``--help``.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed usage or help
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        result, missing = score(args.gt, args.pred, args.polygon_points)
        if missing:
            example = ", ".join(f"res_{name}.txt" for name in missing[:3]) + (", ..." if len(missing) > 3 else "")
            print(
                f"{PROG}: warning: {len(missing)} of {result.num_images} ground-truth files have no result file "
                f"(counted as images with no detections): {example}",
                file=sys.stderr,
            )
        if args.per_image is not None:
            result.write_per_image_csv(args.per_image)
    except (ScoreError, AnnotationError, OSError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    summary = result.summary()
    summary["num_images_without_results"] = len(missing)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
