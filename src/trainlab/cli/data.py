"""``trainlab data convert|check``: text detection's data tools.

Usage::

    trainlab data convert --from coco|labelme|paddleocr|doctr|icdar --to icdar|coco|labelme|paddleocr|doctr SOURCE DEST
        [--split NAME] [--images DIR] [--polygon-points 4|auto]
    trainlab data check ROOT [-o DIR] [--draw N | --draw-all] [--polygon-points 4|auto]

``convert`` reads every split of ``SOURCE`` and writes it to the new folder ``DEST`` with the
images (:mod:`trainlab.tasks.text_detection.data.convert`, which describes each format's
layout); it prints the counts per split and what the target format could not hold.
``check`` reports an ICDAR folder's counts, box sizes, don't-care share, duplicate images and
every malformed line as ``file:line: problem``, and draws the boxes
(:mod:`trainlab.tasks.text_detection.data.check`).

Exit status: 0; 1 when ``check`` found problems; 2 for a usage error, a missing folder or,
for ``convert``, a malformed file (one line on stderr, ``file:line: problem``).
This command never imports torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trainlab.cli.score import _polygon_points

PROG = "trainlab data"


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser (subcommands ``convert`` and ``check``)."""
    from trainlab.tasks.text_detection.data.convert import FORMATS

    parser = argparse.ArgumentParser(prog=PROG, description="Text detection's data tools: convert and check annotations.")
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser("convert", help="convert annotations between ICDAR, COCO, LabelMe, PaddleOCR and docTR",
                                  description="Convert a text-detection data set (all splits, images copied).")
    convert.add_argument("--from", dest="source_format", required=True, choices=FORMATS, help="format of SOURCE")
    convert.add_argument("--to", dest="target_format", required=True, choices=FORMATS, help="format to write")
    convert.add_argument("source", type=Path, help="file or folder to read")
    convert.add_argument("dest", type=Path, help="new (or empty) folder to write")
    convert.add_argument("--split", default=None, help="split name of a SOURCE that holds one split (default: train, "
                                                       "or the file's name)")
    convert.add_argument("--images", type=Path, default=None,
                         help="COCO, PaddleOCR: folder the image paths are relative to")
    convert.add_argument("--polygon-points", type=_polygon_points, default=4, metavar="4|auto",
                         help="ICDAR source: vertices per line (default: 4)")
    check = commands.add_parser("check", help="report counts, box sizes, duplicates and every malformed line of an "
                                              "ICDAR folder; draw its boxes",
                                description="Check an ICDAR text-detection folder (images/<split>/, annotations/<split>/).")
    check.add_argument("root", type=Path, help="the data set folder")
    check.add_argument("-o", "--output", type=Path, default=None,
                       help="folder for report.json, box_sizes.png and drawn/ (default: ./check_<root name>)")
    check.add_argument("--draw", type=int, default=25, metavar="N", help="images drawn per split (default: 25; 0: none)")
    check.add_argument("--draw-all", action="store_true", help="draw every image")
    check.add_argument("--polygon-points", type=_polygon_points, default=4, metavar="4|auto",
                       help="vertices per annotation line (default: 4)")
    return parser


def _convert(args: argparse.Namespace) -> int:
    from trainlab.tasks.text_detection.data.convert import convert

    if args.source_format == args.target_format:
        print(f"{PROG} convert: --from and --to are both {args.source_format!r}", file=sys.stderr)
        return 2
    try:
        summary = convert(args.source, args.dest, args.source_format, args.target_format, split=args.split,
                          images=args.images, polygon_points=args.polygon_points)
    except (OSError, ValueError) as error:  # AnnotationError is a ValueError
        print(f"{PROG} convert: {error}", file=sys.stderr)
        return 2
    for split, counts in summary["splits"].items():
        print(f"{split}: {counts['images']} images, {counts['regions']} regions ({counts['dont_care']} don't care)")
    for note in summary["notes"]:
        print(f"note: {note}")
    print(f"{args.source_format} -> {args.target_format}: {args.dest}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from trainlab.tasks.text_detection.data.check import check_root

    output = args.output or Path(f"check_{args.root.resolve().name}")
    try:
        report = check_root(args.root, output, polygon_points=args.polygon_points,
                            draw=None if args.draw_all else args.draw)
    except FileNotFoundError as error:
        print(f"{PROG} check: {error}", file=sys.stderr)
        return 2
    print(f"{'split':<10} {'images':>7} {'regions':>8} {'dont_care':>10} {'share':>7} "
          f"{'height p5/median/p95 (px)':>27} {'aspect median':>14}")
    for split, s in report["splits"].items():
        height = "/".join(f"{s['height'][q]:.0f}" for q in ("p5", "median", "p95")) if s["height"] else "-"
        aspect = f"{s['aspect']['median']:.2f}" if s["aspect"] else "-"
        print(f"{split:<10} {s['images']:>7} {s['regions']:>8} {s['dont_care']:>10} {s['dont_care_share']:>7.1%} "
              f"{height:>27} {aspect:>14}")
    for kind in ("duplicates_across_splits", "duplicates_within_splits"):
        groups = report[kind]
        print(f"{kind.replace('_', ' ')}: {len(groups)}" + "".join(f"\n  {' = '.join(g)}" for g in groups))
    for kind in ("problems", "warnings"):
        print(f"{kind} ({len(report[kind])})" + ("".join(f"\n  {line}" for line in report[kind]) if report[kind] else ""))
    print(f"-> {output} (report.json, box_sizes.png, drawn/: {report['drawn']} images)")
    return 1 if report["problems"] else 0


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return _convert(args) if args.command == "convert" else _check(args)
