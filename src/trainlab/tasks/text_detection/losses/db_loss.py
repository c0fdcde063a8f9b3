"""DBNet loss: balanced BCE with OHEM on the probability map, dice on the approximate
binary map, masked L1 on the threshold map.

Source: Liao et al., AAAI 2020, Sec. 3.6 "Optimization": ``L = L_s + alpha L_b + beta L_t``,
with hard-negative mining at a 1:3 positive:negative ratio for ``L_s``. The default weights
(probability 5, binary 1, threshold 10) and the dice form of the binary loss follow the
authors' reference implementation (MhLiao/DB ``L1BalanceCELoss``).

Options of the probability-map term (defaults keep the paper's loss): ``prob_loss: focal``
replaces its BCE by the focal loss (Lin et al. 2017) and ``label_smoothing`` smooths its
targets (Szegedy et al. 2016); both come from :mod:`trainlab.engine.losses`. Hard-negative
mining still selects the largest per-pixel losses. ``prob_loss: dice`` trains the probability
map with the dice loss instead, as PaddleOCR's DB configs do (``DBLoss`` with
``main_loss_type: DiceLoss``, e.g. ``configs/det/PP-OCRv4/PP-OCRv4_mobile_det.yml``): its
``BalanceLoss`` multiplies a scalar dice by the mined pixel counts and divides by the same
counts, so the term is the plain masked dice, and fine-tuning PaddleOCR's detectors with it
keeps the objective they were trained with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainlab.engine.losses import binary_focal_loss, smooth_binary_targets

PROB_LOSSES = ("bce", "focal", "dice")


def balanced_bce_ohem(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor,
                      negative_ratio: float = 3.0, eps: float = 1e-6, prob_loss: str = "bce",
                      label_smoothing: float = 0.0, focal_alpha: float | None = 0.25,
                      focal_gamma: float = 2.0) -> torch.Tensor:
    """Per-pixel loss over all positives and the hardest ``negative_ratio`` x as many negatives.

    Args:
        pred: ``(B, H, W)`` probabilities in ``[0, 1]``.
        gt: ``(B, H, W)`` targets in ``{0, 1}``.
        mask: ``(B, H, W)`` 1 where the loss applies.
        negative_ratio: Negatives kept per positive (3 in the paper).
        prob_loss: ``bce`` (the paper) or ``focal`` (:func:`~trainlab.engine.losses.binary_focal_loss`).
        label_smoothing: Smoothing of the targets (0: none); positives and negatives are
            still told apart by ``gt``.
        focal_alpha: Focal weight of positives (``None``: no class weighting).
        focal_gamma: Focal exponent.

    Returns:
        Scalar float32 tensor; 0 for a batch without positives, as in the reference
        implementation (no negative is mined then).

    Raises:
        ValueError: unknown ``prob_loss`` or bad smoothing / focal parameters.
    """
    pred, gt, mask = pred.float(), gt.float(), mask.float()  # BCE on probabilities needs float32
    positive = gt * mask
    negative = (1.0 - gt) * mask
    n_pos = int(positive.sum().item())
    n_neg = min(int(negative.sum().item()), int(n_pos * negative_ratio))
    target = smooth_binary_targets(gt, label_smoothing)
    if prob_loss == "bce":
        loss = F.binary_cross_entropy(pred.clamp(eps, 1 - eps), target, reduction="none")
    elif prob_loss == "focal":
        loss = binary_focal_loss(pred, target, alpha=focal_alpha, gamma=focal_gamma, eps=eps)
    else:
        raise ValueError(f"model.loss.prob_loss must be one of {', '.join(PROB_LOSSES)}, got {prob_loss!r}")
    pos_loss = (loss * positive).sum()
    neg_loss = loss * negative
    neg_loss = torch.topk(neg_loss.reshape(-1), n_neg).values.sum() if n_neg > 0 else neg_loss.sum() * 0.0
    return (pos_loss + neg_loss) / (n_pos + n_neg + eps)


def dice_loss(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``1 - 2 |P∩G| / (|P| + |G|)`` over masked pixels; inputs ``(B, H, W)``; scalar output."""
    pred, gt, mask = pred.float(), gt.float(), mask.float()
    intersection = (pred * gt * mask).sum()
    union = (pred * mask).sum() + (gt * mask).sum() + eps
    return 1.0 - 2.0 * intersection / union


def masked_l1(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean absolute error over pixels where ``mask`` is 1; inputs ``(B, H, W)``; scalar output."""
    return (torch.abs(pred.float() - gt.float()) * mask).sum() / (mask.sum() + eps)


class DBLoss(nn.Module):
    """Weighted sum of the three DB losses.

    Args:
        prob_weight: Weight of the probability-map BCE (5 in the reference implementation).
        binary_weight: Weight of the binary-map dice (alpha, 1).
        thresh_weight: Weight of the threshold-map L1 (beta, 10).
        negative_ratio: OHEM negatives per positive (3).
        prob_loss: Probability-map term: ``bce`` (paper, with OHEM), ``focal`` (with OHEM) or
            ``dice`` (PaddleOCR's ``main_loss_type: DiceLoss``; no mining, ``negative_ratio``
            unused).
        label_smoothing: Target smoothing of the probability-map term (0: none).
        focal_alpha: Focal-loss weight of positives (0.25, Lin et al. 2017); ``None``: unweighted.
        focal_gamma: Focal-loss exponent (2).

    Forward:
        outputs: ``prob_map`` and (training) ``thresh_map``, ``binary_map``, each ``(B, 1, H, W)``.
        targets: ``prob_map``, ``prob_mask``, ``thresh_map``, ``thresh_mask``, each ``(B, H, W)`` float32.

    Returns:
        Dict of scalar tensors: ``loss`` (total), ``loss_prob``, ``loss_binary``, ``loss_thresh``.

    Raises:
        ValueError: unknown ``prob_loss`` or ``label_smoothing`` outside ``[0, 1)``.
    """

    def __init__(self, prob_weight: float = 5.0, binary_weight: float = 1.0, thresh_weight: float = 10.0,
                 negative_ratio: float = 3.0, prob_loss: str = "bce", label_smoothing: float = 0.0,
                 focal_alpha: float | None = 0.25, focal_gamma: float = 2.0):
        super().__init__()
        if prob_loss not in PROB_LOSSES:
            raise ValueError(f"model.loss.prob_loss must be one of {', '.join(PROB_LOSSES)}, got {prob_loss!r}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"model.loss.label_smoothing must be in [0, 1), got {label_smoothing}")
        self.prob_weight = prob_weight
        self.binary_weight = binary_weight
        self.thresh_weight = thresh_weight
        self.negative_ratio = negative_ratio
        self.prob_options = {"prob_loss": prob_loss, "label_smoothing": float(label_smoothing),
                             "focal_alpha": focal_alpha, "focal_gamma": float(focal_gamma)}

    def forward(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        prob = outputs["prob_map"][:, 0]
        if self.prob_options["prob_loss"] == "dice":
            gt = smooth_binary_targets(targets["prob_map"], self.prob_options["label_smoothing"])
            losses = {"loss_prob": dice_loss(prob, gt, targets["prob_mask"])}
        else:
            losses = {"loss_prob": balanced_bce_ohem(prob, targets["prob_map"], targets["prob_mask"],
                                                       self.negative_ratio, **self.prob_options)}
        total = self.prob_weight * losses["loss_prob"]
        if "binary_map" in outputs:
            losses["loss_binary"] = dice_loss(outputs["binary_map"][:, 0], targets["prob_map"], targets["prob_mask"])
            losses["loss_thresh"] = masked_l1(outputs["thresh_map"][:, 0], targets["thresh_map"], targets["thresh_mask"])
            total = total + self.binary_weight * losses["loss_binary"] + self.thresh_weight * losses["loss_thresh"]
        losses["loss"] = total
        return losses
