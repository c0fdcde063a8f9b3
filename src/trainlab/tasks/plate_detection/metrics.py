"""Detection metrics: COCO mAP from torchmetrics, precision/recall at a threshold, and the
choice of the decision parameters on validation.

- COCO box mAP (Lin et al., ECCV 2014; cocodataset.org "Detection evaluation"):
  ``torchmetrics.detection.MeanAveragePrecision`` with the ``pycocotools`` backend (the
  reference COCOeval): ``map`` (mAP@[.5:.95], IoU 0.50 to 0.95 in steps of 0.05, 101-point
  interpolated precision), ``map_50``, ``map_75``, ``mar_100`` (mean recall with at most 100
  detections per image), and the size breakdowns (``map_small`` ...).
- Precision/recall at a confidence threshold (:func:`match_counts`): detections above the
  threshold, greedily matched in descending score order to the unmatched ground-truth box of
  the same class with the highest IoU, a match needing IoU >= 0.5 (PASCAL VOC's rule,
  Everingham et al., IJCV 2010, Sec. 4.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics.detection import MeanAveragePrecision
from torchvision.ops import box_iou

from trainlab.tasks.plate_detection.postprocess import Detections, PostprocessConfig, confident, postprocess

MAP_KEYS = ("map", "map_50", "map_75", "mar_100", "map_small", "map_medium", "map_large")


def coco_map(predictions: Sequence[Detections], targets: Sequence[Detections], backend: str = "pycocotools") -> dict[str, float]:
    """COCO box mAP of ranked detections (see the module docstring).

    Args:
        predictions: Per image ``boxes`` ``(N, 4)`` xyxy pixels, ``scores`` ``(N,)``, ``labels`` ``(N,)`` int64.
        targets: Per image ``boxes`` ``(M, 4)`` and ``labels`` ``(M,)``.
        backend: ``pycocotools`` or ``faster_coco_eval``.

    Returns:
        :data:`MAP_KEYS` -> float (COCO reports -1 where a size range has no ground truth).
    """
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend=backend)
    metric.update([{k: p[k].detach().cpu().float() if k != "labels" else p[k].detach().cpu() for k in ("boxes", "scores", "labels")}
                   for p in predictions],
                  [{"boxes": t["boxes"].detach().cpu().float(), "labels": t["labels"].detach().cpu()} for t in targets])
    result = metric.compute()
    return {key: float(result[key]) for key in MAP_KEYS}


@dataclass(frozen=True)
class MatchCounts:
    """True positives, false positives and false negatives at one threshold (plus derived rates)."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """``tp / (tp + fp)``; 1.0 when nothing was detected (no false alarm)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """``tp / (tp + fn)``; 1.0 when there is no ground truth."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: MatchCounts) -> MatchCounts:
        return MatchCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def match_counts(prediction: Detections, target: Detections, iou_threshold: float = 0.5) -> MatchCounts:
    """Greedy one-to-one matching of one image's detections (all of them: threshold first) to its ground truth.

    Returns:
        The image's :class:`MatchCounts`.
    """
    order = torch.argsort(prediction["scores"], descending=True)
    boxes, labels = prediction["boxes"][order].float(), prediction["labels"][order]
    gt_boxes, gt_labels = target["boxes"].float(), target["labels"]
    if len(boxes) == 0 or len(gt_boxes) == 0:
        return MatchCounts(0, len(boxes), len(gt_boxes))
    iou = box_iou(boxes, gt_boxes)
    iou[labels[:, None] != gt_labels[None, :]] = -1.0
    taken = torch.zeros(len(gt_boxes), dtype=torch.bool)
    tp = 0
    for row in iou:
        row = row.masked_fill(taken, -1.0)
        best = int(row.argmax())
        if row[best] >= iou_threshold:
            taken[best] = True
            tp += 1
    return MatchCounts(tp, len(boxes) - tp, len(gt_boxes) - tp)


def total_counts(predictions: Sequence[Detections], targets: Sequence[Detections], threshold: float,
                 iou_threshold: float = 0.5) -> MatchCounts:
    """:class:`MatchCounts` summed over images, keeping detections scoring at least ``threshold``."""
    total = MatchCounts(0, 0, 0)
    for prediction, target in zip(predictions, targets):
        keep = prediction["scores"] >= threshold
        total = total + match_counts({k: v[keep] for k, v in prediction.items()}, target, iou_threshold)
    return total


def evaluate(raw: Sequence[Detections], targets: Sequence[Detections], config: PostprocessConfig) -> dict[str, float]:
    """Post-process raw detections with ``config`` and score them.

    Returns:
        :data:`MAP_KEYS` plus ``precision``, ``recall``, ``f1``, ``tp``, ``fp``, ``fn`` at
        ``config.confidence_threshold`` (IoU 0.5).
    """
    kept = [postprocess(r, config) for r in raw]
    counts = total_counts([confident(k, config) for k in kept], targets, 0.0)
    return {**coco_map(kept, targets), "precision": counts.precision, "recall": counts.recall, "f1": counts.f1,
            "tp": counts.tp, "fp": counts.fp, "fn": counts.fn}


def _closest_best(values: Sequence[float], scores: Sequence[float], preferred: float) -> float:
    """The value with the best score; ties go to the value closest to ``preferred``."""
    best = max(scores)
    tied = [v for v, s in zip(values, scores) if s >= best - 1e-12]
    return min(tied, key=lambda v: (abs(v - preferred), v))


def tune_postprocess(raw: Sequence[Detections], targets: Sequence[Detections], config: PostprocessConfig,
                     nms_thresholds: Sequence[float], confidence_thresholds: Sequence[float]) -> tuple[PostprocessConfig, dict]:
    """Choose the NMS IoU by COCO mAP@[.5:.95], then the confidence threshold by F1 (IoU 0.5), on validation.

    Ties keep the value closest to the configured one.

    Args:
        raw: The detector's raw detections on the validation images (no NMS).
        targets: Their ground truth.
        config: The configured parameters (start point, and the tie-breaker).
        nms_thresholds: NMS IoU values to try.
        confidence_thresholds: Confidence thresholds to try.

    Returns:
        ``(chosen config, record)``; the record has the mAP of every NMS value, the F1 of every
        threshold, and the validation metrics before and after.

    Raises:
        ValueError: an empty grid or no validation image.
    """
    if not raw or not len(nms_thresholds) or not len(confidence_thresholds):
        raise ValueError("tuning needs validation images and non-empty threshold grids")
    maps = [coco_map([postprocess(r, config.with_values(nms_threshold=t)) for r in raw], targets)["map"]
            for t in nms_thresholds]
    nms = _closest_best(nms_thresholds, maps, config.nms_threshold)
    kept = [postprocess(r, config.with_values(nms_threshold=nms)) for r in raw]
    f1s = [total_counts(kept, targets, float(t)).f1 for t in confidence_thresholds]
    threshold = _closest_best(confidence_thresholds, f1s, config.confidence_threshold)
    chosen = config.with_values(nms_threshold=float(nms), confidence_threshold=float(threshold))
    record = {"nms_map": dict(zip(map(float, nms_thresholds), maps)),
              "confidence_f1": dict(zip(map(float, confidence_thresholds), f1s)),
              "val_before": evaluate(raw, targets, config), "val_after": evaluate(raw, targets, chosen)}
    return chosen, record


def per_image_rows(names: Sequence[str], raw: Sequence[Detections], targets: Sequence[Detections],
                   config: PostprocessConfig) -> list[dict]:
    """One row per image: ground-truth and detection counts at the threshold, TP/FP/FN (IoU 0.5),
    the best IoU of any ranked detection with a ground-truth box, and the top score."""
    rows = []
    for name, r, target in zip(names, raw, targets):
        kept = postprocess(r, config)
        above = confident(kept, config)
        counts = match_counts(above, target)
        best_iou = float(box_iou(kept["boxes"].float(), target["boxes"].float()).max()) \
            if len(kept["boxes"]) and len(target["boxes"]) else 0.0
        rows.append({"image": name, "ground_truth": len(target["boxes"]), "detections": len(above["boxes"]),
                     "tp": counts.tp, "fp": counts.fp, "fn": counts.fn, "best_iou": round(best_iou, 4),
                     "top_score": round(float(kept["scores"].max()), 4) if len(kept["scores"]) else 0.0})
    return rows


def threshold_grid(start: float, stop: float, step: float) -> list[float]:
    """``start, start + step, ... <= stop`` rounded to 4 decimals."""
    return [round(float(v), 4) for v in np.arange(start, stop + step / 2, step)]
