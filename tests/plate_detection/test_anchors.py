"""Anchor fitting: the IoU k-means recovers known shapes, and the fitted anchors cover the real
training plates better than torchvision's defaults."""

from __future__ import annotations

import numpy as np
import pytest

from trainlab.tasks.plate_detection.anchors import (
    TORCHVISION_RATIOS,
    TORCHVISION_SIZES,
    anchor_shapes,
    fit_anchors,
    iou_kmeans,
    mean_best_iou,
    shape_iou,
)
from trainlab.tasks.plate_detection.data.datamodule import PlateDataModule


def test_shape_iou_by_hand():
    # 10x10 and 20x5 on one centre: intersection 10x5 = 50, union 100 + 100 - 50 = 150.
    np.testing.assert_allclose(shape_iou(np.array([[10.0, 10.0]]), np.array([[20.0, 5.0], [10.0, 10.0]])), [[1 / 3, 1.0]])


def test_iou_kmeans_recovers_two_plate_shapes():
    rng = np.random.default_rng(0)
    eu = np.array([100.0, 23.0]) * rng.uniform(0.97, 1.03, (60, 1))
    us = np.array([60.0, 30.0]) * rng.uniform(0.97, 1.03, (40, 1))
    centroids = iou_kmeans(np.concatenate([eu, us]), k=2, seed=1)
    np.testing.assert_allclose(centroids, [[60, 30], [100, 23]], rtol=0.03)  # sorted by area: 1800 < 2300


def test_anchor_shapes_follow_torchvisions_rule():
    # torchvision: h_ratio = sqrt(r), w = size / h_ratio, h = size * h_ratio.
    np.testing.assert_allclose(anchor_shapes([[32.0]], [0.25, 1.0]), [[64, 16], [32, 32]])


def test_fitted_anchors_cover_the_real_training_plates(plates_root):
    data = PlateDataModule(root=str(plates_root), image_size=512)
    data.setup()
    shapes = data.train_box_shapes()
    assert shapes.shape == (232, 2)
    fit = fit_anchors(shapes, levels=3, sizes_per_level=3, num_ratios=2)
    # Two plate shapes: EU plates about 0.23 high per unit of width, US plates about 0.5.
    assert fit.aspect_ratios[0] == pytest.approx(0.23, abs=0.02) and fit.aspect_ratios[1] == pytest.approx(0.5, abs=0.03)
    assert all(a <= b for level in fit.sizes for a, b in zip(level, level[1:]))
    assert fit.mean_best_iou == pytest.approx(mean_best_iou(shapes, fit.sizes, fit.aspect_ratios))
    assert fit.default_mean_best_iou == pytest.approx(mean_best_iou(shapes, TORCHVISION_SIZES, TORCHVISION_RATIOS))
    assert fit.mean_best_iou > 0.8 and fit.mean_best_iou > fit.default_mean_best_iou + 0.1
