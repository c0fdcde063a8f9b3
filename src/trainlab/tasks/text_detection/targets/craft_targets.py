"""CRAFT training targets from word- or line-level boxes: region score, affinity score, confidence.

Source: Baek et al., "Character Region Awareness for Text Detection", CVPR 2019
(https://arxiv.org/abs/1904.01941), Sec. 3.1 (ground-truth label generation, Fig. 3) and
Sec. 3.2 (weakly-supervised learning). Plain NumPy/OpenCV: no torch.

- **Pseudo character boxes.** Real data has word (ICDAR 2015) or line (SROIE) boxes only.
  Each box is split along its length into ``l(w)`` equal parts, ``l(w)`` the length of its
  transcription without whitespace (spaces then take no slot, so the characters of a line
  stay linked across them, which is what line-level ground truth asks for). A box without
  transcription gets ``round(length / height)`` characters. Quads are split between their
  two long edges; polygons of ``2k`` vertices (top edge, then bottom edge backwards, as in
  Total-Text and CTW1500) along their top and bottom polylines, at equal arc-length fractions.
  This is the paper's fallback splitting; the interim-model estimate (watershed on the
  current model's region score, Sec. 3.2) is not implemented, so the estimated length
  ``l_c(w)`` equals ``l(w)``.
- **Region score.** A 2-D isotropic Gaussian warped by the perspective transform from a
  square onto each character box, max-composited. The Gaussian is ``exp(-k (u^2 + v^2) / 2)``
  in the square's coordinates ``(u, v)`` in ``[-1, 1]^2``; ``k`` is set so that it equals
  ``edge_score`` at the midpoints of the box edges, i.e. the box is the bounding box of the
  ``edge_score`` iso-contour, as in the public re-implementation that fits the template's
  0.4 contour to the box (backtime92/CRAFT-Reimplementation, ``gaussianMap/gaussian.py``).
  The default here is 0.2: on the embedded receipts, targets decoded by the CRAFT
  post-processing at its default thresholds recover the line boxes best with it (H-mean
  0.995, against 0.857 with 0.4), and the official ``craft_mlt_25k`` model itself scores
  about 0.12 at SROIE box edges for a median peak of 0.78 (ratio 0.15). Values are computed
  exactly at every pixel through the inverse homography instead of resampling a template image.
- **Affinity score.** For adjacent characters, the centres of the upper and lower triangles
  that the box diagonals cut from each character box (Fig. 3) span an affinity box, filled
  with the same warped Gaussian.
- **Confidence map** ``S_c``. ``s_conf(w) = (l(w) - min(l(w), |l(w) - l_c(w)|)) / l(w)`` inside
  each word (1 here, see above), 1 elsewhere, 0 inside don't-care (``###``) boxes and boxes
  narrower or shorter than ``min_text_size`` pixels, which are drawn in neither score map, as
  DB targets mask them. The loss weights every pixel by it.

All maps are at the network output resolution: the crop size divided by ``output_stride``
(2 for CRAFT), with pixel centres aligned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from trainlab.tasks.text_detection.targets.db_targets import fill_polygon

UNIT_SQUARE = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float32)
GAUSSIAN_FLOOR = 0.01  # the warped Gaussian is drawn where it exceeds this
MAX_EXTENT = 2.5  # and at most this far from the box centre, in half box sizes


@dataclass
class CraftTargets:
    """The CRAFT target maps of one image, each ``(H / stride, W / stride)`` float32.

    Attributes:
        region_map: Character region score in ``[0, 1]``.
        affinity_map: Affinity score in ``[0, 1]``.
        confidence_map: Per-pixel loss weight in ``[0, 1]`` (0 = ignored).
    """

    region_map: np.ndarray
    affinity_map: np.ndarray
    confidence_map: np.ndarray


def word_confidence(length: int, estimated_length: int) -> float:
    """The paper's word confidence ``s_conf = (l - min(l, |l - l_c|)) / l`` (Sec. 3.2, Eq. 4).

    Args:
        length: ``l(w)``, the transcription length.
        estimated_length: ``l_c(w)``, the number of characters found.

    Raises:
        ValueError: ``length`` is not positive.
    """
    if length <= 0:
        raise ValueError(f"word length must be positive, got {length}")
    return (length - min(length, abs(length - estimated_length))) / length


def character_count(transcription: str, polygon: np.ndarray) -> int:
    """``l(w)``: characters of the transcription without whitespace, else ``round(length / height)`` (at least 1)."""
    count = len("".join(transcription.split()))
    if count:
        return count
    (_, _), (width, height), _ = cv2.minAreaRect(np.asarray(polygon, dtype=np.float32))
    return max(1, round(max(width, height) / max(min(width, height), 1e-6)))


def _sample_polyline(points: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Points at the given arc-length fractions (0..1) of an open polyline ``(K, 2)``."""
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(steps)])
    if cumulative[-1] <= 0:
        return np.repeat(points[:1], len(fractions), axis=0)
    targets = fractions * cumulative[-1]
    return np.stack([np.interp(targets, cumulative, points[:, 0]), np.interp(targets, cumulative, points[:, 1])], axis=1)


def _long_edges(polygon: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The two polylines along the text direction (``top``, ``bottom``), both running the same way."""
    points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(points) > 4 and len(points) % 2 == 0:
        half = len(points) // 2
        return points[:half], points[half:][::-1]
    if len(points) != 4:
        points = cv2.boxPoints(cv2.minAreaRect(points.astype(np.float32))).astype(np.float64)
    p0, p1, p2, p3 = points
    along_01 = (np.linalg.norm(p1 - p0) + np.linalg.norm(p2 - p3)) / 2
    along_12 = (np.linalg.norm(p2 - p1) + np.linalg.norm(p3 - p0)) / 2
    # Split along whichever pair of edges gives the squarest characters.
    square_01 = abs(math.log(max(along_01 / count, 1e-6) / max(along_12, 1e-6)))
    square_12 = abs(math.log(max(along_12 / count, 1e-6) / max(along_01, 1e-6)))
    if square_01 <= square_12:
        return np.stack([p0, p1]), np.stack([p3, p2])
    return np.stack([p1, p2]), np.stack([p0, p3])


def split_characters(polygon: np.ndarray, count: int) -> np.ndarray:
    """Pseudo character boxes: the word polygon cut into ``count`` equal parts along its length.

    Args:
        polygon: ``(N, 2)`` word polygon in pixels (4 vertices, or ``2k`` for curved text).
        count: Number of characters ``l(w)`` (at least 1).

    Returns:
        ``(count, 4, 2)`` float64 boxes in reading order, each (top-start, top-end,
        bottom-end, bottom-start) of its slice.
    """
    top, bottom = _long_edges(polygon, count)
    fractions = np.linspace(0.0, 1.0, count + 1)
    top_points, bottom_points = _sample_polyline(top, fractions), _sample_polyline(bottom, fractions)
    return np.stack([top_points[:-1], top_points[1:], bottom_points[1:], bottom_points[:-1]], axis=1)


def affinity_boxes(characters: np.ndarray) -> np.ndarray:
    """Affinity boxes between adjacent character boxes (paper Fig. 3).

    Each character box (top-start, top-end, bottom-end, bottom-start) is cut by its diagonals
    into an upper triangle (top edge and centre) and a lower one (bottom edge and centre);
    the affinity box of characters ``i`` and ``i + 1`` joins the upper centre of ``i``, the
    upper centre of ``i + 1``, the lower centre of ``i + 1`` and the lower centre of ``i``.

    Args:
        characters: ``(n, 4, 2)`` character boxes in reading order.

    Returns:
        ``(n - 1, 4, 2)`` float64 boxes (``(0, 4, 2)`` for one character).
    """
    characters = np.asarray(characters, dtype=np.float64)
    centres = characters.mean(axis=1)
    upper = (characters[:, 0] + characters[:, 1] + centres) / 3
    lower = (characters[:, 2] + characters[:, 3] + centres) / 3
    return np.stack([upper[:-1], upper[1:], lower[1:], lower[:-1]], axis=1)


def draw_gaussians(canvas: np.ndarray, boxes: np.ndarray, edge_score: float = 0.2) -> None:
    """Max-composite a perspective-warped isotropic Gaussian into each box, in place.

    The boxes of one word have about the same size, so they are evaluated together on
    windows of one shape (one NumPy pass per word instead of one per character).

    Args:
        canvas: ``(H, W)`` float32 map.
        boxes: ``(n, 4, 2)`` boxes in map pixels (pixel centres at integers), vertices in
            order around each box.
        edge_score: Value at the midpoints of the box edges, in ``(0, 1)``; 1 at the centre.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4, 2)
    boxes = boxes[[abs(cv2.contourArea(b)) >= 1e-3 for b in boxes]]
    if not len(boxes):
        return
    k = -2.0 * math.log(edge_score)
    extent = min(MAX_EXTENT, math.sqrt(-2.0 * math.log(GAUSSIAN_FLOOR) / k))
    forward = np.stack([cv2.getPerspectiveTransform(UNIT_SQUARE, b) for b in boxes]).astype(np.float64)
    corners = np.concatenate([UNIT_SQUARE * extent, np.ones((4, 1))], axis=1)  # (4, 3) homogeneous
    reach = np.einsum("nij,cj->nci", forward, corners)
    keep = reach[:, :, 2] > 0
    if not keep.all():  # a window corner beyond the horizon: fall back to the box itself
        reach = np.concatenate([boxes, np.ones((len(boxes), 4, 1), np.float32)], axis=2).astype(np.float64)
    reach = reach[:, :, :2] / reach[:, :, 2:]
    origin = np.floor(reach.min(axis=1)).astype(int)  # (n, 2) window top-left, x then y
    size = np.ceil(reach.max(axis=1)).astype(int) - origin + 1
    win_w, win_h = int(size[:, 0].max()), int(size[:, 1].max())
    inverse = np.linalg.inv(forward)
    xs = (origin[:, 0, None, None] + np.arange(win_w)[None, None, :]).astype(np.float64)
    ys = (origin[:, 1, None, None] + np.arange(win_h)[None, :, None]).astype(np.float64)
    row = inverse[..., None, None]  # (n, 3, 3, 1, 1): broadcasts over the windows
    w = row[:, 2, 0] * xs + row[:, 2, 1] * ys + row[:, 2, 2]
    u = (row[:, 0, 0] * xs + row[:, 0, 1] * ys + row[:, 0, 2]) / w
    v = (row[:, 1, 0] * xs + row[:, 1, 1] * ys + row[:, 1, 2]) / w
    inside = (w > 0) & (np.abs(u) <= extent) & (np.abs(v) <= extent)
    heat = np.where(inside, np.exp(-0.5 * k * (u * u + v * v)), 0.0).astype(np.float32)
    height, width = canvas.shape
    for window, (x0, y0) in zip(heat, origin):
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x0 + win_w, width), min(y0 + win_h, height)
        if cx0 >= cx1 or cy0 >= cy1:
            continue
        region = canvas[cy0:cy1, cx0:cx1]
        np.maximum(region, window[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0], out=region)


def make_craft_targets(
    polygons: Sequence[np.ndarray],
    dont_care: Sequence[bool],
    transcriptions: Sequence[str],
    height: int,
    width: int,
    *,
    output_stride: int = 2,
    edge_score: float = 0.2,
    min_text_size: float = 3.0,
) -> CraftTargets:
    """Build the CRAFT target maps of one image (see the module docstring).

    Args:
        polygons: Word/line polygons, each ``(N, 2)`` float pixels of the (augmented) image;
            vertices may lie outside it.
        dont_care: One flag per polygon (True: masked out of the loss, not drawn).
        transcriptions: One string per polygon; its length without whitespace is the
            character count.
        height: Image height in pixels.
        width: Image width in pixels.
        output_stride: Map resolution divisor (2: the network's output stride).
        edge_score: Gaussian value at the edge midpoints of each character and affinity box.
        min_text_size: Polygons whose box is narrower or shorter than this (image pixels)
            are masked out instead of learned.

    Returns:
        :class:`CraftTargets`, maps of ``(ceil(height / stride), ceil(width / stride))`` float32.

    Raises:
        ValueError: the three sequences differ in length, or ``edge_score`` is outside ``(0, 1)``.
    """
    if not len(polygons) == len(dont_care) == len(transcriptions):
        raise ValueError(f"{len(polygons)} polygons, {len(dont_care)} don't-care flags and "
                         f"{len(transcriptions)} transcriptions: one of each per region")
    if not 0.0 < edge_score < 1.0:
        raise ValueError(f"edge_score must be in (0, 1), got {edge_score}")
    map_h, map_w = -(-height // output_stride), -(-width // output_stride)
    region = np.zeros((map_h, map_w), dtype=np.float32)
    affinity = np.zeros((map_h, map_w), dtype=np.float32)
    confidence = np.ones((map_h, map_w), dtype=np.float32)
    for polygon, ignore, text in zip(polygons, dont_care, transcriptions):
        polygon = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        scaled = (polygon + 0.5) / output_stride - 0.5
        (_, _), sides, _ = cv2.minAreaRect(polygon.astype(np.float32))
        if ignore or min(sides) < min_text_size:
            fill_polygon(confidence, scaled, 0.0)
            continue
        count = character_count(text, polygon)
        characters = split_characters(scaled, count)
        draw_gaussians(region, characters, edge_score)
        draw_gaussians(affinity, affinity_boxes(characters), edge_score)
        fill_polygon(confidence, scaled, word_confidence(count, count))
    return CraftTargets(region_map=region, affinity_map=affinity, confidence_map=confidence)
