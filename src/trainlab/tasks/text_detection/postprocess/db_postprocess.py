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
   side is below ``min_size + 2`` pixels (map scale), and rescale to original image
   coordinates.

Steps 1-3 do not depend on ``box_thresh`` or ``unclip_ratio``: :func:`db_candidates` computes
them once and :func:`expand_candidates` does step 4 for a config, so a grid of such configs
(:func:`db_postprocess_grid`) decodes each map once. For quads, step 4 is computed in closed
form for all candidates at once: a ``w x h`` rectangle offset outwards by ``D`` with round
joins has the ``(w + 2D) x (h + 2D)`` rectangle of the same centre and angle as its
minimum-area rectangle (its straight edges lie at ``D`` from the rectangle's; rotating the
bounding box by any angle only enlarges it), with ``D' = w h u / (2 (w + h))``.

Coordinates (``coordinate_rounding``):

- ``"subpixel"`` (default): quads keep sub-pixel vertices and are rescaled with pixel
  centres aligned, ``x' = (x + 0.5) W / w - 0.5``, clipped to ``[0, W - 1]``.
- ``"paddle"``: the integer arithmetic of PaddleOCR's ``DBPostProcess`` (PaddleOCR 2.10,
  ``ppocr/postprocess/db_postprocess.py``, ``box_type="quad"``), whose boxes this mode
  reproduces exactly (with ``min_size=3``, PaddleOCR's fixed value): contours in
  ``cv2.findContours`` order, the score mask drawn from vertices truncated to integers,
  the unclip done by pyclipper on integer-truncated vertices, vertices ordered as its
  ``get_mini_boxes`` does, and the output ``round(x / w * W)`` clipped to ``[0, W]``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import types
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyclipper
import shapely

from trainlab.tasks.text_detection.geometry import offset_polygon, unclip_distance
from trainlab.tasks.text_detection.types import TextRegion

COORDINATE_ROUNDINGS = ("subpixel", "paddle")
"""Values of :attr:`DBPostprocessConfig.coordinate_rounding`."""

GRID_KEYS = ("box_thresh", "unclip_ratio")
"""Config fields that :func:`db_candidates` does not depend on (a grid over them shares candidates)."""


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
        coordinate_rounding: ``"subpixel"`` (float vertices, pixel centres aligned) or
            ``"paddle"`` (PaddleOCR ``DBPostProcess``'s integer boxes, identical to them;
            quads only). See the module docstring.

    Raises:
        ValueError: unknown ``score_mode`` or ``coordinate_rounding``, or
            ``coordinate_rounding="paddle"`` with ``use_polygon``.
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
    coordinate_rounding: str = "subpixel"

    def __post_init__(self) -> None:
        if self.score_mode not in {"fast", "polygon"}:
            raise ValueError(f"score_mode must be 'fast' or 'polygon', got {self.score_mode!r}")
        if self.coordinate_rounding not in COORDINATE_ROUNDINGS:
            raise ValueError(f"coordinate_rounding must be one of {', '.join(map(repr, COORDINATE_ROUNDINGS))}, "
                             f"got {self.coordinate_rounding!r}")
        if self.coordinate_rounding == "paddle" and self.use_polygon:
            raise ValueError("coordinate_rounding='paddle' reproduces PaddleOCR's quads; it cannot be used with use_polygon")

    def to_dict(self) -> dict:
        return asdict(self)

    def candidate_key(self) -> tuple:
        """The fields that :func:`db_candidates` depends on (all but :data:`GRID_KEYS`), as a hashable tuple."""
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in GRID_KEYS)


@dataclass(frozen=True)
class DBCandidates:
    """Scored candidate regions of one probability map (steps 1-3 of the module docstring).

    Attributes:
        map_size: ``(h, w)`` of the probability map, in pixels.
        scores: ``(K,)`` float64 mean probabilities, in candidate order.
        rects: ``(K, 5)`` float64 minimum-area rectangles ``(cx, cy, w, h, angle in degrees)``
            of the candidates, map pixels, as ``cv2.minAreaRect`` gives them (quads).
        boxes: ``(K, 4, 2)`` float32 vertices of those rectangles (``cv2.boxPoints``; in
            PaddleOCR's vertex order in ``"paddle"`` mode), map pixels (quads).
        polygons: ``K`` float64 ``(N, 2)`` simplified contours (``use_polygon``), else empty.
    """

    map_size: tuple[int, int]
    scores: np.ndarray
    rects: np.ndarray
    boxes: np.ndarray
    polygons: tuple[np.ndarray, ...] = ()


def order_quads(points: np.ndarray) -> np.ndarray:
    """Order the 4 vertices of each quad clockwise (image coordinates, y down) from the top-left.

    The top-left vertex is the one with the smallest ``x + y``; ICDAR 2015 submissions must
    be clockwise.

    Args:
        points: ``(K, 4, 2)`` vertices in pixels.

    Returns:
        ``(K, 4, 2)`` float64 vertices.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 4, 2)
    offset = pts - pts.mean(axis=1, keepdims=True)
    by_angle = np.argsort(np.arctan2(offset[..., 1], offset[..., 0]), axis=1)  # increasing = clockwise on screen
    pts = np.take_along_axis(pts, by_angle[..., None], axis=1)
    start = np.argmin(pts.sum(axis=2), axis=1)
    return np.take_along_axis(pts, ((np.arange(4) + start[:, None]) % 4)[..., None], axis=1)


def order_quad(points: np.ndarray) -> np.ndarray:
    """Order 4 vertices clockwise (in image coordinates, y down) starting from the top-left.

    See :func:`order_quads`.

    Args:
        points: ``(4, 2)`` vertices in pixels.

    Returns:
        ``(4, 2)`` float64 vertices.
    """
    return order_quads(np.asarray(points).reshape(1, 4, 2))[0]


def _paddle_order(boxes: np.ndarray) -> np.ndarray:
    """PaddleOCR's ``get_mini_boxes`` vertex order of ``(K, 4, 2)`` rectangles: sort the
    vertices by x (stable), then top-left, top-right, bottom-right, bottom-left by y."""
    by_x = np.take_along_axis(boxes, np.argsort(boxes[..., 0], axis=1, kind="stable")[..., None], axis=1)
    left_down = by_x[:, 1, 1] > by_x[:, 0, 1]
    right_down = by_x[:, 3, 1] > by_x[:, 2, 1]
    order = np.stack([np.where(left_down, 0, 1), np.where(right_down, 2, 3),
                      np.where(right_down, 3, 2), np.where(left_down, 1, 0)], axis=1)
    return np.take_along_axis(by_x, order[..., None], axis=1)


def _box_points(rects: np.ndarray) -> np.ndarray:
    """``(K, 4, 2)`` float64 corners of ``(K, 5)`` rotated rectangles, in ``cv2.boxPoints`` order."""
    centre, (width, height), angle = rects[:, :2], rects[:, 2:4].T, np.radians(rects[:, 4])
    b, a = np.cos(angle) * 0.5, np.sin(angle) * 0.5
    p0 = np.stack([-a * height - b * width, b * height - a * width], axis=1)
    p1 = np.stack([a * height - b * width, -b * height - a * width], axis=1)
    return centre[:, None, :] + np.stack([p0, p1, -p0, -p1], axis=1)


def _mean_scores(prob_map: np.ndarray, polygons: Sequence[np.ndarray], truncate: bool) -> np.ndarray:
    """Mean of ``prob_map`` over each polygon, drawn with ``cv2.fillPoly`` on its bounding box.

    Args:
        prob_map: ``(h, w)`` float32 map.
        polygons: ``(N, 2)`` float vertices in map pixels, one array per polygon, or one
            ``(K, N, 2)`` array.
        truncate: Vertices relative to the box's corner are truncated towards zero
            (PaddleOCR's ``astype("int32")``) instead of rounded.

    Returns:
        ``(K,)`` float64 means (0 for a polygon covering no pixel).
    """
    height, width = prob_map.shape
    scores = np.zeros(len(polygons))
    if not len(polygons):
        return scores
    if isinstance(polygons, np.ndarray):  # (K, N, 2): all polygons at once
        lows, highs = polygons.min(axis=1), polygons.max(axis=1)
    else:
        lows, highs = np.array([p.min(axis=0) for p in polygons]), np.array([p.max(axis=0) for p in polygons])
    limit = np.array([width - 1, height - 1])
    corner = np.clip(np.floor(lows), 0, limit).astype(np.int64)
    far = np.clip(np.ceil(highs), 0, limit).astype(np.int64)
    for k, ((x0, y0), (x1, y1)) in enumerate(zip(corner.tolist(), far.tolist())):
        local = polygons[k] - corner[k]
        local = (np.trunc(local) if truncate else np.round(local)).astype(np.int32)
        mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
        cv2.fillPoly(mask, [local], 1)
        scores[k] = cv2.mean(prob_map[y0 : y1 + 1, x0 : x1 + 1], mask)[0]
    return scores


def _check_map(prob_map: np.ndarray) -> np.ndarray:
    if prob_map.ndim != 2:
        raise ValueError(f"prob_map must be (h, w), got shape {prob_map.shape}")
    return np.ascontiguousarray(prob_map, dtype=np.float32)


def db_candidates(prob_map: np.ndarray, config: DBPostprocessConfig | None = None) -> DBCandidates:
    """Steps 1-3 of the module docstring: contours of the binarised map and their scores.

    Every candidate that passes the first size check (``min_size``) is kept and scored,
    whatever its score; :func:`expand_candidates` applies ``box_thresh``.

    Args:
        prob_map: ``(h, w)`` float32 probability map in ``[0, 1]``.
        config: Post-processing parameters (defaults if ``None``); ``box_thresh`` and
            ``unclip_ratio`` are not used.

    Returns:
        The :class:`DBCandidates`, in descending contour-area order (``"subpixel"``) or in
        ``cv2.findContours`` order (``"paddle"``, as PaddleOCR).

    Raises:
        ValueError: ``prob_map`` is not 2-D.
    """
    config = config or DBPostprocessConfig()
    prob_map = _check_map(prob_map)
    paddle = config.coordinate_rounding == "paddle"
    bitmap = np.greater(prob_map, config.thresh).view(np.uint8)
    if config.dilation:
        bitmap = cv2.dilate(bitmap, np.ones((2, 2), dtype=np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    if paddle:
        contours = contours[: config.max_candidates]
    else:
        contours = sorted(contours, key=cv2.contourArea, reverse=True)[: config.max_candidates]
        contours = [contour for contour in contours if len(contour) >= 2]
    empty = DBCandidates(prob_map.shape, np.zeros(0), np.zeros((0, 5)), np.zeros((0, 4, 2), np.float32))
    if not contours:
        return empty
    if config.use_polygon:
        return _polygon_candidates(prob_map, contours, config)
    rects = np.array([(cx, cy, w, h, angle) for (cx, cy), (w, h), angle in map(cv2.minAreaRect, contours)])
    keep = np.flatnonzero(rects[:, 2:4].min(axis=1) >= config.min_size)
    if not len(keep):
        return empty
    rects = rects[keep]
    boxes = np.array([cv2.boxPoints(((cx, cy), (w, h), angle)) for cx, cy, w, h, angle in rects.tolist()])
    if paddle:
        boxes = _paddle_order(boxes)
    if config.score_mode == "polygon":
        regions = [contours[k].reshape(-1, 2).astype(np.float64) if len(contours[k]) >= 3 else boxes[i]
                   for i, k in enumerate(keep.tolist())]
        scores = _mean_scores(prob_map, regions, truncate=paddle)
    else:
        scores = _mean_scores(prob_map, boxes, truncate=paddle)
    return DBCandidates(prob_map.shape, scores, rects, boxes)


def _polygon_candidates(prob_map: np.ndarray, contours: Sequence[np.ndarray], config: DBPostprocessConfig) -> DBCandidates:
    """Candidates of ``use_polygon``: simplified contours (a quad when fewer than 4 vertices remain)."""
    polygons = []
    for contour in contours:
        approx = cv2.approxPolyDP(contour, config.polygon_epsilon * cv2.arcLength(contour, True), True)
        candidate = approx.reshape(-1, 2).astype(np.float64)
        polygons.append(candidate if len(candidate) >= 4 else cv2.boxPoints(cv2.minAreaRect(contour)).astype(np.float64))
    if config.score_mode == "polygon":
        regions = [c.reshape(-1, 2).astype(np.float64) if len(c) >= 3 else p for c, p in zip(contours, polygons)]
    else:
        regions = polygons
    scores = _mean_scores(prob_map, regions, truncate=False)
    return DBCandidates(prob_map.shape, scores, np.zeros((0, 5)), np.zeros((0, 4, 2), np.float32), tuple(polygons))


def _rescale(points: np.ndarray, map_size: tuple[int, int], original_size: tuple[int, int]) -> np.ndarray:
    """Map-pixel vertices ``(..., 2)`` to original pixels, pixel centres aligned (as ``cv2.resize``), clipped."""
    (map_h, map_w), (orig_h, orig_w) = map_size, original_size
    points = (points + 0.5) * np.array([orig_w / map_w, orig_h / map_h]) - 0.5
    return np.clip(points, 0, np.array([orig_w - 1, orig_h - 1]))


def _expand_quads(candidates: DBCandidates, chosen: np.ndarray, original_size: tuple[int, int],
                  config: DBPostprocessConfig) -> list[TextRegion]:
    """Closed-form unclip of the chosen rectangles (module docstring), sub-pixel coordinates."""
    rects = candidates.rects[chosen].copy()
    width, height = rects[:, 2], rects[:, 3]
    perimeter = 2.0 * (width + height)
    distance = np.divide(width * height * config.unclip_ratio, perimeter, out=np.zeros_like(width), where=perimeter > 0)
    rects[:, 2:4] += 2.0 * distance[:, None]
    large = rects[:, 2:4].min(axis=1) >= config.min_size + 2
    quads = _rescale(order_quads(_box_points(rects[large])), candidates.map_size, original_size)
    scores = candidates.scores[chosen][large].tolist()
    return [TextRegion(points=points, score=score) for points, score in zip(quads, scores)]


def _expand_quads_paddle(candidates: DBCandidates, chosen: np.ndarray, original_size: tuple[int, int],
                         config: DBPostprocessConfig) -> list[TextRegion]:
    """PaddleOCR's unclip and rescaling of the chosen boxes, integer for integer (module docstring)."""
    boxes = candidates.boxes[chosen]
    shapes = shapely.polygons(boxes.astype(np.float64))
    distances = (shapely.area(shapes) * config.unclip_ratio / shapely.length(shapes)).tolist()
    kept, rects = [], []
    for k, (box, distance) in enumerate(zip(boxes, distances)):
        offset = pyclipper.PyclipperOffset()
        offset.AddPath(box, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
        expanded = offset.Execute(distance)
        if len(expanded) != 1:
            continue
        rect = cv2.minAreaRect(np.array(expanded).reshape(-1, 1, 2))
        if min(rect[1]) < config.min_size + 2:
            continue
        kept.append(k)
        rects.append(cv2.boxPoints(rect))
    if not kept:
        return []
    quads = _paddle_order(np.array(rects))
    (map_h, map_w), (orig_h, orig_w) = candidates.map_size, original_size
    # float32 division by the map size, then float64 product with PaddleOCR's float64 shape_list entry.
    x = np.clip(np.round((quads[..., 0] / np.float32(map_w)).astype(np.float64) * float(orig_w)), 0, orig_w)
    y = np.clip(np.round((quads[..., 1] / np.float32(map_h)).astype(np.float64) * float(orig_h)), 0, orig_h)
    points = np.stack([x, y], axis=-1)
    scores = candidates.scores[chosen][kept].tolist()
    return [TextRegion(points=p, score=s) for p, s in zip(points, scores)]


def _expand_polygons(candidates: DBCandidates, chosen: np.ndarray, original_size: tuple[int, int],
                     config: DBPostprocessConfig) -> list[TextRegion]:
    """Unclip of simplified contours (``use_polygon``) with pyclipper, one at a time."""
    regions = []
    for k in chosen.tolist():
        candidate = candidates.polygons[k]
        expanded = offset_polygon(candidate, unclip_distance(candidate, config.unclip_ratio))
        if len(expanded) != 1:
            continue
        if min(cv2.minAreaRect(expanded[0].astype(np.float32))[1]) < config.min_size + 2:
            continue
        points = _rescale(expanded[0], candidates.map_size, original_size)
        regions.append(TextRegion(points=points, score=float(candidates.scores[k])))
    return regions


def expand_candidates(candidates: DBCandidates, original_size: tuple[int, int],
                      config: DBPostprocessConfig | None = None) -> list[TextRegion]:
    """Step 4 of the module docstring: keep candidates scoring at least ``box_thresh``, unclip
    them, drop those whose short side is below ``min_size + 2`` and rescale.

    Args:
        candidates: From :func:`db_candidates` with a config of the same
            :meth:`~DBPostprocessConfig.candidate_key`.
        original_size: ``(height, width)`` of the original image in pixels.
        config: Post-processing parameters (defaults if ``None``).

    Returns:
        Regions as :func:`db_postprocess` returns them.
    """
    config = config or DBPostprocessConfig()
    chosen = np.flatnonzero(candidates.scores >= config.box_thresh)
    if config.use_polygon:
        return _expand_polygons(candidates, chosen, original_size, config)
    if not len(chosen):
        return []
    if config.coordinate_rounding == "paddle":
        return _expand_quads_paddle(candidates, chosen, original_size, config)
    return _expand_quads(candidates, chosen, original_size, config)


def db_postprocess(
    prob_map: np.ndarray,
    original_size: tuple[int, int],
    config: DBPostprocessConfig | None = None,
) -> list[TextRegion]:
    """Turn one probability map into text regions in original image coordinates.

    Source: DBNet (Liao et al., AAAI 2020, Sec. 3.5), steps in the module docstring.

    Args:
        prob_map: ``(h, w)`` float32 probability map in ``[0, 1]`` (the network input size).
        original_size: ``(height, width)`` of the original image in pixels; coordinates
            are scaled by ``width / w`` and ``height / h`` (pixel centres aligned, as
            ``cv2.resize`` maps them, unless ``coordinate_rounding="paddle"``) and clipped
            to the image.
        config: Post-processing parameters (defaults if ``None``).

    Returns:
        Regions with ``points`` ``(4, 2)`` (clockwise from top-left; PaddleOCR's order and
        integer values with ``coordinate_rounding="paddle"``) or ``(N, 2)`` polygons, float64
        pixels, and ``score`` set; in descending contour-area order (``cv2.findContours``
        order with ``"paddle"``).

    Raises:
        ValueError: ``prob_map`` is not 2-D.
    """
    config = config or DBPostprocessConfig()
    return expand_candidates(db_candidates(prob_map, config), original_size, config)


def db_postprocess_grid(
    prob_map: np.ndarray,
    original_size: tuple[int, int],
    configs: Sequence[DBPostprocessConfig],
) -> list[list[TextRegion]]:
    """:func:`db_postprocess` of one map under several configs, sharing the contours and
    scores of configs that differ only in :data:`GRID_KEYS` (``box_thresh``, ``unclip_ratio``).

    Args:
        prob_map: ``(h, w)`` float32 probability map in ``[0, 1]``.
        original_size: ``(height, width)`` of the original image in pixels.
        configs: The configs.

    Returns:
        ``[db_postprocess(prob_map, original_size, c) for c in configs]``, identical.

    Raises:
        ValueError: ``prob_map`` is not 2-D.
    """
    prob_map = _check_map(prob_map)
    shared: dict[tuple, DBCandidates] = {}
    results = []
    for config in configs:
        key = config.candidate_key()
        if key not in shared:
            shared[key] = db_candidates(prob_map, config)
        results.append(expand_candidates(shared[key], original_size, config))
    return results


PADDLE_INSTALL_HINT = "pip install paddleocr==2.10.0 --no-deps"


def paddle_reference_postprocess(**options: Any) -> Any:
    """PaddleOCR's own ``DBPostProcess`` (``ppocr/postprocess/db_postprocess.py``), imported from
    the installed ``paddleocr`` wheel, to compare ``coordinate_rounding="paddle"`` with.

    The class only needs NumPy, OpenCV, shapely and pyclipper; when PaddlePaddle itself is
    not installed, a stand-in ``paddle`` module (with only ``paddle.Tensor``) is placed in
    ``sys.modules`` while the file is imported, and removed afterwards.

    Args:
        **options: Keyword arguments of ``DBPostProcess`` (``thresh``, ``box_thresh``,
            ``unclip_ratio``, ``use_dilation``, ``score_mode``, ...). It is called as
            ``post({"maps": prob_map[None, None]}, np.array([[H, W, h / H, w / W]]))`` and
            returns ``[{"points": (K, 4, 2) int32 array}]`` in original pixels.

    Raises:
        ModuleNotFoundError: ``paddleocr`` is not installed (the message gives the install
            command).
    """
    spec = importlib.util.find_spec("paddleocr")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the PaddleOCR reference needs the paddleocr wheel: {PADDLE_INSTALL_HINT}")
    path = Path(spec.submodule_search_locations[0]) / "ppocr" / "postprocess" / "db_postprocess.py"
    name = "_paddleocr_db_postprocess"
    module = sys.modules.get(name)
    if module is None:
        stand_in = None
        if importlib.util.find_spec("paddle") is None:
            stand_in = types.ModuleType("paddle")
            stand_in.Tensor = type("Tensor", (), {})
            sys.modules["paddle"] = stand_in
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = sys.modules[name] = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        finally:
            if stand_in is not None and sys.modules.get("paddle") is stand_in:
                del sys.modules["paddle"]
    return module.DBPostProcess(**options)
