"""CRAFT post-processing: region and affinity score maps to word or line boxes.

Source: Baek et al., CVPR 2019, Sec. 3.3 "Inference", and the official implementation
(clovaai/CRAFT-pytorch, ``craft_utils.getDetBoxes_core``), reproduced step by step:

1. ``text = region > low_text``, ``link = affinity > link_threshold``; connected components
   (4-connectivity) of ``text | link``.
2. Components smaller than ``min_area`` pixels, or whose highest region score is below
   ``text_threshold``, are dropped.
3. Each component loses its link-only pixels (``link & ~text``) and is dilated by a square of
   side ``1 + n`` with ``n = int(2 sqrt(area * min(w, h) / (w * h)))`` (``w``, ``h`` of its
   bounding box), which gives back the margin that thresholding the Gaussian took away.
4. Quad: ``cv2.minAreaRect`` of the dilated pixels (axis-aligned box when the rectangle is
   within 10 % of square, as the official code does for "diamond" shapes), clockwise from the
   top-left. Polygon (``use_polygon``): the outer contour of the dilated pixels simplified by
   ``cv2.approxPolyDP``; this replaces the official ``getPoly_core`` (which fits a polygon
   through column-wise pivots of the word rectangle) with the contour the component itself
   draws, as DB post-processing does.
5. With ``line_gap > 0``, word boxes on one text line are merged into line boxes
   (:func:`~trainlab.tasks.text_detection.postprocess.line_merge.merge_into_lines`, after
   EasyOCR's grouping of CRAFT boxes): CRAFT leaves the spaces between words unlinked, while
   receipt ground truth (SROIE) is annotated by line. 0 (default) keeps the official output.

Work is done in each component's bounding box (plus the dilation margin) rather than on a
full-size map per component as in the official code; the result is the same. Coordinates
are map pixels scaled to the original image with pixel centres aligned (the maps are at
half the network input resolution, so the scale is about ``2 / resize ratio``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from trainlab.tasks.text_detection.postprocess.db_postprocess import order_quad
from trainlab.tasks.text_detection.postprocess.line_merge import merge_into_lines
from trainlab.tasks.text_detection.types import TextRegion


@dataclass
class CraftPostprocessConfig:
    """Parameters of :func:`craft_postprocess` (official defaults: 0.7, 0.4, 0.4).

    Attributes:
        text_threshold: A component is text if its highest region score reaches this.
        link_threshold: Affinity score above which a pixel links characters.
        low_text: Region score above which a pixel belongs to a character.
        min_area: Components smaller than this (map pixels) are dropped (10 in the official code).
        use_polygon: Return the component's simplified outline instead of a quad (curved text).
        polygon_epsilon: ``approxPolyDP`` tolerance as a fraction of the outline's perimeter.
        line_gap: Merge near-horizontal boxes of one line across gaps up to this many box
            heights (EasyOCR's ``width_ths`` is 0.5); 0 turns merging off.
    """

    text_threshold: float = 0.7
    link_threshold: float = 0.4
    low_text: float = 0.4
    min_area: int = 10
    use_polygon: bool = False
    polygon_epsilon: float = 0.002
    line_gap: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _component_points(labels: np.ndarray, link_only: np.ndarray, index: int, stats: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The dilated component ``index``: its mask (a crop of the map) and the crop origin ``(x, y)``."""
    height, width = labels.shape
    x, y, w, h, area = (int(v) for v in stats[index])
    grow = int(math.sqrt(area * min(w, h) / (w * h)) * 2)
    x0, y0 = max(x - grow, 0), max(y - grow, 0)
    x1, y1 = min(x + w + grow + 1, width), min(y + h + grow + 1, height)
    mask = (labels[y0:y1, x0:x1] == index).astype(np.uint8)
    mask[link_only[y0:y1, x0:x1]] = 0
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (1 + grow, 1 + grow)))
    return mask, np.argwhere(mask)[:, ::-1].astype(np.float32), (x0, y0)


def _quad(points: np.ndarray) -> np.ndarray:
    box = cv2.boxPoints(cv2.minAreaRect(points)).astype(np.float64)
    side_a = np.linalg.norm(box[0] - box[1])
    side_b = np.linalg.norm(box[1] - box[2])
    if abs(1 - max(side_a, side_b) / (min(side_a, side_b) + 1e-5)) <= 0.1:
        (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
        box = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], dtype=np.float64)
    return order_quad(box)


def _polygon(mask: np.ndarray, epsilon: float) -> np.ndarray | None:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    approx = cv2.approxPolyDP(contour, epsilon * cv2.arcLength(contour, True), True).reshape(-1, 2)
    return approx.astype(np.float64) if len(approx) >= 4 else None


def craft_postprocess(region_map: np.ndarray, affinity_map: np.ndarray, original_size: tuple[int, int],
                      config: CraftPostprocessConfig | None = None) -> list[TextRegion]:
    """Turn one image's CRAFT score maps into text regions in original image coordinates.

    Args:
        region_map: ``(h, w)`` float32 region (character) score map.
        affinity_map: ``(h, w)`` float32 affinity (link) score map.
        original_size: ``(height, width)`` of the original image in pixels.
        config: Thresholds (official defaults if ``None``).

    Returns:
        Regions with ``points`` ``(4, 2)`` (clockwise from top-left) or ``(N, 2)`` polygons,
        float64 pixels of the original image, and ``score`` = the component's highest region
        score clipped to ``[0, 1]`` (merged lines: the mean of their words); in
        component-label order (top to bottom, left to right), merged lines after unmerged boxes.

    Raises:
        ValueError: the maps are not 2-D or differ in shape.
    """
    config = config or CraftPostprocessConfig()
    if region_map.ndim != 2 or region_map.shape != affinity_map.shape:
        raise ValueError(f"region and affinity maps must be (h, w) of one shape, got {region_map.shape} and {affinity_map.shape}")
    text = region_map > config.low_text
    link = affinity_map > config.link_threshold
    count, labels, stats, _ = cv2.connectedComponentsWithStats((text | link).astype(np.uint8), connectivity=4)
    link_only = link & ~text
    map_h, map_w = region_map.shape
    orig_h, orig_w = original_size
    scale = np.array([orig_w / map_w, orig_h / map_h])
    regions = []
    for index in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[index])
        if area < config.min_area:
            continue
        inside = labels[y : y + h, x : x + w] == index
        peak = float(region_map[y : y + h, x : x + w][inside].max())
        if peak < config.text_threshold:
            continue
        mask, points, origin = _component_points(labels, link_only, index, stats)
        if len(points) < 3:
            continue
        shape = _polygon(mask, config.polygon_epsilon) if config.use_polygon else None
        shape = _quad(points) if shape is None else shape
        shape = (shape + np.array(origin) + 0.5) * scale - 0.5  # pixel centres stay aligned
        shape[:, 0] = np.clip(shape[:, 0], 0, orig_w - 1)
        shape[:, 1] = np.clip(shape[:, 1], 0, orig_h - 1)
        regions.append(TextRegion(points=shape, score=min(max(peak, 0.0), 1.0)))
    return merge_into_lines(regions, config.line_gap)
