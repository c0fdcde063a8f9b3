"""Anchor sizes and aspect ratios fitted to the training boxes by k-means on box shapes.

Source: Redmon & Farhadi, "YOLO9000: Better, Faster, Stronger", CVPR 2017, Sec. 2
("Dimension Clusters"): k-means on the training boxes' ``(width, height)`` with the distance
``d = 1 - IoU(box, centroid)`` of boxes sharing one centre, so that large boxes do not
dominate as they would under Euclidean distance.

torchvision's :class:`~torchvision.models.detection.anchor_utils.AnchorGenerator` takes, per
feature level, a list of sizes (``sqrt(w * h)``, pixels) and a list of aspect ratios
(``h / w``) and makes every combination. The fit therefore has two parts:

1. ``levels x sizes_per_level`` IoU k-means clusters of ``(w, h)``, sorted by area; each
   cluster gives a size ``sqrt(w h)``; consecutive groups of ``sizes_per_level`` clusters go to
   the levels from the finest stride to the coarsest;
2. ``num_ratios`` clusters of ``log(h / w)`` (1-D k-means, Lloyd's algorithm) give the aspect
   ratios, shared by every level.

:func:`mean_best_iou` scores an anchor set: the mean over boxes of the best IoU with any
anchor shape (the "Avg IOU" of YOLO9000's Table 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

#: torchvision's RetinaNet anchors for strides 8..128 (``retinanet_resnet50_fpn``): sizes
#: ``32 * 2 ** (level + k / 3)``, aspect ratios 0.5, 1, 2.
TORCHVISION_SIZES = tuple(tuple(int(s * 2 ** (k / 3)) for k in range(3)) for s in (32, 64, 128))
TORCHVISION_RATIOS = (0.5, 1.0, 2.0)


def shape_iou(shapes: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """IoU of boxes and centroids placed on one centre.

    Args:
        shapes: ``(N, 2)`` float ``(w, h)``, positive.
        centroids: ``(K, 2)`` float ``(w, h)``, positive.

    Returns:
        ``(N, K)`` float64 IoU in ``(0, 1]``.
    """
    shapes = np.asarray(shapes, np.float64)[:, None, :]
    centroids = np.asarray(centroids, np.float64)[None, :, :]
    inter = np.minimum(shapes, centroids).prod(-1)
    return inter / (shapes.prod(-1) + centroids.prod(-1) - inter)


def iou_kmeans(shapes: np.ndarray, k: int, seed: int = 0, iterations: int = 300) -> np.ndarray:
    """k-means of box shapes with the distance ``1 - IoU`` (YOLO9000, Sec. 2).

    Initialised with k-means++ seeding (Arthur & Vassilvitskii 2007) under the same distance;
    each centroid is updated to the median shape of its members (as in YOLOv3's and
    Ultralytics' anchor tools, which keep it robust to outliers).

    Args:
        shapes: ``(N, 2)`` ``(w, h)`` in pixels, positive, ``N >= k``.
        k: Number of clusters.
        seed: Seed of the initialisation.
        iterations: Upper bound on the update rounds (stops when assignments settle).

    Returns:
        ``(k, 2)`` float64 centroids sorted by area (ascending).

    Raises:
        ValueError: fewer boxes than clusters, ``k < 1`` or non-positive shapes.
    """
    shapes = np.asarray(shapes, np.float64).reshape(-1, 2)
    if k < 1 or len(shapes) < k:
        raise ValueError(f"k-means needs 1 <= k <= number of boxes; got k={k} for {len(shapes)} boxes")
    if (shapes <= 0).any():
        raise ValueError("box shapes must be positive")
    rng = np.random.default_rng(seed)
    centroids = [shapes[rng.integers(len(shapes))]]
    while len(centroids) < k:
        distance = (1.0 - shape_iou(shapes, np.array(centroids))).min(1)
        weights = distance ** 2
        total = weights.sum()
        index = rng.choice(len(shapes), p=weights / total) if total > 0 else rng.integers(len(shapes))
        centroids.append(shapes[index])
    centroids = np.array(centroids)
    assignment = None
    for _ in range(iterations):
        new_assignment = shape_iou(shapes, centroids).argmax(1)
        if assignment is not None and (new_assignment == assignment).all():
            break
        assignment = new_assignment
        for cluster in range(k):
            members = shapes[assignment == cluster]
            if len(members):
                centroids[cluster] = np.median(members, axis=0)
    return centroids[np.argsort(centroids.prod(1))]


def kmeans_1d(values: np.ndarray, k: int, iterations: int = 100) -> np.ndarray:
    """Lloyd's k-means of scalars, initialised at the ``(i + 0.5) / k`` quantiles.

    Returns:
        ``(k,)`` float64 centres, ascending; with fewer than ``k`` distinct values, some
        centres repeat (the anchor count per location stays ``k``).
    """
    values = np.sort(np.asarray(values, np.float64).ravel())
    centres = np.quantile(values, (np.arange(k) + 0.5) / k)
    if len(np.unique(values)) < k:
        return centres
    for _ in range(iterations):
        assignment = np.abs(values[:, None] - centres[None]).argmin(1)
        updated = np.array([values[assignment == i].mean() if (assignment == i).any() else centres[i] for i in range(k)])
        if np.allclose(updated, centres):
            break
        centres = updated
    return np.sort(centres)


@dataclass(frozen=True)
class AnchorFit:
    """Anchors for torchvision's ``AnchorGenerator``, and how well they cover the boxes.

    Attributes:
        sizes: Per level (finest stride first), the anchor sizes ``sqrt(w h)`` in input pixels.
        aspect_ratios: The aspect ratios ``h / w`` (the same for every level).
        mean_best_iou: Mean over training boxes of the best shape IoU with any anchor.
        default_mean_best_iou: The same for torchvision's default RetinaNet anchors (the
            first ``len(sizes)`` levels), for comparison.
        boxes: Number of boxes fitted.
    """

    sizes: tuple[tuple[float, ...], ...]
    aspect_ratios: tuple[float, ...]
    mean_best_iou: float
    default_mean_best_iou: float
    boxes: int

    def to_dict(self) -> dict:
        """Plain JSON-able dict (for the manifest and the checkpoint)."""
        return {k: (list(map(list, v)) if k == "sizes" else list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(self).items()}


def anchor_shapes(sizes: Sequence[Sequence[float]], aspect_ratios: Sequence[float]) -> np.ndarray:
    """Every ``(w, h)`` the generator makes: ``w = s / sqrt(r)``, ``h = s * sqrt(r)`` (torchvision's rule).

    Returns:
        ``(sum(len(level)) * len(aspect_ratios), 2)`` float64.
    """
    shapes = [(s / np.sqrt(r), s * np.sqrt(r)) for level in sizes for s in level for r in aspect_ratios]
    return np.array(shapes, np.float64)


def mean_best_iou(shapes: np.ndarray, sizes: Sequence[Sequence[float]], aspect_ratios: Sequence[float]) -> float:
    """Mean over boxes ``(N, 2)`` of the best shape IoU with any anchor of ``sizes x aspect_ratios``."""
    return float(shape_iou(shapes, anchor_shapes(sizes, aspect_ratios)).max(1).mean())


def fit_anchors(shapes: np.ndarray, levels: int = 3, sizes_per_level: int = 3, num_ratios: int = 3,
                seed: int = 0) -> AnchorFit:
    """Fit anchor sizes per level and shared aspect ratios to box shapes (see the module docstring).

    Args:
        shapes: ``(N, 2)`` training box ``(w, h)`` in network-input pixels.
        levels: Number of feature levels (finest stride first).
        sizes_per_level: Anchor sizes per level.
        num_ratios: Number of aspect ratios.
        seed: Seed of the k-means initialisation.

    Returns:
        The :class:`AnchorFit` (sizes rounded to 0.1 px, ratios to 0.001).

    Raises:
        ValueError: fewer boxes than ``levels * sizes_per_level``, or non-positive shapes.
    """
    shapes = np.asarray(shapes, np.float64).reshape(-1, 2)
    centroids = iou_kmeans(shapes, levels * sizes_per_level, seed=seed)
    scales = np.sqrt(centroids.prod(1))
    sizes = tuple(tuple(round(float(s), 1) for s in scales[i * sizes_per_level:(i + 1) * sizes_per_level])
                  for i in range(levels))
    ratios = tuple(round(float(r), 3) for r in np.exp(kmeans_1d(np.log(shapes[:, 1] / shapes[:, 0]), num_ratios)))
    return AnchorFit(sizes=sizes, aspect_ratios=ratios, mean_best_iou=mean_best_iou(shapes, sizes, ratios),
                     default_mean_best_iou=mean_best_iou(shapes, TORCHVISION_SIZES[:levels], TORCHVISION_RATIOS),
                     boxes=len(shapes))
