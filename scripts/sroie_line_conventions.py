"""How SROIE 2019 splits a printed line into boxes, and what that costs a detector.

SROIE's Task 1 ground truth sometimes keeps two neighbouring segments of a line in one box
(``2.45 SR``) and sometimes gives each its own box (``2.45`` | ``SR``). A detector sees the
same ink either way, so whichever convention it follows, it loses the other one. This script
measures both on the ground truth alone (no model):

1. For four line patterns (price and tax code, label and colon, ``TEL ...`` and ``FAX ...``,
   quantity ``N X`` and price), the number of boxes that hold both segments ("joined") and of
   neighbouring box pairs that hold one each ("apart"), per split, and how many receipts use
   both conventions.
2. The ICDAR 2015 H-mean of the ground truth rewritten to the training split's majority
   convention, scored against the original ground truth: the ceiling of a detector that is
   perfect except that it follows one convention per pattern.

Rewriting: a joined box is cut in two at the characters' share of its width; an apart pair
is replaced by the minimum-area rectangle around both. Two boxes are neighbours on one line
when their vertical centres differ by less than half the right box's height and the gap from
the left box's right edge to the right box's left edge is below three heights (a colon
aligned far from its label is not a pair). Scoring: ICDAR 2015 Task 4.1 protocol
(:func:`trainlab.tasks.text_detection.metrics.icdar2015.evaluate_dataset`).

3. With ``--write DIR``: a copy of the data set whose training ground truth follows the
   training split's majority convention for every pattern (test ground truth unchanged, images
   linked), to train a detector on labels that split lines one way only:
   ``trainlab train experiment=ppocr_det_sroie data.root=DIR``.

Usage:
    python scripts/sroie_line_conventions.py [--root ../shared/data/sroie2019] [--write DIR]

The root holds ``images/{train,test}`` and ``annotations/{train,test}`` (ICDAR txt).

Raises:
    FileNotFoundError: the root lacks a split's images or annotations.
    FileExistsError: ``--write`` names a folder that already holds ``annotations/``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from trainlab.engine.io import atomic_write_text
from trainlab.tasks.text_detection.data.icdar_format import format_result_line, read_split
from trainlab.tasks.text_detection.metrics.icdar2015 import evaluate_dataset
from trainlab.tasks.text_detection.types import TextRegion

PRICE = r"-?\d+\.\d{2}"
TAX_CODE = r"SR|S|ZR|Z|ZRL|T"


@dataclass(frozen=True)
class Pattern:
    """Two segments of a line that SROIE annotates either in one box or in two.

    Attributes:
        name: Label in the tables.
        joined: Regex a joined box's whole transcription matches; group 1 is the left segment
            and group 2 the right one.
        left: Predicate on the left box's transcription of an apart pair.
        right: Predicate on the right box's transcription of an apart pair.
    """

    name: str
    joined: re.Pattern[str]
    left: Callable[[str], bool]
    right: Callable[[str], bool]


PATTERNS = [
    Pattern("price | tax code", re.compile(rf"({PRICE})\s+({TAX_CODE})"),
            lambda t: re.fullmatch(PRICE, t) is not None, lambda t: re.fullmatch(TAX_CODE, t) is not None),
    Pattern("label | colon", re.compile(r"(.*\w)\s*(:)"), lambda t: t != "", lambda t: t == ":"),
    Pattern("TEL | FAX", re.compile(r"(.*TEL.*?)\s*(FAX.*)", re.I),
            lambda t: "TEL" in t.upper(), lambda t: t.upper().startswith("FAX")),
    Pattern("quantity | price", re.compile(rf"(\d+\s*X)\s+({PRICE}.*)", re.I),
            lambda t: re.fullmatch(r"\d+\s*X", t, re.I) is not None, lambda t: re.match(PRICE, t) is not None),
]


def left_neighbour(regions: Sequence[TextRegion], index: int) -> int | None:
    """Index of the nearest box left of ``regions[index]`` on the same line, or None.

    Same line: vertical centres closer than half the right box's height (pixels); nearest:
    the largest right edge that is at most 0.3 heights past the right box's left edge and less
    than 3 heights before it.
    """
    box = regions[index].points
    height = float(np.ptp(box[:, 1])) or 1.0
    centre, left_edge = box[:, 1].mean(), box[:, 0].min()
    best, best_edge = None, -np.inf
    for j, other in enumerate(regions):
        right_edge = other.points[:, 0].max()
        if (j != index and abs(other.points[:, 1].mean() - centre) < 0.5 * height
                and right_edge <= left_edge + 0.3 * height and left_edge - right_edge < 3 * height
                and right_edge > best_edge):
            best, best_edge = j, right_edge
    return best


def apart_pairs(regions: Sequence[TextRegion], pattern: Pattern) -> list[tuple[int, int]]:
    """``(left, right)`` index pairs of neighbouring boxes holding one segment each."""
    pairs = []
    for i, region in enumerate(regions):
        if pattern.right(region.transcription.strip()):
            j = left_neighbour(regions, i)
            if j is not None and pattern.left(regions[j].transcription.strip()):
                pairs.append((j, i))
    return pairs


def split_quad(points: np.ndarray, start: float, end: float) -> list[np.ndarray]:
    """Cut a quad (4, 2), vertices TL, TR, BR, BL in pixels, into [0, start] and [end, 1] of its width."""
    tl, tr, br, bl = points.astype(np.float64)
    return [np.array([tl, tl + (tr - tl) * start, bl + (br - bl) * start, bl]),
            np.array([tl + (tr - tl) * end, tr, br, bl + (br - bl) * end])]


def rewrite(regions: Sequence[TextRegion], pattern: Pattern, convention: str) -> list[TextRegion]:
    """The ground truth with every instance of ``pattern`` written as ``convention``.

    Args:
        regions: One image's ground truth.
        pattern: The line pattern to rewrite.
        convention: ``"joined"`` (apart pairs merged) or ``"apart"`` (joined boxes cut).

    Returns:
        Regions (quads as (4, 2) float64 arrays in pixels, with their segments' text), as a
        detector following that convention would give them.

    Raises:
        ValueError: ``convention`` is neither ``"joined"`` nor ``"apart"``.
    """
    if convention == "joined":
        out = list(regions)
        dropped = set()
        for left, right in apart_pairs(regions, pattern):
            if left not in dropped:
                both = np.vstack([out[left].points, regions[right].points]).astype(np.float32)
                text = f"{out[left].transcription.strip()} {regions[right].transcription.strip()}"
                out[left] = TextRegion(cv2.boxPoints(cv2.minAreaRect(both)).astype(np.float64), text)
                dropped.add(right)
        return [r for k, r in enumerate(out) if k not in dropped]
    if convention != "apart":
        raise ValueError(f"convention must be 'joined' or 'apart', got {convention!r}")
    out = []
    for region in regions:
        text = region.transcription.strip()
        match = pattern.joined.fullmatch(text)
        if match and len(region.points) == 4:
            pieces = split_quad(region.points, match.end(1) / len(text), match.start(2) / len(text))
            out += [TextRegion(pieces[0], match.group(1)), TextRegion(pieces[1], match.group(2))]
        else:
            out.append(region)
    return out


def write_normalized_root(root: str | os.PathLike, out: str | os.PathLike, conventions: dict[str, str]) -> int:
    """Copy the data set to ``out`` with its training ground truth rewritten to ``conventions``.

    ``out/images/{train,test}`` are symbolic links to the root's image folders;
    ``out/annotations/test`` is a byte copy of the original; each ``out/annotations/train``
    file holds the image's regions after :func:`rewrite` with every pattern in turn, as ICDAR
    txt lines (integer vertex coordinates in pixels, then the transcription).

    Args:
        root: Data set root with ``images/{train,test}`` and ``annotations/{train,test}``.
        out: New folder (created).
        conventions: Pattern name to ``"joined"`` or ``"apart"``, for every pattern in
            :data:`PATTERNS`.

    Returns:
        The number of training regions written.

    Raises:
        FileExistsError: ``out`` already holds ``annotations/``.
        FileNotFoundError: the root lacks a split's images or annotations.
        ValueError: ``conventions`` lacks a pattern or gives one a value other than
            ``"joined"`` or ``"apart"``.
        OSError: the file system refuses symbolic links (the image folders are linked, not copied).
    """
    root, out = os.path.abspath(root), os.path.abspath(out)
    if os.path.exists(os.path.join(out, "annotations")):
        raise FileExistsError(f"{out} already holds annotations/; choose a new folder")
    for folder in ("images/train", "images/test", "annotations/test"):  # before anything is written
        if not os.path.isdir(f"{root}/{folder}"):
            raise FileNotFoundError(f"folder not found: {root}/{folder}")
    for pattern in PATTERNS:
        if conventions.get(pattern.name) not in ("joined", "apart"):
            raise ValueError(f"conventions[{pattern.name!r}] must be 'joined' or 'apart', "
                             f"got {conventions.get(pattern.name)!r}")
    records = read_split(f"{root}/images/train", f"{root}/annotations/train")
    os.makedirs(f"{out}/images", exist_ok=True)
    for split in ("train", "test"):
        os.symlink(f"{root}/images/{split}", f"{out}/images/{split}", target_is_directory=True)
    shutil.copytree(f"{root}/annotations/test", f"{out}/annotations/test")
    written = 0
    for record in records:
        regions = list(record.regions)
        for pattern in PATTERNS:
            regions = rewrite(regions, pattern, conventions[pattern.name])
        lines = [f"{format_result_line(r.points)},{r.transcription.strip()}" for r in regions]
        atomic_write_text(f"{out}/annotations/train/{record.annotation_path.name}", "\n".join(lines) + "\n")
        written += len(regions)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data/sroie2019")
    parser.add_argument("--write", metavar="DIR", help="also write the data set with train labels in the majority convention")
    args = parser.parse_args()
    splits = {s: read_split(f"{args.root}/images/{s}", f"{args.root}/annotations/{s}") for s in ("train", "test")}

    console = Console()
    census = Table(title="SROIE line segments: joined in one box or apart in two")
    for column in ("pattern", "split", "joined boxes", "apart pairs", "receipts using both"):
        census.add_column(column)
    majority = {}
    for pattern in PATTERNS:
        for split, records in splits.items():
            joined = [sum(bool(pattern.joined.fullmatch(r.transcription.strip())) for r in rec.regions)
                      for rec in records]
            apart = [len(apart_pairs(rec.regions, pattern)) for rec in records]
            both = sum(1 for j, a in zip(joined, apart) if j and a)
            census.add_row(pattern.name, split, str(sum(joined)), str(sum(apart)), str(both))
            if split == "train":
                majority[pattern.name] = "joined" if sum(joined) >= sum(apart) else "apart"
    console.print(census)

    ceiling = Table(title="Ground truth rewritten to the train split's majority convention, scored by ICDAR 2015")
    for column in ("pattern", "convention", "split", "precision", "recall", "H-mean"):
        ceiling.add_column(column)
    for chosen in [[p] for p in PATTERNS] + [PATTERNS]:
        for split, records in splits.items():
            samples = {}
            for rec in records:
                detected = list(rec.regions)
                for pattern in chosen:
                    detected = rewrite(detected, pattern, majority[pattern.name])
                samples[rec.name] = (rec.regions, [r.points for r in detected])
            result = evaluate_dataset(samples)
            name = chosen[0].name if len(chosen) == 1 else "all four"
            convention = majority[chosen[0].name] if len(chosen) == 1 else "each its majority"
            ceiling.add_row(name, convention, split, f"{result.precision:.4f}", f"{result.recall:.4f}",
                            f"{result.hmean:.4f}")
    console.print(ceiling)

    if args.write:
        written = write_normalized_root(args.root, args.write, majority)
        console.print(f"wrote {args.write}: {written} training regions "
                      f"(originally {sum(len(rec.regions) for rec in splits['train'])}), conventions {majority}")


if __name__ == "__main__":
    main()
