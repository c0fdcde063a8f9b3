"""CRAFT loss: confidence-weighted squared error on the region and affinity scores, with OHEM.

Source: Baek et al., CVPR 2019, Sec. 3.2, Eq. 2: ``L = sum_p S_c(p) (||S_r(p) - S_r*(p)||^2 +
||S_a(p) - S_a*(p)||^2)``. The paper does not spell out the sampling; like the public
re-implementations (backtime92/CRAFT-Reimplementation, ``loss/mseloss.py``, and the
official training code released with CRAFT-pytorch), every image keeps all positive pixels
(target >= ``positive_threshold``) and the ``negative_ratio`` x as many hardest negatives,
averaging each set separately; an image without positives keeps its ``min_negatives``
hardest pixels. Unlike backtime92's code, pixels with confidence 0 (don't-care, tiny text)
count as neither positives nor negatives.
"""

from __future__ import annotations

import torch
from torch import nn


def ohem_mse(pred: torch.Tensor, target: torch.Tensor, confidence: torch.Tensor, negative_ratio: float = 3.0,
             positive_threshold: float = 0.1, min_negatives: int = 500) -> torch.Tensor:
    """Confidence-weighted squared error with per-image hard-negative mining.

    Args:
        pred: ``(B, H, W)`` predicted scores.
        target: ``(B, H, W)`` target scores in ``[0, 1]``.
        confidence: ``(B, H, W)`` per-pixel weights in ``[0, 1]``; 0 excludes a pixel.
        negative_ratio: Hard negatives kept per positive pixel (3).
        positive_threshold: Target value from which a pixel is positive (0.1).
        min_negatives: Hardest pixels kept in an image without positives (500).

    Returns:
        Scalar float32 tensor: the mean over images of (mean positive loss + mean kept
        negative loss).
    """
    pred, target, confidence = pred.float(), target.float(), confidence.float()
    loss = (pred - target) ** 2 * confidence
    valid = confidence > 0
    total = pred.new_zeros(())
    for image_loss, image_target, image_valid in zip(loss, target, valid):
        positive = image_valid & (image_target >= positive_threshold)
        negative = image_valid & (image_target < positive_threshold)
        n_pos = int(positive.sum())
        if n_pos:
            total = total + image_loss[positive].mean()
            negatives = image_loss[negative]
            n_neg = min(len(negatives), int(n_pos * negative_ratio))
            if n_neg:
                total = total + torch.topk(negatives, n_neg).values.mean()
        else:
            candidates = image_loss[image_valid]
            n_neg = min(len(candidates), min_negatives)
            if n_neg:
                total = total + torch.topk(candidates, n_neg).values.mean()
    return total / max(len(loss), 1)


class CraftLoss(nn.Module):
    """Region plus affinity :func:`ohem_mse`.

    Args:
        region_weight: Weight of the region-score term (1).
        affinity_weight: Weight of the affinity-score term (1).
        negative_ratio: OHEM negatives per positive (3).

    Forward:
        outputs: ``region_map`` and ``affinity_map``, each ``(B, 1, h, w)``.
        targets: ``region_map``, ``affinity_map``, ``confidence_map``, each ``(B, h, w)`` float32.

    Returns:
        Dict of scalar tensors: ``loss`` (total), ``loss_region``, ``loss_affinity``.
    """

    def __init__(self, region_weight: float = 1.0, affinity_weight: float = 1.0, negative_ratio: float = 3.0):
        super().__init__()
        self.region_weight = region_weight
        self.affinity_weight = affinity_weight
        self.negative_ratio = negative_ratio

    def forward(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        confidence = targets["confidence_map"]
        region = ohem_mse(outputs["region_map"][:, 0], targets["region_map"], confidence, self.negative_ratio)
        affinity = ohem_mse(outputs["affinity_map"][:, 0], targets["affinity_map"], confidence, self.negative_ratio)
        return {"loss": self.region_weight * region + self.affinity_weight * affinity,
                "loss_region": region, "loss_affinity": affinity}
