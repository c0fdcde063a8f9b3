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

Speed: polygons are built with shapely 2 array functions, and exact intersections are
computed only for pairs whose bounding boxes overlap with positive area; every other
pair has intersection area exactly 0, so the result is identical to the exhaustive
computation (:func:`intersection_area_matrix` with ``prefilter=False``).
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


def polygons_from_points(points: Sequence[Region], what: str = "polygon") -> np.ndarray:
    """Build shapely polygons from vertex arrays, repairing invalid ones.

    Args:
        points: ``K`` regions, each a :class:`TextRegion` or an ``(N, 2)`` array-like of
            vertices ``(x, y)`` in pixels, ``N >= 3``, in either orientation. The ring is
            closed implicitly (a repeated first vertex at the end is harmless).
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
    arrays = [_points_of(region, index, what) for index, region in enumerate(points)]
    if not arrays:
        return np.empty(0, dtype=object)
    _check_finite(arrays, what)
    counts = np.fromiter((len(a) for a in arrays), dtype=np.intp, count=len(arrays))
    if (counts == counts[0]).all():
        stacked = np.stack(arrays)
        polygons = shapely.polygons(np.concatenate([stacked, stacked[:, :1]], axis=1))
    else:
        closed = np.concatenate([np.concatenate([a, a[:1]]) for a in arrays])
        rings = shapely.linearrings(closed, indices=np.repeat(np.arange(len(arrays)), counts + 1))
        polygons = shapely.polygons(rings)
    invalid = np.flatnonzero(~shapely.is_valid(polygons))
    for index in invalid:
        polygons[index] = _polygonal_part(shapely.make_valid(polygons[index]))
    return polygons


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


def _check_threshold(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


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
            says so).
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
    iou_threshold = _check_threshold("iou_threshold", iou_threshold)
    dont_care_area_threshold = _check_threshold("dont_care_area_threshold", dont_care_area_threshold)
    if gt_dont_care is None:
        dont_care = np.fromiter(
            (isinstance(region, TextRegion) and region.dont_care for region in gt), dtype=bool, count=len(gt)
        )
    else:
        dont_care = np.asarray(gt_dont_care, dtype=bool).reshape(-1)
        if len(dont_care) != len(gt):
            raise ValueError(f"gt_dont_care has {len(dont_care)} flags for {len(gt)} ground-truth regions")

    gt_polygons = polygons_from_points(gt, "ground truth")
    det_polygons = polygons_from_points(det, "detection")
    num_gt, num_det = len(gt_polygons), len(det_polygons)

    ignored = np.zeros(num_det, dtype=bool)
    pairs: list[tuple[int, int]] = []
    if num_gt and num_det:
        intersection = intersection_area_matrix(gt_polygons, det_polygons)
        area_gt = shapely.area(gt_polygons)
        area_det = shapely.area(det_polygons)
        if dont_care.any():
            # Share of each detection's area inside each don't-care region; 0 for a
            # zero-area detection, as in the official script.
            inside = np.zeros((int(dont_care.sum()), num_det))
            np.divide(intersection[dont_care], area_det[None, :], out=inside, where=area_det[None, :] > 0)
            ignored = (inside > dont_care_area_threshold).any(axis=0)
        candidate = _iou_from(intersection, area_gt, area_det) > iou_threshold
        candidate[dont_care, :] = False
        candidate[:, ignored] = False
        taken = np.zeros(num_det, dtype=bool)
        # Ground truth in file order; each takes the first free detection in file order.
        for g in np.flatnonzero(candidate.any(axis=1)):
            free = candidate[g] & ~taken
            if free.any():
                d = int(np.argmax(free))
                taken[d] = True
                pairs.append((int(g), d))

    num_gt_care = num_gt - int(dont_care.sum())
    num_det_care = num_det - int(ignored.sum())
    matched = len(pairs)
    if num_gt_care == 0:
        recall = 1.0
        precision = 0.0 if num_det_care > 0 else 1.0
    else:
        recall = matched / num_gt_care
        precision = 0.0 if num_det_care == 0 else matched / num_det_care
    return ImageResult(
        name=name,
        num_gt=num_gt,
        num_det=num_det,
        num_gt_care=num_gt_care,
        num_det_care=num_det_care,
        matched=matched,
        precision=precision,
        recall=recall,
        hmean=_hmean(precision, recall),
        pairs=tuple(pairs),
        dont_care_gt=tuple(int(i) for i in np.flatnonzero(dont_care)),
        ignored_det=tuple(int(i) for i in np.flatnonzero(ignored)),
    )


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
    accumulator = Icdar2015Accumulator(iou_threshold, dont_care_area_threshold)
    items = ((name, gt, det) for name, (gt, det) in samples.items()) if isinstance(samples, Mapping) else samples
    for name, gt, det in items:
        accumulator.update(name, gt, det)
    return accumulator.compute()
