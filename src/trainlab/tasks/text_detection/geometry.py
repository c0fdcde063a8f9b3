"""Polygon offsetting shared by DB targets (shrink) and DB post-processing (unclip).

Both follow DBNet (Liao et al., "Real-time Scene Text Detection with Differentiable
Binarization", AAAI 2020, Sec. 3.4 "Label generation" and Sec. 3.5 "Inference"): a text
polygon of area ``A`` and perimeter ``L`` is shrunk by the Vatti clipping offset
``D = A (1 - r^2) / L`` (shrink ratio ``r``), and a detected kernel is expanded back by
``D' = A' u / L'`` (unclip ratio ``u``). Offsetting uses pyclipper (Clipper, Angus Johnson)
with round joins, on coordinates scaled by :data:`CLIPPER_SCALE` so that sub-pixel precision
survives Clipper's integer arithmetic.
"""

from __future__ import annotations

import numpy as np
import pyclipper

CLIPPER_SCALE = 64.0  # fixed-point factor: 1/64 px resolution inside Clipper


def area_and_perimeter(points: np.ndarray) -> tuple[float, float]:
    """Unsigned area (px²) and perimeter (px) of a closed polygon.

    Args:
        points: ``(N, 2)`` vertices in pixels, either orientation, ``N >= 3``.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = pts[:, 0], pts[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    perimeter = float(np.linalg.norm(pts - np.roll(pts, -1, axis=0), axis=1).sum())
    return area, perimeter


def offset_polygon(points: np.ndarray, distance: float) -> list[np.ndarray]:
    """Offset a polygon outwards (``distance > 0``) or inwards (``distance < 0``).

    Args:
        points: ``(N, 2)`` vertices in pixels, either orientation.
        distance: Offset in pixels.

    Returns:
        The resulting polygons as ``(M, 2)`` float64 arrays; empty if shrinking made
        the polygon vanish. An inward offset can split a polygon into several pieces.
    """
    offsetter = pyclipper.PyclipperOffset()
    path = np.round(np.asarray(points, dtype=np.float64).reshape(-1, 2) * CLIPPER_SCALE).astype(np.int64)
    offsetter.AddPath(path.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    result = offsetter.Execute(distance * CLIPPER_SCALE)
    return [np.asarray(p, dtype=np.float64) / CLIPPER_SCALE for p in result if len(p) >= 3]


def shrink_distance(points: np.ndarray, shrink_ratio: float) -> float:
    """DB shrink offset ``D = A (1 - r^2) / L`` in pixels (0 for a degenerate polygon)."""
    area, perimeter = area_and_perimeter(points)
    return 0.0 if perimeter <= 0 else area * (1.0 - shrink_ratio**2) / perimeter


def unclip_distance(points: np.ndarray, unclip_ratio: float) -> float:
    """DB unclip offset ``D' = A' u / L'`` in pixels (0 for a degenerate polygon)."""
    area, perimeter = area_and_perimeter(points)
    return 0.0 if perimeter <= 0 else area * unclip_ratio / perimeter
