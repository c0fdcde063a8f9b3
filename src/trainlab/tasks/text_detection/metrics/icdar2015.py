"""The ICDAR 2015 text-localisation evaluation protocol (IoU, one-to-one matching).

Source: ICDAR 2015 Robust Reading Competition, Challenge 4 "Incidental Scene Text",
Task 4.1 "Text Localization" (D. Karatzas et al., "ICDAR 2015 competition on Robust
Reading", ICDAR 2015), as implemented by the RRC official evaluation script
(``script.py`` of the Task 4.1 standalone kit, default parameters
``IOU_CONSTRAINT = 0.5`` and ``AREA_PRECISION_CONSTRAINT = 0.5``).

The protocol, per image:

1. Ground-truth regions marked don't-care (transcription ``###``) are set aside.
2. A detection is *ignored* when, for at least one don't-care ground-truth polygon ``G``,
   ``area(D ∩ G) / area(D)`` is strictly greater than ``dont_care_area_threshold``
   (0.5). A detection of zero area is never ignored (the script takes that ratio as 0).
3. Greedy one-to-one matching: for each ground-truth region in file order, the first
   detection in file order that is still unmatched, not ignored, and whose IoU with it
   is strictly greater than ``iou_threshold`` (0.5) is matched to it. Don't-care
   ground truth never matches. IoU is ``area(D ∩ G) / (area(D) + area(G) - area(D ∩ G))``,
   and 0 when that union is 0.
4. ``num_gt_care = #gt - #don't-care gt`` and ``num_det_care = #det - #ignored det``.
   If ``num_gt_care == 0``: recall is 1 and precision is 0 when ``num_det_care > 0``,
   else 1. Otherwise recall is ``matched / num_gt_care`` and precision is
   ``matched / num_det_care`` (0 when ``num_det_care == 0``). Hmean is their harmonic
   mean, 0 when both are 0.

The dataset result is *not* the mean of the per-image values: precision is
``Σ matched / Σ num_det_care`` and recall ``Σ matched / Σ num_gt_care`` (each 0 when its
denominator is 0), and hmean is their harmonic mean.

Where this implementation departs from the official script (none of these changes a
score on a file set the official script accepts):

- Coordinates are used as given, in float64 pixels. The official script only accepts
  integer coordinates (it casts them to ``int``), so integer files score identically.
- Polygons may have any number ``N >= 3`` of vertices and either orientation. The
  official script requires clockwise quadrilaterals (4 vertices) and rejects others.
- A self-intersecting (invalid) polygon is repaired with :func:`shapely.make_valid`,
  keeping only its polygonal parts (a "bow-tie" becomes its two triangles, a polygon
  whose vertices are collinear becomes empty, area 0). The official script hands such a
  polygon to the ``Polygon`` (GPC) library, whose results for them are not well defined.
- The optional confidence-based average precision (``CONFIDENCES``) is not computed.

Speed: images are evaluated in one batch (:func:`evaluate_images`; :func:`evaluate_image`
and :func:`evaluate_dataset` use it). Polygons are built with shapely 2 array functions,
and only pairs of the same image whose bounding boxes overlap with positive area are
considered (every other pair has intersection area exactly 0). Of those, bounds from the
bounding boxes decide most pairs without an intersection, two integer axis-aligned
rectangles intersect in exactly their boxes' overlap, and a polygon meets an axis-aligned
rectangle by GEOS's rectangle clipping; the remaining pairs use the general intersection
(details in ``_pair_decisions``). Every decision, hence every result, is identical to the
exhaustive computation (:func:`intersection_area_matrix` with ``prefilter=False``).
:func:`evaluate_score_thresholds` evaluates nested subsets of detections (score at least
each threshold) with one pass over the geometry.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import shapely

from trainlab.engine.io import atomic_write_text
from trainlab.tasks.text_detection.types import TextRegion

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "DONT_CARE_AREA_THRESHOLD",
    "IOU_THRESHOLD",
    "PER_IMAGE_COLUMNS",
    "DatasetResult",
    "Icdar2015Accumulator",
    "ImageResult",
    "evaluate_dataset",
    "evaluate_image",
    "evaluate_images",
    "evaluate_score_thresholds",
    "intersection_area_matrix",
    "iou_matrix",
    "polygons_from_points",
]

IOU_THRESHOLD = 0.5
"""Official ``IOU_CONSTRAINT``: a match needs IoU strictly greater than this."""

DONT_CARE_AREA_THRESHOLD = 0.5
"""Official ``AREA_PRECISION_CONSTRAINT``: a detection is ignored when strictly more than
this fraction of its area lies inside one don't-care ground-truth polygon."""

PER_IMAGE_COLUMNS = ("name", "num_gt_care", "num_det_care", "matched", "precision", "recall", "hmean")
"""Columns of the per-image table (:meth:`DatasetResult.per_image_rows`)."""

Region = Union[TextRegion, np.ndarray, Sequence[Sequence[float]]]
"""A region: a :class:`TextRegion`, or a bare ``(N, 2)`` array of vertices in pixels."""


# --------------------------------------------------------------------------- geometry


def _points_of(region: Region, index: int, what: str) -> np.ndarray:
    points = region.points if isinstance(region, TextRegion) else region
    try:
        points = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {index}: vertices are not numeric") from None
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 3:
        raise ValueError(f"{what} {index}: expected an (N, 2) array of vertices with N >= 3, got shape {points.shape}")
    return points


def _check_finite(arrays: list[np.ndarray], what: str) -> None:
    if not np.isfinite(np.concatenate(arrays)).all():
        index = next(i for i, a in enumerate(arrays) if not np.isfinite(a).all())
        raise ValueError(f"{what} {index}: vertices must be finite numbers")


def _polygonal_part(geometry: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a ``make_valid`` result: a (Multi)Polygon, possibly empty."""
    kind = shapely.get_type_id(geometry)
    if kind in (3, 6):  # Polygon, MultiPolygon
        return geometry
    polygons = []
    if kind == 7:  # GeometryCollection
        for part in shapely.get_parts(geometry):
            part_kind = shapely.get_type_id(part)
            if part_kind == 3:
                polygons.append(part)
            elif part_kind == 6:
                polygons.extend(shapely.get_parts(part))
    if not polygons:
        return shapely.Polygon()
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def _vertex_arrays(points: Sequence[Region] | np.ndarray, what: str, check_finite: bool = True,
                   ) -> np.ndarray | list[np.ndarray]:
    """The regions' vertices as one ``(K, N, 2)`` float64 array when all have ``N`` vertices,
    else a list of ``(N_k, 2)`` arrays; checked as :func:`polygons_from_points` documents
    (a ``(K, N, 2)`` array's finiteness only with ``check_finite``)."""
    if isinstance(points, np.ndarray) and points.dtype != object and points.ndim == 3:
        if points.shape[2] != 2 or points.shape[1] < 3:
            raise ValueError(f"{what} 0: expected an (N, 2) array of vertices with N >= 3, got shape {points.shape[1:]}")
        stacked = np.asarray(points, dtype=np.float64)
        if check_finite and not np.isfinite(stacked).all():
            index = int(np.flatnonzero(~np.isfinite(stacked).all(axis=(1, 2)))[0])
            raise ValueError(f"{what} {index}: vertices must be finite numbers")
        return stacked
    arrays = [_points_of(region, index, what) for index, region in enumerate(points)]
    if not arrays:
        return np.empty((0, 4, 2))
    _check_finite(arrays, what)
    first = len(arrays[0])
    return np.stack(arrays) if all(len(a) == first for a in arrays) else arrays


def _build_polygons(arrays: np.ndarray | list[np.ndarray], valid: np.ndarray | None = None) -> np.ndarray:
    """Shapely polygons of checked vertex arrays (see :func:`_vertex_arrays`), invalid ones
    repaired; ``valid`` marks polygons known to be valid (not checked again)."""
    if not len(arrays):
        return np.empty(0, dtype=object)
    if isinstance(arrays, np.ndarray):
        polygons = shapely.polygons(np.concatenate([arrays, arrays[:, :1]], axis=1))
    else:
        counts = np.fromiter((len(a) for a in arrays), dtype=np.intp, count=len(arrays))
        closed = np.concatenate([np.concatenate([a, a[:1]]) for a in arrays])
        rings = shapely.linearrings(closed, indices=np.repeat(np.arange(len(arrays)), counts + 1))
        polygons = shapely.polygons(rings)
    unknown = np.arange(len(polygons)) if valid is None else np.flatnonzero(~valid)
    invalid = unknown[~shapely.is_valid(polygons[unknown])]
    for index in invalid:
        polygons[index] = _polygonal_part(shapely.make_valid(polygons[index]))
    return polygons


def polygons_from_points(points: Sequence[Region] | np.ndarray, what: str = "polygon") -> np.ndarray:
    """Build shapely polygons from vertex arrays, repairing invalid ones.

    Args:
        points: ``K`` regions, each a :class:`TextRegion` or an ``(N, 2)`` array-like of
            vertices ``(x, y)`` in pixels, ``N >= 3``, in either orientation; or one
            ``(K, N, 2)`` float array. The ring is closed implicitly (a repeated first
            vertex at the end is harmless).
        what: Name used in error messages (``"detection"``, ``"ground truth"``).

    Returns:
        ``(K,)`` object array of shapely geometries. Valid polygons are returned as
        built; an invalid one (self-intersecting, zero area) is replaced by the
        polygonal part of :func:`shapely.make_valid` (a Polygon or MultiPolygon), or by
        an empty Polygon (area 0) when it has none.

    Raises:
        ValueError: a region is not an ``(N, 2)`` array with ``N >= 3`` finite vertices
            (the message gives its index).
    """
    return _build_polygons(_vertex_arrays(points, what))


def _rectangles(arrays: np.ndarray | list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(K,)`` bool pair ``(rectangle, integer)``: the polygon is an axis-aligned rectangle of
    positive size, and moreover has integer coordinates below 2**24 in magnitude (so that its
    area and overlaps are exact in float64)."""
    if not isinstance(arrays, np.ndarray) or arrays.shape[1] != 4:
        none = np.zeros(len(arrays), dtype=bool)
        return none, none
    x, y = arrays[..., 0], arrays[..., 1]
    same_x, same_y = x == np.roll(x, -1, axis=1), y == np.roll(y, -1, axis=1)
    # Edges alternate horizontal and vertical, starting with either.
    alternate = ((same_y[:, 0::2].all(axis=1) & same_x[:, 1::2].all(axis=1))
                 | (same_x[:, 0::2].all(axis=1) & same_y[:, 1::2].all(axis=1)))
    rectangle = alternate & (np.ptp(x, axis=1) > 0) & (np.ptp(y, axis=1) > 0)
    integer = (arrays == np.round(arrays)).all(axis=(1, 2)) & (np.abs(arrays) < 2.0**24).all(axis=(1, 2))
    return rectangle, rectangle & integer


def intersection_area_matrix(a: np.ndarray, b: np.ndarray, prefilter: bool = True) -> np.ndarray:
    """Areas of intersection of every polygon of ``a`` with every polygon of ``b``.

    Args:
        a: ``(A,)`` object array of shapely polygons (see :func:`polygons_from_points`).
        b: ``(B,)`` object array of shapely polygons.
        prefilter: Compute exact intersections only for pairs whose bounding boxes
            overlap with positive area (all other pairs have intersection area exactly 0,
            so the result is identical). ``False`` computes every pair (reference).

    Returns:
        ``(A, B)`` float64 array of intersection areas in square pixels.
    """
    a = np.asarray(a, dtype=object)
    b = np.asarray(b, dtype=object)
    areas = np.zeros((len(a), len(b)), dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return areas
    if prefilter:
        box_a = shapely.bounds(a)  # (A, 4): xmin, ymin, xmax, ymax; NaN for empty
        box_b = shapely.bounds(b)
        with np.errstate(invalid="ignore"):
            overlap = (
                (box_a[:, None, 0] < box_b[None, :, 2])
                & (box_b[None, :, 0] < box_a[:, None, 2])
                & (box_a[:, None, 1] < box_b[None, :, 3])
                & (box_b[None, :, 1] < box_a[:, None, 3])
            )
        rows, cols = np.nonzero(overlap)
    else:
        rows, cols = np.divmod(np.arange(len(a) * len(b)), len(b))
    if len(rows):
        areas[rows, cols] = shapely.area(shapely.intersection(a[rows], b[cols]))
    return areas


def _iou_from(intersection: np.ndarray, area_gt: np.ndarray, area_det: np.ndarray) -> np.ndarray:
    union = area_gt[:, None] + area_det[None, :] - intersection
    iou = np.zeros_like(intersection)
    np.divide(intersection, union, out=iou, where=union > 0)
    return iou


def iou_matrix(gt: Sequence[Region], det: Sequence[Region]) -> np.ndarray:
    """Intersection over union of every ground-truth polygon with every detection.

    IoU is ``area(D ∩ G) / (area(D) + area(G) - area(D ∩ G))`` as in the RRC official
    script for ICDAR 2015 Task 4.1, and 0 where that union is 0.

    Args:
        gt: ``G`` regions (:class:`TextRegion` or ``(N, 2)`` vertex arrays, pixels).
        det: ``D`` regions, likewise.

    Returns:
        ``(G, D)`` float64 array with values in ``[0, 1]``.

    Raises:
        ValueError: a region is not an ``(N, 2)`` array with ``N >= 3`` finite vertices.
    """
    gt_polygons = polygons_from_points(gt, "ground truth")
    det_polygons = polygons_from_points(det, "detection")
    intersection = intersection_area_matrix(gt_polygons, det_polygons)
    return _iou_from(intersection, shapely.area(gt_polygons), shapely.area(det_polygons))


# --------------------------------------------------------------------------- results


def _hmean(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2.0 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class ImageResult:
    """The ICDAR 2015 Task 4.1 evaluation of one image.

    Attributes:
        name: Image name (e.g. ``"img_1"``); empty when not given.
        num_gt: Ground-truth regions, don't-care included.
        num_det: Detections, ignored ones included.
        num_gt_care: ``num_gt`` minus don't-care ground truth.
        num_det_care: ``num_det`` minus ignored detections.
        matched: Matched (ground truth, detection) pairs, ``<= min(num_gt_care, num_det_care)``.
        precision: Per-image precision in ``[0, 1]`` (rules in the module docstring).
        recall: Per-image recall in ``[0, 1]``.
        hmean: Harmonic mean of precision and recall, 0 when both are 0.
        pairs: ``(gt_index, det_index)`` of each match, 0-based input positions, in
            matching order (ground-truth order).
        dont_care_gt: Indices of the don't-care ground-truth regions.
        ignored_det: Indices of the detections ignored because they lie mostly inside a
            don't-care region.
    """

    name: str
    num_gt: int
    num_det: int
    num_gt_care: int
    num_det_care: int
    matched: int
    precision: float
    recall: float
    hmean: float
    pairs: tuple[tuple[int, int], ...] = ()
    dont_care_gt: tuple[int, ...] = ()
    ignored_det: tuple[int, ...] = ()

    def to_row(self) -> dict[str, Any]:
        """This image as a row of the per-image table, keys :data:`PER_IMAGE_COLUMNS`."""
        return {column: getattr(self, column) for column in PER_IMAGE_COLUMNS}


@dataclass(frozen=True)
class DatasetResult:
    """The ICDAR 2015 Task 4.1 evaluation of a set of images.

    The totals are pooled over images (the official method-level figures), not averaged:
    ``precision = matched / num_det_care`` and ``recall = matched / num_gt_care``, each 0
    when its denominator is 0.

    Attributes:
        precision: Dataset precision in ``[0, 1]``.
        recall: Dataset recall in ``[0, 1]``.
        hmean: Harmonic mean of the two, 0 when both are 0.
        matched: Total matched pairs.
        num_gt_care: Total ground-truth regions that are not don't-care.
        num_det_care: Total detections that are not ignored.
        images: Per-image results, in evaluation order.
    """

    precision: float
    recall: float
    hmean: float
    matched: int
    num_gt_care: int
    num_det_care: int
    images: tuple[ImageResult, ...] = field(default=(), repr=False)

    @classmethod
    def from_images(cls, images: Iterable[ImageResult]) -> DatasetResult:
        """Pool per-image results into the dataset figures.

        Also the way to merge results computed in several processes: gather the
        :class:`ImageResult` records and pool them once.
        """
        images = tuple(images)
        matched = sum(image.matched for image in images)
        num_gt_care = sum(image.num_gt_care for image in images)
        num_det_care = sum(image.num_det_care for image in images)
        recall = 0.0 if num_gt_care == 0 else matched / num_gt_care
        precision = 0.0 if num_det_care == 0 else matched / num_det_care
        return cls(
            precision=precision,
            recall=recall,
            hmean=_hmean(precision, recall),
            matched=matched,
            num_gt_care=num_gt_care,
            num_det_care=num_det_care,
            images=images,
        )

    @property
    def num_images(self) -> int:
        """Number of images evaluated."""
        return len(self.images)

    def summary(self) -> dict[str, float | int]:
        """The dataset figures as a JSON-ready dict: precision, recall, hmean, matched,
        num_gt_care, num_det_care, num_images."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "hmean": self.hmean,
            "matched": self.matched,
            "num_gt_care": self.num_gt_care,
            "num_det_care": self.num_det_care,
            "num_images": self.num_images,
        }

    def per_image_rows(self) -> list[dict[str, Any]]:
        """One dict per image with keys :data:`PER_IMAGE_COLUMNS`, in evaluation order."""
        return [image.to_row() for image in self.images]

    def to_dataframe(self) -> pd.DataFrame:
        """The per-image table as a pandas DataFrame (columns :data:`PER_IMAGE_COLUMNS`).

        Raises:
            ImportError: pandas is not installed.
        """
        import pandas as pd

        return pd.DataFrame(self.per_image_rows(), columns=list(PER_IMAGE_COLUMNS))

    def per_image_csv(self) -> str:
        """The per-image table as CSV text with a header row (floats at full precision)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=PER_IMAGE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.per_image_rows())
        return buffer.getvalue()

    def write_per_image_csv(self, path: str | os.PathLike) -> Path:
        """Write :meth:`per_image_csv` to ``path`` atomically; returns the path.

        Raises:
            OSError: the destination is not writable (it is then left untouched).
        """
        return atomic_write_text(path, self.per_image_csv())


# --------------------------------------------------------------------------- protocol

_BOUND_MARGIN = 1e-6
"""A pair is decided without computing its intersection only when an upper bound of its
IoU (or share) is below the threshold by more than this relative margin, far above the
~1e-16 relative rounding of computed areas."""


def _check_threshold(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def _dont_care_flags(gt: Sequence[Region] | np.ndarray, flags: Sequence[bool] | np.ndarray | None) -> np.ndarray:
    if flags is None:
        if isinstance(gt, np.ndarray) and gt.dtype != object:
            return np.zeros(len(gt), dtype=bool)
        return np.fromiter((isinstance(region, TextRegion) and region.dont_care for region in gt), dtype=bool, count=len(gt))
    flags = np.asarray(flags, dtype=bool).reshape(-1)
    if len(flags) != len(gt):
        raise ValueError(f"gt_dont_care has {len(flags)} flags for {len(gt)} ground-truth regions")
    return flags


def _same_shape_groups(arrays: list[np.ndarray | list[np.ndarray]]) -> list[np.ndarray]:
    """The stacked arrays among ``arrays`` concatenated by shape (few big arrays to check at once)."""
    groups: dict[tuple[int, ...], list[np.ndarray]] = {}
    for part in arrays:
        if isinstance(part, np.ndarray) and len(part):
            groups.setdefault(part.shape[1:], []).append(part)
    return [np.concatenate(parts) for parts in groups.values()]


@dataclass(frozen=True)
class _PolygonSet:
    """The polygons of several images, concatenated image after image.

    Integer axis-aligned rectangles (every SROIE box, and most result files' boxes) take
    their exact area and bounds from their vertices; their shapely polygons are built only
    when a pair needs one (:meth:`shapes_at`).

    Attributes:
        offsets: ``(n + 1,)`` index of each image's first polygon, then ``T``.
        areas: ``(T,)`` areas in square pixels.
        bounds: ``(T, 4)`` ``xmin, ymin, xmax, ymax`` (NaN for an empty polygon).
        rectangles: ``(T,)`` axis-aligned rectangles (see :func:`_rectangles`).
        integer: ``(T,)`` axis-aligned rectangles with integer coordinates.
        vertices: ``(T, N, 2)`` vertices when every polygon has ``N``, else ``None``.
        shapes: ``(T,)`` shapely polygons (``None`` for an integer rectangle not built yet).
    """

    offsets: np.ndarray
    areas: np.ndarray
    bounds: np.ndarray
    rectangles: np.ndarray
    integer: np.ndarray
    vertices: np.ndarray | None
    shapes: np.ndarray

    @classmethod
    def build(cls, per_image: Sequence[Sequence[Region] | np.ndarray], what: str) -> _PolygonSet:
        """Check and build the polygons (errors name the region's index within its image)."""
        per_image = [_vertex_arrays(regions, what, check_finite=False) for regions in per_image]
        if not all(np.isfinite(part).all() for part in _same_shape_groups(per_image)):
            for regions in per_image:
                _vertex_arrays(regions, what)  # raises for the first non-finite region
        offsets = np.concatenate([[0], np.cumsum([len(arrays) for arrays in per_image], dtype=np.intp)])
        shapes_of = {part.shape[1:] for part in per_image if isinstance(part, np.ndarray) and len(part)}
        if not all(isinstance(part, np.ndarray) for part in per_image) or len(shapes_of) > 1:
            # Vertex counts vary between or within images: build every polygon.
            rectangles, integer = (np.concatenate(flags) for flags in zip(*map(_rectangles, per_image)))
            shapes = np.concatenate([_build_polygons(arrays) for arrays in per_image])
            return cls(offsets=offsets, areas=shapely.area(shapes), bounds=shapely.bounds(shapes).reshape(-1, 4),
                       rectangles=rectangles, integer=np.zeros(len(shapes), dtype=bool), vertices=None, shapes=shapes)
        non_empty = [part for part in per_image if len(part)]
        vertices = np.concatenate(non_empty) if non_empty else np.empty((0, 4, 2))
        rectangles, integer = _rectangles(vertices)
        shapes = np.full(len(vertices), None, dtype=object)
        other = np.flatnonzero(~integer)
        shapes[other] = _build_polygons(vertices[other], valid=rectangles[other])
        bounds = np.empty((len(vertices), 4))
        bounds[other] = shapely.bounds(shapes[other]).reshape(-1, 4)
        bounds[integer] = np.concatenate([vertices[integer].min(axis=1), vertices[integer].max(axis=1)], axis=1)
        areas = np.empty(len(vertices))
        areas[other] = shapely.area(shapes[other])
        areas[integer] = (bounds[integer, 2] - bounds[integer, 0]) * (bounds[integer, 3] - bounds[integer, 1])
        return cls(offsets=offsets, areas=areas, bounds=bounds, rectangles=rectangles, integer=integer,
                   vertices=vertices, shapes=shapes)

    def shapes_at(self, indices: np.ndarray) -> np.ndarray:
        """The shapely polygons at ``indices``, building the missing ones (valid rectangles)."""
        missing = indices[np.equal(self.shapes[indices], None)]
        if len(missing):
            ring = self.vertices[missing]
            self.shapes[missing] = shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))
        return self.shapes[indices]

    def image_of(self) -> np.ndarray:
        """``(T,)`` image index of each polygon."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))


@dataclass(frozen=True)
class _PairDecisions:
    """The ground-truth/detection pairs for which one of the protocol's two decisions holds.

    Attributes:
        gt: ``(P,)`` global ground-truth index, sorted by image, then ground truth, then detection.
        det: ``(P,)`` global detection index.
        match: ``(P,)`` IoU strictly above ``iou_threshold`` and the ground truth is not don't-care.
        inside: ``(P,)`` the ground truth is don't-care and strictly more than
            ``dont_care_area_threshold`` of the detection's area lies inside it.
    """

    gt: np.ndarray
    det: np.ndarray
    match: np.ndarray
    inside: np.ndarray


def _overlapping_pairs(gt: _PolygonSet, det: _PolygonSet) -> tuple[np.ndarray, np.ndarray]:
    """``(g, d)`` global indices of the pairs of the same image whose bounding boxes overlap
    with positive area, sorted by image, ground truth, detection."""
    rows, cols = [], []
    with np.errstate(invalid="ignore"):
        for image in range(len(gt.offsets) - 1):
            g0, g1, d0, d1 = gt.offsets[image], gt.offsets[image + 1], det.offsets[image], det.offsets[image + 1]
            if g0 == g1 or d0 == d1:
                continue
            box_g, box_d = gt.bounds[g0:g1], det.bounds[d0:d1]
            overlap = ((box_g[:, None, 0] < box_d[None, :, 2]) & (box_d[None, :, 0] < box_g[:, None, 2])
                       & (box_g[:, None, 1] < box_d[None, :, 3]) & (box_d[None, :, 1] < box_g[:, None, 3]))
            g, d = np.nonzero(overlap)
            rows.append(g + g0)
            cols.append(d + d0)
    if not rows:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    return np.concatenate(rows), np.concatenate(cols)


def _pair_decisions(gt: _PolygonSet, det: _PolygonSet, dont_care: np.ndarray, iou_threshold: float,
                    dont_care_area_threshold: float) -> _PairDecisions:
    """Decide every pair of the same image whose bounding boxes overlap with positive area
    (all other pairs have intersection area 0).

    Bounds decide most pairs without an intersection: with ``B`` the overlap of the two
    bounding boxes (areas ``Bg``, ``Bd``), the intersection ``I`` lies inside both boxes, so
    ``I <= B``; and the union lies inside the union of the boxes, so
    ``I >= ag + ad - (Bg + Bd - B)``. A pair whose IoU (for don't-care ground truth, the
    share ``I / ad``) is above its threshold for that lower bound, or not above it for the
    upper bound, by the relative margin :data:`_BOUND_MARGIN`, is decided. The others get
    their intersection: exactly ``B`` for two integer axis-aligned rectangles; by
    :func:`shapely.clip_by_rect` (GEOS's rectangle clipping) when one of them is an
    axis-aligned rectangle, unless the ratio then lands within 1e-9 of its threshold; else by
    :func:`shapely.intersection`. The decisions equal those of the exhaustive computation
    (:func:`intersection_area_matrix` with ``prefilter=False``).
    """
    g, d = _overlapping_pairs(gt, det)
    box_g, box_d = gt.bounds[g], det.bounds[d]
    box_overlap = ((np.minimum(box_g[:, 2], box_d[:, 2]) - np.maximum(box_g[:, 0], box_d[:, 0]))
                   * (np.minimum(box_g[:, 3], box_d[:, 3]) - np.maximum(box_g[:, 1], box_d[:, 1])))
    box_area_g = (box_g[:, 2] - box_g[:, 0]) * (box_g[:, 3] - box_g[:, 1])
    box_area_d = (box_d[:, 2] - box_d[:, 0]) * (box_d[:, 3] - box_d[:, 1])
    area_g, area_d, care = gt.areas[g], det.areas[d], ~dont_care[g]
    threshold = np.where(care, iou_threshold, dont_care_area_threshold)
    lower = np.maximum(area_g + area_d - (box_area_g + box_area_d - box_overlap), 0.0)
    certain = _deciding_ratio(lower, area_g, area_d, care) > threshold * (1 + _BOUND_MARGIN)
    possible = _deciding_ratio(box_overlap, area_g, area_d, care, upper=True) > threshold * (1 - _BOUND_MARGIN)
    decision = certain.copy()
    undecided = np.flatnonzero(possible & ~certain)
    decision[undecided] = _exact_decisions(gt, det, g[undecided], d[undecided], care[undecided], box_overlap[undecided],
                                           threshold[undecided])
    keep = np.flatnonzero(decision)
    return _PairDecisions(gt=g[keep], det=d[keep], match=care[keep], inside=~care[keep])


def _deciding_ratio(intersection: np.ndarray, area_g: np.ndarray, area_d: np.ndarray, care: np.ndarray,
                    upper: bool = False) -> np.ndarray:
    """Per pair, the IoU (care ground truth; 0 where the union is 0) or the detection's
    share inside the ground truth (don't-care; 0 for a zero-area detection), as the official
    script computes them; ``upper`` gives ``inf`` instead of 0 where the union is not positive
    (an upper bound then bounds nothing)."""
    union = area_g + area_d - intersection
    denominator = np.where(care, union, area_d)
    ratio = np.full(len(intersection), np.inf if upper else 0.0)
    np.divide(intersection, denominator, out=ratio, where=denominator > 0)
    if upper:
        ratio[~care & (area_d <= 0)] = 0.0
    return ratio


def _exact_decisions(gt: _PolygonSet, det: _PolygonSet, g: np.ndarray, d: np.ndarray, care: np.ndarray,
                     box_overlap: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """The decisions of pairs that bounds left open, from their intersection areas."""
    area_g, area_d = gt.areas[g], det.areas[d]
    exact = gt.integer[g] & det.integer[d]
    intersection = np.where(exact, box_overlap, 0.0)  # exact for two integer rectangles
    clip_det = ~exact & gt.rectangles[g]
    clip_gt = ~exact & ~clip_det & det.rectangles[d]
    intersection[clip_det] = _clipped_areas(det.shapes_at(d[clip_det]), gt.bounds[g[clip_det]])
    intersection[clip_gt] = _clipped_areas(gt.shapes_at(g[clip_gt]), det.bounds[d[clip_gt]])
    # Clipping agrees with the general intersection to ~1e-12 (relative); a pair this close
    # to its threshold is computed again the general way.
    near = np.abs(_deciding_ratio(intersection, area_g, area_d, care) - threshold) <= 1e-9
    general = np.flatnonzero(~exact & (~(clip_det | clip_gt) | near))
    intersection[general] = shapely.area(shapely.intersection(gt.shapes_at(g[general]), det.shapes_at(d[general])))
    return _deciding_ratio(intersection, area_g, area_d, care) > threshold


def _clipped_areas(shapes: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Areas of ``shapes`` clipped to axis-aligned rectangles ``(K, 4)`` (GEOS ``RectangleIntersection``)."""
    clipped = np.empty(len(shapes), dtype=object)
    clipped[:] = [shapely.clip_by_rect(shape, *box) for shape, box in zip(shapes, bounds.tolist())]
    return shapely.area(clipped)


def _split(indices: np.ndarray, offsets: np.ndarray) -> list[tuple[int, ...]]:
    """Sorted global indices to a tuple of image-local indices per image."""
    cuts = np.searchsorted(indices, offsets)
    local = (indices - np.repeat(offsets[:-1], np.diff(cuts))).tolist()
    return [tuple(local[cuts[i] : cuts[i + 1]]) for i in range(len(offsets) - 1)]


def _image_results(names: Sequence[str], gt_offsets: np.ndarray, dont_care: np.ndarray, det_offsets: np.ndarray,
                   pairs: _PairDecisions) -> list[ImageResult]:
    """Ignore rule, greedy one-to-one matching and per-image figures (module docstring, steps 2-4)."""
    ignored = np.zeros(det_offsets[-1], dtype=bool)
    ignored[pairs.det[pairs.inside]] = True
    candidate = pairs.match & ~ignored[pairs.det]
    taken = bytearray(int(det_offsets[-1]))
    matched_gt, matched_det, last = [], [], -1
    # Pairs are sorted by ground truth, then detection: each ground truth, in file order,
    # takes the first free detection in file order.
    for g, d in zip(pairs.gt[candidate].tolist(), pairs.det[candidate].tolist()):
        if g != last and not taken[d]:
            taken[d] = 1
            last = g
            matched_gt.append(g)
            matched_det.append(d)
    matched_gt, matched_det = np.asarray(matched_gt, dtype=np.intp), np.asarray(matched_det, dtype=np.intp)
    dont_care_gt, ignored_det = _split(np.flatnonzero(dont_care), gt_offsets), _split(np.flatnonzero(ignored), det_offsets)
    cuts = np.searchsorted(matched_gt, gt_offsets)
    local_gt = (matched_gt - np.repeat(gt_offsets[:-1], np.diff(cuts))).tolist()
    image_of_pair = np.repeat(np.arange(len(names)), np.diff(cuts))
    local_det = (matched_det - det_offsets[:-1][image_of_pair]).tolist()
    results = []
    for image, name in enumerate(names):
        num_gt, num_det = int(gt_offsets[image + 1] - gt_offsets[image]), int(det_offsets[image + 1] - det_offsets[image])
        num_gt_care, num_det_care = num_gt - len(dont_care_gt[image]), num_det - len(ignored_det[image])
        span = slice(cuts[image], cuts[image + 1])
        matched = int(cuts[image + 1] - cuts[image])
        if num_gt_care == 0:
            recall = 1.0
            precision = 0.0 if num_det_care > 0 else 1.0
        else:
            recall = matched / num_gt_care
            precision = 0.0 if num_det_care == 0 else matched / num_det_care
        results.append(ImageResult(
            name=name, num_gt=num_gt, num_det=num_det, num_gt_care=num_gt_care, num_det_care=num_det_care,
            matched=matched, precision=precision, recall=recall, hmean=_hmean(precision, recall),
            pairs=tuple(zip(local_gt[span], local_det[span])), dont_care_gt=dont_care_gt[image],
            ignored_det=ignored_det[image],
        ))
    return results


def _prepare(names: Sequence[str], gt: Sequence[Sequence[Region] | np.ndarray], det: Sequence[Sequence[Region] | np.ndarray],
             gt_dont_care: Sequence[Sequence[bool] | np.ndarray | None] | None) -> tuple[_PolygonSet, np.ndarray, _PolygonSet]:
    if not len(names) == len(gt) == len(det):
        raise ValueError(f"got {len(names)} names, {len(gt)} ground-truth lists and {len(det)} detection lists")
    if gt_dont_care is not None and len(gt_dont_care) != len(gt):
        raise ValueError(f"gt_dont_care has {len(gt_dont_care)} entries for {len(gt)} images")
    flags = [_dont_care_flags(regions, None if gt_dont_care is None else gt_dont_care[i]) for i, regions in enumerate(gt)]
    dont_care = np.concatenate(flags) if flags else np.zeros(0, dtype=bool)
    return _PolygonSet.build(gt, "ground truth"), dont_care, _PolygonSet.build(det, "detection")


def evaluate_images(
    names: Sequence[str],
    gt: Sequence[Sequence[Region] | np.ndarray],
    det: Sequence[Sequence[Region] | np.ndarray],
    *,
    gt_dont_care: Sequence[Sequence[bool] | np.ndarray | None] | None = None,
    iou_threshold: float = IOU_THRESHOLD,
    dont_care_area_threshold: float = DONT_CARE_AREA_THRESHOLD,
) -> DatasetResult:
    """Evaluate many images at once by the ICDAR 2015 Task 4.1 protocol (the fast path of
    :func:`evaluate_dataset`, with identical results).

    Source: ICDAR 2015 Robust Reading Competition, Challenge 4, Task 4.1 (Karatzas et al.,
    ICDAR 2015), as the RRC official evaluation script computes it; see the module docstring.

    Args:
        names: ``n`` image names, recorded in the results (not checked for uniqueness).
        gt: Per image, the ground-truth regions in file order: :class:`TextRegion` records
            or ``(N, 2)`` vertex arrays in pixels, or one ``(K, N, 2)`` float array.
        det: Per image, the detections in file order, likewise.
        gt_dont_care: Optional per image ``(K,)`` don't-care flags (``None`` entries take
            the :class:`TextRegion` flags; bare arrays are not don't-care).
        iou_threshold: A match needs IoU strictly greater than this (official 0.5).
        dont_care_area_threshold: Ignore rule threshold (official 0.5).

    Returns:
        The :class:`DatasetResult`, per-image results in the order given.

    Raises:
        ValueError: the lists differ in length, a region is invalid (see
            :func:`evaluate_image`), a flag list has the wrong length, or a threshold is
            outside ``[0, 1]``.
    """
    iou_threshold = _check_threshold("iou_threshold", iou_threshold)
    dont_care_area_threshold = _check_threshold("dont_care_area_threshold", dont_care_area_threshold)
    gt_set, dont_care, det_set = _prepare(names, gt, det, gt_dont_care)
    pairs = _pair_decisions(gt_set, det_set, dont_care, iou_threshold, dont_care_area_threshold)
    return DatasetResult.from_images(_image_results(names, gt_set.offsets, dont_care, det_set.offsets, pairs))


def evaluate_score_thresholds(
    names: Sequence[str],
    gt: Sequence[Sequence[Region] | np.ndarray],
    det: Sequence[Sequence[Region] | np.ndarray],
    scores: Sequence[Sequence[float] | np.ndarray],
    thresholds: Sequence[float],
    *,
    gt_dont_care: Sequence[Sequence[bool] | np.ndarray | None] | None = None,
    iou_threshold: float = IOU_THRESHOLD,
    dont_care_area_threshold: float = DONT_CARE_AREA_THRESHOLD,
) -> list[DatasetResult]:
    """Evaluate, for each score threshold ``t``, the detections whose score is at least ``t``
    (in their order), sharing the geometry between thresholds.

    Result ``i`` is identical to :func:`evaluate_images` on the detections with
    ``score >= thresholds[i]`` (e.g. DB post-processing's ``box_thresh``), since every
    pair's intersection does not depend on the other detections.

    Args:
        names, gt, det, gt_dont_care, iou_threshold, dont_care_area_threshold: As
            :func:`evaluate_images`.
        scores: Per image, ``(D,)`` detection scores.
        thresholds: The score thresholds.

    Returns:
        One :class:`DatasetResult` per threshold, in order.

    Raises:
        ValueError: as :func:`evaluate_images`, or a score list whose length differs from
            its detection list.
    """
    iou_threshold = _check_threshold("iou_threshold", iou_threshold)
    dont_care_area_threshold = _check_threshold("dont_care_area_threshold", dont_care_area_threshold)
    gt_set, dont_care, det_set = _prepare(names, gt, det, gt_dont_care)
    if len(scores) != len(det) or any(len(s) != len(d) for s, d in zip(scores, det)):
        raise ValueError("scores must give one score per detection of every image")
    all_scores = np.concatenate([np.asarray(s, dtype=np.float64).reshape(-1) for s in scores]) if len(scores) else np.zeros(0)
    pairs = _pair_decisions(gt_set, det_set, dont_care, iou_threshold, dont_care_area_threshold)
    image_of_det = det_set.image_of()
    results = []
    for threshold in thresholds:
        keep = all_scores >= threshold
        renumber = np.cumsum(keep) - 1
        offsets = np.concatenate([[0], np.cumsum(np.bincount(image_of_det[keep], minlength=len(names)))])
        kept = keep[pairs.det]
        subset = _PairDecisions(gt=pairs.gt[kept], det=renumber[pairs.det[kept]], match=pairs.match[kept],
                                inside=pairs.inside[kept])
        results.append(DatasetResult.from_images(_image_results(names, gt_set.offsets, dont_care, offsets, subset)))
    return results


def evaluate_image(
    gt: Sequence[Region],
    det: Sequence[Region],
    *,
    gt_dont_care: Sequence[bool] | np.ndarray | None = None,
    iou_threshold: float = IOU_THRESHOLD,
    dont_care_area_threshold: float = DONT_CARE_AREA_THRESHOLD,
    name: str = "",
) -> ImageResult:
    """Evaluate the detections of one image by the ICDAR 2015 Task 4.1 protocol.

    Source: ICDAR 2015 Robust Reading Competition, Challenge 4, Task 4.1 (Karatzas et al.,
    ICDAR 2015), as the RRC official evaluation script computes it; see the module
    docstring for the rules and the documented departures (float coordinates, any
    vertex count and orientation, invalid polygons repaired with ``shapely.make_valid``).

    Args:
        gt: Ground-truth regions in file order (matching order matters): each a
            :class:`TextRegion` (its ``dont_care`` flag is used) or an ``(N, 2)``
            array-like of vertices in pixels (not don't-care unless ``gt_dont_care``
            says so); or one ``(K, N, 2)`` float array.
        det: Detections in file order: :class:`TextRegion` records (only ``points``
            is used) or ``(N, 2)`` float arrays of vertices in pixels, ``N >= 3``.
        gt_dont_care: Optional ``(G,)`` booleans overriding the don't-care flags of
            ``gt`` (useful when the ground truth comes as bare arrays).
        iou_threshold: A match needs IoU strictly greater than this (official 0.5).
        dont_care_area_threshold: A detection is ignored when strictly more than this
            fraction of its area lies inside one don't-care region (official 0.5).
        name: Image name recorded in the result.

    Returns:
        The :class:`ImageResult`.

    Raises:
        ValueError: a region is not an ``(N, 2)`` array with ``N >= 3`` finite vertices,
            ``gt_dont_care`` does not have one flag per ground-truth region, or a
            threshold is outside ``[0, 1]``.
    """
    result = evaluate_images([name], [gt], [det], gt_dont_care=[gt_dont_care], iou_threshold=iou_threshold,
                             dont_care_area_threshold=dont_care_area_threshold)
    return result.images[0]


class Icdar2015Accumulator:
    """Collects per-image ICDAR 2015 Task 4.1 results, e.g. over a validation epoch.

    Source: ICDAR 2015 Robust Reading Competition, Challenge 4, Task 4.1 (Karatzas et al.,
    ICDAR 2015), the RRC official evaluation script. Each :meth:`update` evaluates one
    image at once (only the small :class:`ImageResult` is kept, not the polygons);
    :meth:`compute` pools them into the dataset figures.

    Example::

        metric = Icdar2015Accumulator()
        for name, gt_regions, det_polygons in batches:
            metric.update(name, gt_regions, det_polygons)
        result = metric.compute()   # result.hmean, result.precision, result.recall
        metric.reset()

    Args:
        iou_threshold: A match needs IoU strictly greater than this (official 0.5).
        dont_care_area_threshold: Ignore rule threshold (official 0.5).

    Raises:
        ValueError: a threshold is outside ``[0, 1]``.
    """

    def __init__(
        self, iou_threshold: float = IOU_THRESHOLD, dont_care_area_threshold: float = DONT_CARE_AREA_THRESHOLD
    ):
        self.iou_threshold = _check_threshold("iou_threshold", iou_threshold)
        self.dont_care_area_threshold = _check_threshold("dont_care_area_threshold", dont_care_area_threshold)
        self._images: dict[str, ImageResult] = {}

    def __len__(self) -> int:
        return len(self._images)

    def update(
        self,
        name: str,
        gt: Sequence[Region],
        det: Sequence[Region],
        *,
        gt_dont_care: Sequence[bool] | np.ndarray | None = None,
    ) -> ImageResult:
        """Evaluate one image (arguments as :func:`evaluate_image`) and keep its result.

        Args:
            name: Image name, unique within the accumulated set.
            gt: Ground-truth regions of the image in file order (pixels).
            det: Detections of the image in file order (pixels).
            gt_dont_care: Optional ``(G,)`` don't-care flags overriding those of ``gt``.

        Returns:
            The image's :class:`ImageResult`.

        Raises:
            ValueError: ``name`` was already added since the last :meth:`reset` (an image
                counted twice would bias the figures), or invalid regions as in
                :func:`evaluate_image`.
        """
        name = str(name)
        if name in self._images:
            raise ValueError(f"image {name!r} was already evaluated; names must be unique (call reset() between sets)")
        result = evaluate_image(
            gt,
            det,
            gt_dont_care=gt_dont_care,
            iou_threshold=self.iou_threshold,
            dont_care_area_threshold=self.dont_care_area_threshold,
            name=name,
        )
        self._images[name] = result
        return result

    def add_result(self, result: ImageResult) -> None:
        """Add an already computed :class:`ImageResult` (e.g. gathered from another process).

        Raises:
            ValueError: an image of the same name was already added.
        """
        if result.name in self._images:
            raise ValueError(f"image {result.name!r} was already evaluated; names must be unique")
        self._images[result.name] = result

    def compute(self) -> DatasetResult:
        """Pool the images added so far (in the order added) into a :class:`DatasetResult`.

        With no image, every figure is 0.
        """
        return DatasetResult.from_images(self._images.values())

    def reset(self) -> None:
        """Forget every image added."""
        self._images.clear()


Sample = tuple[Sequence[Region], Sequence[Region]]


def evaluate_dataset(
    samples: Mapping[str, Sample] | Iterable[tuple[str, Sequence[Region], Sequence[Region]]],
    *,
    iou_threshold: float = IOU_THRESHOLD,
    dont_care_area_threshold: float = DONT_CARE_AREA_THRESHOLD,
) -> DatasetResult:
    """Evaluate a set of images by the ICDAR 2015 Task 4.1 protocol.

    Source: ICDAR 2015 Robust Reading Competition, Challenge 4, Task 4.1 (Karatzas et al.,
    ICDAR 2015), the RRC official evaluation script: per-image matching as in
    :func:`evaluate_image`, then counts pooled over the set (not a mean of per-image
    values).

    Args:
        samples: Either a mapping ``name -> (gt, det)`` or an iterable of
            ``(name, gt, det)`` triples; ``gt`` and ``det`` as in :func:`evaluate_image`
            (regions or ``(N, 2)`` vertex arrays in pixels, in file order). An image with
            no detections is given with an empty ``det``.
        iou_threshold: A match needs IoU strictly greater than this (official 0.5).
        dont_care_area_threshold: Ignore rule threshold (official 0.5).

    Returns:
        The :class:`DatasetResult`, per-image results in the order given.

    Raises:
        ValueError: two images share a name, a region is invalid (see
            :func:`evaluate_image`), or a threshold is outside ``[0, 1]``.
    """
    items = ((name, gt, det) for name, (gt, det) in samples.items()) if isinstance(samples, Mapping) else samples
    names, gts, dets, seen = [], [], [], set()
    for name, gt, det in items:
        name = str(name)
        if name in seen:
            raise ValueError(f"image {name!r} was already evaluated; names must be unique")
        seen.add(name)
        names.append(name)
        gts.append(gt)
        dets.append(det)
    return evaluate_images(names, gts, dets, iou_threshold=iou_threshold, dont_care_area_threshold=dont_care_area_threshold)
