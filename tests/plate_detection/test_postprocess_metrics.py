"""NMS and thresholds (class-aware suppression, score floor, cap), and the COCO metric and
precision/recall against cases computed by hand; the choice of both thresholds on validation."""

from __future__ import annotations

import pytest
import torch

from trainlab.tasks.plate_detection.metrics import coco_map, match_counts, total_counts, tune_postprocess
from trainlab.tasks.plate_detection.postprocess import PostprocessConfig, confident, postprocess


def dets(boxes, scores, labels=None):
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    labels = torch.zeros(len(boxes), dtype=torch.int64) if labels is None else torch.tensor(labels)
    return {"boxes": boxes, "scores": torch.tensor(scores, dtype=torch.float32), "labels": labels}


def truth(boxes, labels=None):
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    return {"boxes": boxes, "labels": torch.zeros(len(boxes), dtype=torch.int64) if labels is None else torch.tensor(labels)}


def test_nms_suppresses_same_class_overlaps_above_the_threshold_only():
    # Boxes 0 and 1 overlap with IoU 80 / 120 = 0.667; box 2 overlaps box 0 with IoU 50 / 150 = 0.333.
    raw = dets([[0, 0, 10, 10], [0, 2, 10, 12], [5, 0, 15, 10]], [0.9, 0.8, 0.7])
    kept = postprocess(raw, PostprocessConfig(nms_threshold=0.5))
    assert kept["scores"].tolist() == pytest.approx([0.9, 0.7])
    assert len(postprocess(raw, PostprocessConfig(nms_threshold=0.7))["boxes"]) == 3
    assert len(postprocess(raw, PostprocessConfig(nms_threshold=0.3))["boxes"]) == 1
    # Class-aware: the same overlap between two classes suppresses nothing.
    two_classes = dets([[0, 0, 10, 10], [0, 2, 10, 12]], [0.9, 0.8], [0, 1])
    assert len(postprocess(two_classes, PostprocessConfig(nms_threshold=0.5))["boxes"]) == 2


def test_score_floor_cap_and_confidence_threshold():
    raw = dets([[i * 20, 0, i * 20 + 10, 10] for i in range(5)], [0.9, 0.04, 0.5, 0.3, 0.2])
    config = PostprocessConfig(score_floor=0.05, max_detections=3, confidence_threshold=0.25)
    kept = postprocess(raw, config)
    assert kept["scores"].tolist() == pytest.approx([0.9, 0.5, 0.3])  # 0.04 under the floor, 0.2 past the cap
    assert confident(kept, config)["scores"].tolist() == pytest.approx([0.9, 0.5, 0.3])
    assert confident(kept, config.with_values(confidence_threshold=0.4))["scores"].tolist() == pytest.approx([0.9, 0.5])
    with pytest.raises(ValueError, match="unknown postprocess key"):
        config.with_values(iou=0.3)
    with pytest.raises(ValueError, match=r"nms_threshold must be in \[0, 1\]"):
        config.with_values(nms_threshold=1.5)


def test_coco_map_by_hand():
    gt = [truth([[0, 0, 100, 20]])]
    assert coco_map([dets([[0, 0, 100, 20]], [0.9])], gt)["map"] == pytest.approx(1.0)
    # Shifted right by 14 px: IoU = 86 * 20 / (114 * 20) = 0.754. It matches at IoU thresholds
    # 0.50, 0.55, ..., 0.75 (6 of 10), so mAP@[.5:.95] = 0.6, mAP@0.5 = 1, mAP@0.75 = 1.
    shifted = coco_map([dets([[14, 0, 114, 20]], [0.9])], gt)
    assert shifted["map"] == pytest.approx(0.6) and shifted["map_50"] == pytest.approx(1.0)
    assert shifted["map_75"] == pytest.approx(1.0) and shifted["mar_100"] == pytest.approx(0.6)
    # Two images; the false positive (image 2, no overlap) outranks image 1's true positive and
    # image 2's plate is missed: precision 0 at rank 1, 1/2 at rank 2 with recall 1/2. With
    # COCO's 101-point interpolation, recall points 0..0.5 (51 of them) get precision 0.5: AP = 51 * 0.5 / 101.
    two = coco_map([dets([[0, 0, 100, 20]], [0.6]), dets([[200, 200, 250, 220]], [0.9])],
                   [truth([[0, 0, 100, 20]]), truth([[10, 10, 60, 30]])])
    assert two["map_50"] == pytest.approx(51 * 0.5 / 101, abs=1e-6)


def test_match_counts_by_hand():
    gt = truth([[0, 0, 10, 10], [20, 0, 30, 10]])
    # The top detection matches gt 0 (IoU 1); the second also overlaps gt 0 (IoU 0.667) but gt 0 is taken: FP;
    # the third overlaps gt 1 with IoU 0.333 < 0.5: FP; gt 1 stays unmatched: FN.
    counts = match_counts(dets([[0, 0, 10, 10], [0, 2, 10, 12], [25, 0, 35, 10]], [0.9, 0.8, 0.7]), gt)
    assert (counts.tp, counts.fp, counts.fn) == (1, 2, 1)
    assert counts.precision == pytest.approx(1 / 3) and counts.recall == pytest.approx(0.5)
    assert counts.f1 == pytest.approx(0.4)
    above = total_counts([dets([[0, 0, 10, 10], [0, 2, 10, 12]], [0.9, 0.3])], [gt], threshold=0.5)
    assert (above.tp, above.fp, above.fn) == (1, 0, 1)


def test_tuning_picks_the_nms_and_threshold_that_validation_favours():
    # Images 0-1: a good box (0.9) and a duplicate 2 px lower (IoU 96 / 144 = 0.667, score 0.85) that
    # outranks the good boxes of images 2-3 (0.5): NMS at 0.5 removes it, 0.7 keeps it (an FP at every
    # IoU threshold, so AP < 1). A stray box scores 0.3 on every image.
    raw, targets = [], []
    for i in range(4):
        x = 30.0 * i
        good = 0.9 if i < 2 else 0.5
        boxes, scores = [[x, 0, x + 12, 10], [200, 200, 210, 210]], [good, 0.3]
        if i < 2:
            boxes, scores = boxes + [[x, 2, x + 12, 12]], scores + [0.85]
        raw.append(dets(boxes, scores))
        targets.append(truth([[x, 0, x + 12, 10]]))
    chosen, record = tune_postprocess(raw, targets, PostprocessConfig(nms_threshold=0.7, confidence_threshold=0.1),
                                      nms_thresholds=[0.5, 0.7], confidence_thresholds=[0.1, 0.2, 0.4, 0.8])
    assert record["nms_map"][0.5] == pytest.approx(1.0) and record["nms_map"][0.7] < 1.0
    assert chosen.nms_threshold == 0.5
    # F1: 0.667 at 0.1 and 0.2 (4 strays), 1 at 0.4, 0.667 at 0.8 (images 2-3 missed).
    assert chosen.confidence_threshold == 0.4
    assert record["val_after"]["precision"] == 1.0 and record["val_before"]["precision"] < 1.0
