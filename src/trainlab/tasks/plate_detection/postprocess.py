"""Post-processing of raw detections: score floor, class-aware NMS, a cap, and the confidence threshold.

The detector returns every candidate box (its own NMS is off, see
:func:`~trainlab.tasks.plate_detection.model.build_retinanet`); :func:`postprocess` keeps boxes
scoring at least ``score_floor``, suppresses, per class, boxes overlapping a better-scoring box
by more than ``nms_threshold`` IoU (greedy NMS, Neubeck & Van Gool, ICPR 2006, as
``torchvision.ops.batched_nms``) and keeps the ``max_detections`` best. mAP is computed on these
ranked detections (the COCO protocol ranks by score and needs no threshold); predictions
written for users, and precision/recall, keep those scoring at least ``confidence_threshold``.
``nms_threshold`` and ``confidence_threshold`` are chosen on the validation split
(:func:`~trainlab.tasks.plate_detection.metrics.tune_postprocess`) and stored in the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torchvision.ops import batched_nms


@dataclass(frozen=True)
class PostprocessConfig:
    """Decision parameters of post-processing.

    Attributes:
        confidence_threshold: Minimum score of a reported detection (predictions, precision/recall).
        nms_threshold: IoU above which NMS suppresses the lower-scoring of two same-class boxes.
        score_floor: Minimum score of a ranked detection (for mAP; torchvision's default 0.05).
        max_detections: Detections kept per image after NMS (COCO's 100).
    """

    confidence_threshold: float = 0.25
    nms_threshold: float = 0.5
    score_floor: float = 0.05
    max_detections: int = 100

    def __post_init__(self) -> None:
        for name in ("confidence_threshold", "nms_threshold", "score_floor"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"postprocess.{name} must be in [0, 1], got {value}")
        if int(self.max_detections) < 1:
            raise ValueError(f"postprocess.max_detections must be positive, got {self.max_detections}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> PostprocessConfig:
        """Build from a config section.

        Raises:
            ValueError: an unknown key (the valid ones listed) or a value out of range.
        """
        values = dict(values or {})
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValueError(f"unknown postprocess key(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
        return cls(**values)

    def with_values(self, **values: Any) -> PostprocessConfig:
        """A copy with some values replaced (checked like :meth:`from_mapping`)."""
        return PostprocessConfig.from_mapping({**asdict(self), **values})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Detections = dict[str, torch.Tensor]  # boxes (N, 4) float32 xyxy pixels, scores (N,) float32, labels (N,) int64


def postprocess(detections: Detections, config: PostprocessConfig) -> Detections:
    """Score floor, class-aware NMS and the ``max_detections`` best, sorted by score (descending).

    Args:
        detections: ``boxes`` ``(N, 4)`` float ``x1, y1, x2, y2``, ``scores`` ``(N,)`` float,
            ``labels`` ``(N,)`` int64.
        config: The thresholds.

    Returns:
        The kept detections, same keys and dtypes.
    """
    keep = detections["scores"] >= config.score_floor
    boxes, scores, labels = detections["boxes"][keep], detections["scores"][keep], detections["labels"][keep]
    kept = batched_nms(boxes.float(), scores.float(), labels, float(config.nms_threshold))[: int(config.max_detections)]
    return {"boxes": boxes[kept], "scores": scores[kept], "labels": labels[kept]}


def confident(detections: Detections, config: PostprocessConfig) -> Detections:
    """The detections scoring at least ``config.confidence_threshold``."""
    keep = detections["scores"] >= config.confidence_threshold
    return {key: value[keep] for key, value in detections.items()}

