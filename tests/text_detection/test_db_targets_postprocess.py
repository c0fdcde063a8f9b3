"""DB targets and DB post-processing on real receipts: the round trip recovers the ground truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from shapely.geometry import Polygon

from tests.conftest import shared_dataset
from trainlab.tasks.text_detection.data.icdar_format import read_split
from trainlab.tasks.text_detection.data.transforms import scale_points, target_size
from trainlab.tasks.text_detection.geometry import (
    offset_polygon,
    shrink_distance,
    unclip_distance,
)
from trainlab.tasks.text_detection.metrics.icdar2015 import evaluate_dataset
from trainlab.tasks.text_detection.postprocess.db_postprocess import (
    DBPostprocessConfig,
    db_postprocess,
    order_quad,
)
from trainlab.tasks.text_detection.targets.db_targets import make_db_targets


def round_trip(root, split, unclip_ratio=2.0, size=736):
    """Targets drawn at network input size, post-processed back to original pixels, then scored."""
    samples = []
    for record in read_split(root / "images" / split, root / "annotations" / split):
        original = cv2.imread(str(record.image_path), cv2.IMREAD_GRAYSCALE).shape[:2]
        height, width = target_size(*original, mode="short_side", size=size)
        polygons = [scale_points(r.points, original, (height, width)) for r in record.regions]
        maps = make_db_targets(polygons, [r.dont_care for r in record.regions], height, width)
        detections = db_postprocess(maps.prob_map, original, DBPostprocessConfig(unclip_ratio=unclip_ratio))
        samples.append((record.name, record.regions, detections))
    return evaluate_dataset(samples)


def test_round_trip_on_embedded_receipts(mini_root):
    result = round_trip(mini_root, "train")
    assert result.hmean >= 0.95, result.summary()
    # Unclipping too little loses the height that shrinking took away: long, thin receipt
    # lines no longer reach IoU 0.5.
    assert round_trip(mini_root, "train", unclip_ratio=1.2).hmean < result.hmean - 0.1


def test_round_trip_on_full_sroie_test_subset():
    result = round_trip(shared_dataset("sroie2019"), "test")
    assert result.hmean >= 0.95, result.summary()


def test_round_trip_on_icdar2015_with_dont_care():
    result = round_trip(shared_dataset("icdar2015"), "test")
    # Don't-care words are masked, not drawn: they produce no detection and cost nothing.
    assert result.hmean >= 0.95, result.summary()


def test_target_maps_on_a_receipt(mini_root):
    record = read_split(mini_root / "images" / "test", mini_root / "annotations" / "test")[0]
    image = cv2.imread(str(record.image_path))
    height, width = image.shape[:2]
    polygons = [r.points for r in record.regions]
    dont_care = [i == 0 for i in range(len(polygons))]  # pretend the first line is illegible
    maps = make_db_targets(polygons, dont_care, height, width, shrink_ratio=0.4)
    for array in (maps.prob_map, maps.prob_mask, maps.thresh_map, maps.thresh_mask):
        assert array.shape == (height, width) and array.dtype == np.float32
    assert maps.thresh_map.min() >= 0.3 - 1e-6 and maps.thresh_map.max() <= 0.7 + 1e-6
    # The don't-care line is masked out and not drawn.
    x0, y0 = polygons[0].min(axis=0).astype(int)
    x1, y1 = polygons[0].max(axis=0).astype(int)
    assert maps.prob_mask[y0 : y1 + 1, x0 : x1 + 1].max() == 0
    assert maps.prob_map[y0 : y1 + 1, x0 : x1 + 1].max() == 0
    # Each kernel is the polygon shrunk by D = A (1 - r^2) / L: its area matches the offset polygon.
    second = polygons[1]
    kernel = offset_polygon(second, -shrink_distance(second, 0.4))[0]
    x0, y0 = second.min(axis=0).astype(int)
    x1, y1 = second.max(axis=0).astype(int)
    drawn = maps.prob_map[y0 : y1 + 1, x0 : x1 + 1].sum()
    assert drawn == pytest.approx(Polygon(kernel).area, rel=0.35, abs=6 * Polygon(kernel).length ** 0.5)
    # The threshold ramp peaks (0.7) on the text border and stays at 0.3 far from text.
    assert maps.thresh_map[int(second[0, 1]), int(second[:, 0].mean())] > 0.6
    assert maps.thresh_mask.sum() > maps.prob_map.sum()


def test_shrink_then_unclip_is_the_inverse_for_a_square():
    square = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], dtype=float)
    kernel = offset_polygon(square, -shrink_distance(square, 0.4))[0]
    assert Polygon(kernel).area == pytest.approx(58**2, rel=0.01)  # D = 10000 * 0.84 / 400 = 21
    # A square needs u = D / (A' / L') = 21 / (58 / 4) = 1.448 to come back; round joins cut
    # each corner by (1 - pi/4) D^2, so the area is 58^2 + 4 * 58 * 21 + pi * 21^2.
    restored = offset_polygon(kernel, unclip_distance(kernel, 21 / 14.5))[0]
    assert Polygon(restored).area == pytest.approx(58**2 + 4 * 58 * 21 + np.pi * 21**2, rel=0.005)
    assert Polygon(restored).bounds == pytest.approx((0, 0, 100, 100), abs=0.1)


def test_postprocess_filters_and_orders():
    prob = np.zeros((64, 128), dtype=np.float32)
    prob[10:20, 10:100] = 0.9  # a confident line
    prob[40:50, 10:100] = 0.45  # above thresh but below box_thresh
    prob[30, 60] = 0.9  # a single pixel: below min_size
    regions = db_postprocess(prob, (128, 256), DBPostprocessConfig(thresh=0.3, box_thresh=0.6))
    assert len(regions) == 1
    (region,) = regions
    assert region.score == pytest.approx(0.9, abs=1e-5)
    # Quads come back clockwise from the top-left (screen coordinates), in original pixels (2x).
    xs, ys = region.points[:, 0], region.points[:, 1]
    assert xs[0] < xs[1] and ys[1] < ys[2] and xs[2] > xs[3]
    np.testing.assert_allclose(order_quad(region.points[::-1]), region.points)
    # The contour's rectangle (89 x 9 map px) is unclipped by D' = A' u / L', then scaled by 2.
    d = 89 * 9 * 2.0 / (2 * (89 + 9))
    assert xs.min() == pytest.approx(2 * (10 - d) + 0.5, abs=1.5)
    assert xs.max() == pytest.approx(2 * (99 + d) + 0.5, abs=1.5)
    assert ys.min() == pytest.approx(2 * (10 - d) + 0.5, abs=1.5)


def test_polygon_mode_follows_curved_text():
    prob = np.zeros((200, 300), dtype=np.float32)
    # An arc of text: a thick band along a circle.
    yy, xx = np.mgrid[0:200, 0:300]
    radius = np.hypot(xx - 150, yy - 220)
    prob[(radius > 140) & (radius < 160) & (yy < 150)] = 0.95
    # Scored over its quad, the arc is mostly background: the fast score drops it.
    assert db_postprocess(prob, (200, 300), DBPostprocessConfig(use_polygon=False)) == []
    (quad,) = db_postprocess(prob, (200, 300), DBPostprocessConfig(use_polygon=False, box_thresh=0.2))
    (poly,) = db_postprocess(prob, (200, 300), DBPostprocessConfig(use_polygon=True, score_mode="polygon"))
    assert poly.score > 0.9 > quad.score
    assert len(poly.points) > 4
    arc = float((prob > 0.5).sum())
    # The polygon follows the arc (wider by the unclip offset); the quad must span its chord.
    assert Polygon(poly.points).contains(Polygon(np.argwhere(prob.T > 0.5)).centroid) is False
    assert arc < Polygon(poly.points).area < 0.6 * Polygon(quad.points).area
