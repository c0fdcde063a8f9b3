"""DBNet post-processing: probability map to text quads or polygons.

Source: Liao et al., AAAI 2020, Sec. 3.5 "Inference" (binarise the probability map, take
connected regions, dilate each kernel back with the Vatti offset ``D' = A' u / L'``); the
box score and candidate limits follow the authors' reference implementation
(MhLiao/DB, ``structure/representers/seg_detector_representer.py``). Plain NumPy/OpenCV.

Steps for one image:

1. ``bitmap = prob_map > thresh``, optionally dilated by a 2x2 kernel (``dilation``, as
   PaddleOCR's ``DBPostProcess(use_dilation=True)``); contours of the bitmap (at most
   ``max_candidates``, largest first).
2. Each contour gives a quad (``cv2.minAreaRect``) or, with ``use_polygon``, a
   simplified polygon (``cv2.approxPolyDP``).
3. Score = mean probability inside the quad (``score_mode="fast"``) or inside the contour
   itself (``score_mode="polygon"``, slower, better for curved text). Below ``box_thresh``
   the candidate is dropped.
4. Unclip by ``unclip_ratio``, refit a quad (or keep the polygon), drop results whose short
   side is below ``min_size`` pixels (map scale), and rescale to original image coordinates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from trainlab.tasks.text_detection.geometry import offset_polygon, unclip_distance
from trainlab.tasks.text_detection.types import TextRegion


@dataclass
class DBPostprocessConfig:
    """Parameters of :func:`db_postprocess`.

    Attributes:
        thresh: Probability above which a pixel is text (binarisation), in ``[0, 1]``.
        box_thresh: Minimum mean probability of a candidate region, in ``[0, 1]``.
        unclip_ratio: ``u`` in the unclip offset ``D' = A' u / L'``.
        max_candidates: At most this many contours per image are considered.
        min_size: Minimum short side of a kept region, in probability-map pixels.
        use_polygon: Return simplified polygons instead of quads (curved text).
        score_mode: ``"fast"`` (mean over the quad) or ``"polygon"`` (mean over the contour).
        polygon_epsilon: ``approxPolyDP`` tolerance as a fraction of the contour perimeter.
        dilation: Dilate the bitmap with a 2x2 kernel of ones before finding contours
            (PaddleOCR's ``use_dilation``; joins characters split by one-pixel gaps).
    """

    thresh: float = 0.3
    box_thresh: float = 0.6
    unclip_ratio: float = 2.0
    max_candidates: int = 1000
    min_size: float = 2.0
    use_polygon: bool = False
    score_mode: str = "fast"
    polygon_epsilon: float = 0.002
    dilation: bool = False

    def __post_init__(self) -> None:
        if self.score_mode not in {"fast", "polygon"}:
            raise ValueError(f"score_mode must be 'fast' or 'polygon', got {self.score_mode!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def _mean_inside(prob_map: np.ndarray, points: np.ndarray) -> float:
    """Mean of ``prob_map`` over the pixels covered by ``points`` (``(N, 2)``, map pixels)."""
    height, width = prob_map.shape
    x0 = int(np.clip(np.floor(points[:, 0].min()), 0, width - 1))
    x1 = int(np.clip(np.ceil(points[:, 0].max()), 0, width - 1))
    y0 = int(np.clip(np.floor(points[:, 1].min()), 0, height - 1))
    y1 = int(np.clip(np.ceil(points[:, 1].max()), 0, height - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted = np.round(points - np.array([x0, y0])).astype(np.int32)
    cv2.fillPoly(mask, [shifted.reshape(-1, 1, 2)], 1)
    if not mask.any():
        return 0.0
    return float(cv2.mean(prob_map[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def order_quad(points: np.ndarray) -> np.ndarray:
    """Order 4 vertices clockwise (in image coordinates, y down) starting from the top-left.

    The top-left vertex is the one with the smallest ``x + y``; ICDAR 2015 submissions must
    be clockwise.

    Args:
        points: ``(4, 2)`` vertices.

    Returns:
        ``(4, 2)`` float64 vertices.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(4, 2)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(angles)]  # increasing angle = clockwise on screen (y down)
    start = int(np.argmin(pts.sum(axis=1)))
    return np.roll(pts, -start, axis=0)


def _quad_short_side(quad: np.ndarray) -> float:
    edges = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
    return float(min(edges[0], edges[1]))


def db_postprocess(
    prob_map: np.ndarray,
    original_size: tuple[int, int],
    config: DBPostprocessConfig | None = None,
) -> list[TextRegion]:
    """Turn one probability map into text regions in original image coordinates.

    Args:
        prob_map: ``(h, w)`` float32 probability map in ``[0, 1]`` (the network input size).
        original_size: ``(height, width)`` of the original image in pixels; coordinates
            are scaled by ``width / w`` and ``height / h`` (pixel centres aligned, as
            ``cv2.resize`` maps them) and clipped to the image.
        config: Post-processing parameters (defaults if ``None``).

    Returns:
        Regions with ``points`` ``(4, 2)`` (clockwise from top-left) or ``(N, 2)``
        polygons, float64 pixels, and ``score`` set; in descending contour-area order.

    Raises:
        ValueError: ``prob_map`` is not 2-D.
    """
    config = config or DBPostprocessConfig()
    if prob_map.ndim != 2:
        raise ValueError(f"prob_map must be (h, w), got shape {prob_map.shape}")
    prob_map = np.ascontiguousarray(prob_map, dtype=np.float32)
    map_h, map_w = prob_map.shape
    orig_h, orig_w = original_size
    scale = np.array([orig_w / map_w, orig_h / map_h])
    bitmap = (prob_map > config.thresh).astype(np.uint8)
    if config.dilation:
        bitmap = cv2.dilate(bitmap, np.ones((2, 2), dtype=np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    contours = sorted(contours, key=cv2.contourArea, reverse=True)[: config.max_candidates]
    regions = []
    for contour in contours:
        if len(contour) < 2:
            continue
        contour_pts = contour.reshape(-1, 2).astype(np.float64)
        if config.use_polygon:
            approx = cv2.approxPolyDP(contour, config.polygon_epsilon * cv2.arcLength(contour, True), True)
            candidate = approx.reshape(-1, 2).astype(np.float64)
            if len(candidate) < 4:
                candidate = cv2.boxPoints(cv2.minAreaRect(contour)).astype(np.float64)
        else:
            rect = cv2.minAreaRect(contour)
            if min(rect[1]) < config.min_size:
                continue
            candidate = cv2.boxPoints(rect).astype(np.float64)
        score_region = contour_pts if config.score_mode == "polygon" and len(contour_pts) >= 3 else candidate
        score = _mean_inside(prob_map, score_region)
        if score < config.box_thresh:
            continue
        expanded = offset_polygon(candidate, unclip_distance(candidate, config.unclip_ratio))
        if len(expanded) != 1:
            continue
        expanded = expanded[0]
        if config.use_polygon:
            rect = cv2.minAreaRect(expanded.astype(np.float32))
            if min(rect[1]) < config.min_size + 2:
                continue
            points = expanded
        else:
            rect = cv2.minAreaRect(expanded.astype(np.float32))
            if min(rect[1]) < config.min_size + 2:
                continue
            points = order_quad(cv2.boxPoints(rect))
        points = (points + 0.5) * scale - 0.5  # pixel centres stay aligned, as in cv2.resize
        points[:, 0] = np.clip(points[:, 0], 0, orig_w - 1)
        points[:, 1] = np.clip(points[:, 1], 0, orig_h - 1)
        regions.append(TextRegion(points=points, score=score))
    return regions
