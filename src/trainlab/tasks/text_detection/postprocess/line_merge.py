"""Merge word boxes into text-line boxes: near-horizontal words on one line, close together, become one box.

Word-level detectors such as CRAFT leave the spaces between words unlinked, while receipt
ground truth (SROIE) is annotated by line. The grouping follows EasyOCR's
``utils.group_text_box`` (JaidedAI/EasyOCR, whose ``readtext`` applies it to CRAFT boxes with
``slope_ths``, ``ycenter_ths``, ``height_ths`` and ``width_ths``):

1. Boxes whose long side slopes by more than ``max_slope`` (rise over run) are left alone.
2. The others, by vertical centre, form rows: a box joins the current row when its centre is
   within ``ycenter_tolerance`` x the row's mean height of the row's mean centre.
3. In each row, from left to right, a box joins the current line when its height is within
   ``height_tolerance`` x the line's mean height of it and the horizontal gap to the line is
   below ``max_gap`` x the box height.
4. A line of several boxes becomes the minimum-area rectangle of their vertices (EasyOCR
   takes the axis-aligned box plus a margin); its score is the mean of theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from trainlab.tasks.text_detection.postprocess.db_postprocess import order_quad
from trainlab.tasks.text_detection.types import TextRegion


def _slope(points: np.ndarray) -> float:
    (_, _), (width, height), angle = cv2.minAreaRect(points.astype(np.float32))
    if width < height:
        angle += 90.0
    return abs(float(np.tan(np.deg2rad(angle))))


def merge_into_lines(regions: Sequence[TextRegion], max_gap: float, max_slope: float = 0.1,
                     ycenter_tolerance: float = 0.5, height_tolerance: float = 0.5) -> list[TextRegion]:
    """Group word regions into line regions (see the module docstring for the rules).

    Args:
        regions: Detected regions, ``points`` ``(N, 2)`` pixels.
        max_gap: Largest horizontal gap joined, in box heights (EasyOCR's ``width_ths``, 0.5);
            0 or less returns ``regions`` unchanged.
        max_slope: Boxes steeper than this (rise over run) are never merged.
        ycenter_tolerance: Row membership, in row heights (EasyOCR's ``ycenter_ths``).
        height_tolerance: Height similarity within a line, in line heights (``height_ths``).

    Returns:
        Unmerged regions (steep ones first, then single-box lines) and merged lines, each
        merged line a ``(4, 2)`` clockwise quad; order: steep boxes, then lines top to bottom,
        left to right.
    """
    if max_gap <= 0 or len(regions) < 2:
        return list(regions)
    steep, flat = [], []
    for region in regions:
        (steep if _slope(region.points) > max_slope else flat).append(region)
    boxes = sorted(
        ((r.points[:, 0].min(), r.points[:, 0].max(), r.points[:, 1].min(), r.points[:, 1].max(), r) for r in flat),
        key=lambda b: (b[2] + b[3]) / 2,
    )
    rows: list[list[tuple]] = []
    for box in boxes:
        centre = (box[2] + box[3]) / 2
        if rows:
            row = rows[-1]
            row_centre = np.mean([(b[2] + b[3]) / 2 for b in row])
            row_height = np.mean([b[3] - b[2] for b in row])
            if abs(row_centre - centre) < ycenter_tolerance * row_height:
                row.append(box)
                continue
        rows.append([box])
    merged = list(steep)
    for row in rows:
        lines: list[list[tuple]] = []
        for box in sorted(row, key=lambda b: b[0]):
            height = box[3] - box[2]
            if lines:
                line = lines[-1]
                line_height = np.mean([b[3] - b[2] for b in line])
                right = max(b[1] for b in line)
                if abs(line_height - height) < height_tolerance * line_height and box[0] - right < max_gap * height:
                    line.append(box)
                    continue
            lines.append([box])
        for line in lines:
            if len(line) == 1:
                merged.append(line[0][4])
                continue
            points = np.concatenate([b[4].points for b in line]).astype(np.float32)
            quad = order_quad(cv2.boxPoints(cv2.minAreaRect(points)))
            scores = [b[4].score for b in line if b[4].score is not None]
            merged.append(TextRegion(points=quad, score=float(np.mean(scores)) if scores else None))
    return merged
