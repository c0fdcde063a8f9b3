"""DBNet training targets: probability (shrink) map, threshold map and their masks.

Source: Liao et al., "Real-time Scene Text Detection with Differentiable Binarization",
AAAI 2020, Sec. 3.4 "Label generation". Plain NumPy/OpenCV: no torch.

- Probability map ``G_s``: each text polygon shrunk by ``D = A (1 - r^2) / L`` and filled
  with 1. Its mask is 0 over don't-care polygons, polygons whose box is smaller than
  ``min_text_size`` pixels, and polygons that vanish when shrunk, so these contribute no
  loss either way.
- Threshold map ``G_d``: inside each polygon dilated by ``D``, ``1 - dist / D`` where
  ``dist`` is the distance to the nearest polygon edge (clipped to ``[0, 1]``), rescaled to
  ``[thresh_min, thresh_max]`` (0.3-0.7 in the paper). Its mask covers the dilated
  polygons. Distances here are exact point-to-segment distances, where the reference
  implementation measured to the edges' infinite lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from trainlab.tasks.text_detection.geometry import offset_polygon, shrink_distance

FILL_SHIFT = 4  # cv2.fillPoly fixed-point bits: polygons are rasterised at 1/16 px precision


@dataclass
class DBTargets:
    """The four DB target maps of one image, each ``(H, W)`` float32.

    Attributes:
        prob_map: 1 inside shrunk text kernels, else 0.
        prob_mask: 0 where the probability loss is ignored (don't-care, tiny text), else 1.
        thresh_map: Threshold-map target in ``[thresh_min, thresh_max]``.
        thresh_mask: 1 inside dilated text polygons, where the threshold loss applies.
    """

    prob_map: np.ndarray
    prob_mask: np.ndarray
    thresh_map: np.ndarray
    thresh_mask: np.ndarray


def fill_polygon(canvas: np.ndarray, points: np.ndarray, value: float) -> None:
    """Rasterise a polygon in place with sub-pixel vertex precision.

    Args:
        canvas: ``(H, W)`` array to draw on.
        points: ``(N, 2)`` vertices in pixels (pixel centres at integer coordinates).
        value: Fill value.
    """
    fixed = np.round(np.asarray(points, dtype=np.float64) * (1 << FILL_SHIFT)).astype(np.int32)
    cv2.fillPoly(canvas, [fixed.reshape(-1, 1, 2)], value, lineType=cv2.LINE_8, shift=FILL_SHIFT)


def _segment_distances(xs: np.ndarray, ys: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Distance (px) from every grid point to the nearest edge of ``polygon``; shape ``xs.shape``."""
    start = polygon
    end = np.roll(polygon, -1, axis=0)
    best = np.full(xs.shape, np.inf, dtype=np.float64)
    for (x1, y1), (x2, y2) in zip(start, end):
        dx, dy = x2 - x1, y2 - y1
        length_sq = dx * dx + dy * dy
        if length_sq == 0:
            t = np.zeros_like(xs)
        else:
            t = np.clip(((xs - x1) * dx + (ys - y1) * dy) / length_sq, 0.0, 1.0)
        dist = np.hypot(xs - (x1 + t * dx), ys - (y1 + t * dy))
        np.minimum(best, dist, out=best)
    return best


def _draw_border(canvas: np.ndarray, mask: np.ndarray, polygon: np.ndarray, distance: float) -> None:
    """Add one polygon's ``1 - dist / D`` ramp to ``canvas`` (max-composited) and its dilated area to ``mask``."""
    dilated = offset_polygon(polygon, distance)
    if not dilated:
        return
    dilated = max(dilated, key=len)
    fill_polygon(mask, dilated, 1.0)
    height, width = canvas.shape
    x0 = int(np.floor(dilated[:, 0].min()))
    x1 = int(np.ceil(dilated[:, 0].max()))
    y0 = int(np.floor(dilated[:, 1].min()))
    y1 = int(np.ceil(dilated[:, 1].max()))
    cx0, cx1 = max(x0, 0), min(x1, width - 1)
    cy0, cy1 = max(y0, 0), min(y1, height - 1)
    if cx0 > cx1 or cy0 > cy1:
        return
    ys, xs = np.mgrid[cy0 : cy1 + 1, cx0 : cx1 + 1].astype(np.float64)
    ramp = 1.0 - np.clip(_segment_distances(xs, ys, polygon) / distance, 0.0, 1.0)
    region = canvas[cy0 : cy1 + 1, cx0 : cx1 + 1]
    np.maximum(region, ramp.astype(np.float32), out=region)


def make_db_targets(
    polygons: Sequence[np.ndarray],
    dont_care: Sequence[bool],
    height: int,
    width: int,
    *,
    shrink_ratio: float = 0.4,
    thresh_min: float = 0.3,
    thresh_max: float = 0.7,
    min_text_size: float = 3.0,
) -> DBTargets:
    """Build the DB target maps for one image.

    Args:
        polygons: Text polygons, each ``(N, 2)`` float vertices in pixels of the (augmented)
            image the maps align with. Vertices may lie outside the image.
        dont_care: One flag per polygon; True masks the polygon out of the probability loss
            and draws no threshold ramp for it.
        height: Map height in pixels.
        width: Map width in pixels.
        shrink_ratio: ``r`` in ``D = A (1 - r^2) / L`` (0.4 in the paper).
        thresh_min: Threshold-map value far from text.
        thresh_max: Threshold-map value on the text border.
        min_text_size: Polygons whose axis-aligned box is narrower or shorter than this
            (pixels) are masked out instead of learned. The reference implementation uses
            8 px, which drops most text on downscaled A4 receipt scans; 3 px keeps it.

    Returns:
        :class:`DBTargets` with four ``(height, width)`` float32 maps.

    Raises:
        ValueError: ``polygons`` and ``dont_care`` differ in length, or ``shrink_ratio``
            is outside ``(0, 1)``.
    """
    if len(polygons) != len(dont_care):
        raise ValueError(f"{len(polygons)} polygons but {len(dont_care)} don't-care flags")
    if not 0.0 < shrink_ratio < 1.0:
        raise ValueError(f"shrink_ratio must be in (0, 1), got {shrink_ratio}")
    prob_map = np.zeros((height, width), dtype=np.float32)
    prob_mask = np.ones((height, width), dtype=np.float32)
    canvas = np.zeros((height, width), dtype=np.float32)
    thresh_mask = np.zeros((height, width), dtype=np.float32)
    for polygon, ignore in zip(polygons, dont_care):
        polygon = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        box_w = polygon[:, 0].max() - polygon[:, 0].min()
        box_h = polygon[:, 1].max() - polygon[:, 1].min()
        distance = shrink_distance(polygon, shrink_ratio)
        if ignore or min(box_w, box_h) < min_text_size or distance <= 0:
            fill_polygon(prob_mask, polygon, 0.0)
            continue
        shrunk = offset_polygon(polygon, -distance)
        if not shrunk:
            fill_polygon(prob_mask, polygon, 0.0)
            continue
        for piece in shrunk:
            fill_polygon(prob_map, piece, 1.0)
        _draw_border(canvas, thresh_mask, polygon, distance)
    thresh_map = canvas * (thresh_max - thresh_min) + thresh_min
    return DBTargets(prob_map=prob_map, prob_mask=prob_mask, thresh_map=thresh_map, thresh_mask=thresh_mask)
