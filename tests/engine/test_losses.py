"""Engine losses against their reference implementations, and the DB loss options that use them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from trainlab.engine.losses import (
    binary_cross_entropy,
    binary_focal_loss,
    focal_cross_entropy,
    smooth_binary_targets,
)
from trainlab.tasks.text_detection.losses.db_loss import DBLoss, balanced_bce_ohem


@pytest.fixture
def logits_and_targets():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 32, 32, generator=generator) * 3
    hard = (torch.rand(4, 32, 32, generator=generator) > 0.7).float()
    soft = torch.rand(4, 32, 32, generator=generator)
    return logits, hard, soft


@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (0.5, 0.0), (0.9, 1.5)])
def test_binary_focal_loss_matches_torchvision(logits_and_targets, alpha, gamma):
    logits, hard, soft = logits_and_targets
    for target in (hard, soft):
        reference = sigmoid_focal_loss(logits, target, alpha=alpha, gamma=gamma, reduction="none")
        torch.testing.assert_close(binary_focal_loss(logits, target, alpha=alpha, gamma=gamma, from_logits=True),
                                   reference)
        # The probability form (DB heads output probabilities) agrees where probabilities are not clamped.
        prob = torch.sigmoid(logits)
        inside = (prob > 1e-5) & (prob < 1 - 1e-5)
        torch.testing.assert_close(binary_focal_loss(prob, target, alpha=alpha, gamma=gamma)[inside],
                                   reference[inside], rtol=1e-3, atol=1e-5)  # float32 log(1 - p)
    unweighted = sigmoid_focal_loss(logits, hard, alpha=-1, gamma=gamma, reduction="sum")
    torch.testing.assert_close(binary_focal_loss(logits, hard, alpha=None, gamma=gamma, from_logits=True,
                                                 reduction="sum"), unweighted)


def test_binary_label_smoothing_matches_two_class_cross_entropy(logits_and_targets):
    """BCE on targets t(1-eps)+eps/2 equals torch's cross_entropy(label_smoothing=eps) on the logits [0, z]."""
    logits, hard, _ = logits_and_targets
    two_class = torch.stack([torch.zeros_like(logits), logits], dim=1)  # softmax gives p1 = sigmoid(z)
    for eps in (0.05, 0.1):
        reference = F.cross_entropy(two_class, hard.long(), label_smoothing=eps, reduction="none")
        torch.testing.assert_close(binary_cross_entropy(logits, hard, from_logits=True, label_smoothing=eps),
                                   reference, rtol=1e-5, atol=1e-6)
    assert torch.equal(smooth_binary_targets(hard, 0.0), hard)
    torch.testing.assert_close(smooth_binary_targets(torch.tensor([0.0, 1.0]), 0.1), torch.tensor([0.05, 0.95]))


def test_focal_cross_entropy_reduces_to_torch_cross_entropy():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 5, 3, 3, generator=generator)
    target = torch.randint(0, 5, (6, 3, 3), generator=generator)
    for eps in (0.0, 0.1):
        torch.testing.assert_close(focal_cross_entropy(logits, target, gamma=0.0, label_smoothing=eps),
                                   F.cross_entropy(logits, target, label_smoothing=eps))
    # gamma > 0, no smoothing: -(1 - p_y)^gamma log p_y (Lin et al. 2017).
    log_p = F.log_softmax(logits, 1).gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(focal_cross_entropy(logits, target, gamma=2.0, reduction="none"),
                               -(1 - log_p.exp()) ** 2 * log_p)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        smooth_binary_targets(torch.zeros(2), 1.0)
    with pytest.raises(ValueError, match="focal alpha"):
        binary_focal_loss(torch.zeros(2), torch.zeros(2), alpha=1.5)
    with pytest.raises(ValueError, match="model.loss.prob_loss must be one of bce, focal, dice"):
        DBLoss(prob_loss="hinge")
    with pytest.raises(ValueError, match="model.loss.label_smoothing"):
        DBLoss(label_smoothing=-0.1)


def test_db_probability_term_options(logits_and_targets):
    """Default unchanged; focal and smoothing change the per-pixel losses that OHEM mines."""
    logits, hard, _ = logits_and_targets
    prob, mask = torch.sigmoid(logits), torch.ones_like(hard)
    default = balanced_bce_ohem(prob, hard, mask)
    # The default is the paper's BCE + OHEM, computed here from scratch.
    bce = F.binary_cross_entropy(prob.clamp(1e-6, 1 - 1e-6), hard, reduction="none")
    n_pos = int(hard.sum())
    n_neg = min(int((1 - hard).sum()), 3 * n_pos)
    expected = ((bce * hard).sum() + torch.topk((bce * (1 - hard)).reshape(-1), n_neg).values.sum()) / (n_pos + n_neg + 1e-6)
    torch.testing.assert_close(default, expected)
    focal = balanced_bce_ohem(prob, hard, mask, prob_loss="focal")
    smoothed = balanced_bce_ohem(prob, hard, mask, label_smoothing=0.1)
    assert focal < default and not torch.isclose(smoothed, default)
    per_pixel = binary_focal_loss(prob, hard)
    expected_focal = ((per_pixel * hard).sum() + torch.topk((per_pixel * (1 - hard)).reshape(-1), n_neg).values.sum()) \
        / (n_pos + n_neg + 1e-6)
    torch.testing.assert_close(focal, expected_focal)
    outputs = {"prob_map": prob[:, None]}
    targets = {"prob_map": hard, "prob_mask": mask}
    torch.testing.assert_close(DBLoss(prob_loss="focal", prob_weight=1.0)(outputs, targets)["loss"], focal)
    # dice (PaddleOCR's main_loss_type: DiceLoss): 1 - 2|P∩G| / (|P| + |G|) over the whole batch, no mining.
    dice = DBLoss(prob_loss="dice", prob_weight=1.0)(outputs, targets)["loss"]
    torch.testing.assert_close(dice, 1 - 2 * (prob * hard).sum() / (prob.sum() + hard.sum() + 1e-6))
    odd = (torch.arange(hard.shape[-1]) % 2).float().expand_as(hard)  # the mask keeps every other column
    expected_masked = 1 - 2 * (prob * hard * odd).sum() / ((prob * odd).sum() + (hard * odd).sum() + 1e-6)
    masked = DBLoss(prob_loss="dice")(outputs, {"prob_map": hard, "prob_mask": odd})["loss"]
    torch.testing.assert_close(masked, 5.0 * expected_masked)
    assert not torch.isclose(masked, 5.0 * dice)
