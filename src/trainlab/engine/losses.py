"""Classification-like losses with label smoothing and focal modulation, for any task.

Element-wise by default (``reduction="none"``), so a task can mask, mine (OHEM) or weight
the per-element values before reducing them.

Sources:
    - Label smoothing: Szegedy et al. 2016, "Rethinking the Inception Architecture for
      Computer Vision", Sec. 7: targets ``(1 - eps) * onehot + eps / K``; for binary
      targets ``K = 2``. Same definition as ``torch.nn.functional.cross_entropy(label_smoothing=)``.
    - Focal loss: Lin et al. 2017, "Focal Loss for Dense Object Detection", Sec. 3.1-3.2:
      ``FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t)``, alpha 0.25 and gamma 2 by default.
      The binary form matches ``torchvision.ops.sigmoid_focal_loss`` (soft targets
      included).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"reduction must be one of {', '.join(_REDUCTIONS)}, got {reduction!r}")


def _check_smoothing(label_smoothing: float) -> float:
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    return float(label_smoothing)


def smooth_binary_targets(target: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Binary targets moved towards 1/2: ``t (1 - eps) + eps / 2`` (Szegedy et al. 2016, K = 2).

    Args:
        target: Any shape, values in ``[0, 1]``, any float dtype.
        label_smoothing: ``eps`` in ``[0, 1)``; 0 returns ``target`` unchanged.

    Raises:
        ValueError: ``label_smoothing`` outside ``[0, 1)``.
    """
    eps = _check_smoothing(label_smoothing)
    return target if eps == 0.0 else target * (1.0 - eps) + 0.5 * eps


def binary_cross_entropy(input: torch.Tensor, target: torch.Tensor, *, from_logits: bool = False,
                         label_smoothing: float = 0.0, reduction: str = "none", eps: float = 1e-6) -> torch.Tensor:
    """Binary cross-entropy with optional label smoothing.

    Args:
        input: Probabilities in ``[0, 1]`` (clamped to ``[eps, 1 - eps]``) or, with
            ``from_logits``, logits; any shape; computed in float32.
        target: Same shape, values in ``[0, 1]``.
        from_logits: ``input`` holds logits (numerically stable path).
        label_smoothing: See :func:`smooth_binary_targets`.
        reduction: ``none`` (element-wise, float32), ``mean`` or ``sum``.
        eps: Probability clamp.

    Raises:
        ValueError: bad ``label_smoothing`` or ``reduction``.
    """
    input, target = input.float(), smooth_binary_targets(target.float(), label_smoothing)
    if from_logits:
        loss = F.binary_cross_entropy_with_logits(input, target, reduction="none")
    else:
        loss = F.binary_cross_entropy(input.clamp(eps, 1.0 - eps), target, reduction="none")
    return _reduce(loss, reduction)


def binary_focal_loss(input: torch.Tensor, target: torch.Tensor, *, alpha: float | None = 0.25, gamma: float = 2.0,
                      from_logits: bool = False, label_smoothing: float = 0.0, reduction: str = "none",
                      eps: float = 1e-6) -> torch.Tensor:
    """Binary focal loss (Lin et al. 2017, eq. 5), optionally on smoothed targets.

    ``p_t = p t + (1 - p)(1 - t)``, ``alpha_t = alpha t + (1 - alpha)(1 - t)``,
    ``loss = alpha_t (1 - p_t)^gamma BCE(p, t)``; identical to
    ``torchvision.ops.sigmoid_focal_loss`` when ``from_logits`` (soft targets included).

    Args:
        input: Probabilities (clamped to ``[eps, 1 - eps]``) or logits with ``from_logits``;
            any shape; computed in float32.
        target: Same shape, values in ``[0, 1]``.
        alpha: Weight of the positive class in ``[0, 1]``; ``None`` for no class weighting.
        gamma: Focusing exponent ``>= 0``; 0 gives (alpha-weighted) BCE.
        from_logits: ``input`` holds logits.
        label_smoothing: Applied to ``target`` first (see :func:`smooth_binary_targets`).
        reduction: ``none`` (element-wise), ``mean`` or ``sum``.
        eps: Probability clamp.

    Raises:
        ValueError: ``alpha`` outside ``[0, 1]``, negative ``gamma``, bad ``label_smoothing`` or ``reduction``.
    """
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise ValueError(f"focal alpha must be in [0, 1] or None, got {alpha}")
    if gamma < 0:
        raise ValueError(f"focal gamma must be >= 0, got {gamma}")
    input, target = input.float(), smooth_binary_targets(target.float(), label_smoothing)
    if from_logits:
        prob = torch.sigmoid(input)
        ce = F.binary_cross_entropy_with_logits(input, target, reduction="none")
    else:
        prob = input.clamp(eps, 1.0 - eps)
        ce = F.binary_cross_entropy(prob, target, reduction="none")
    p_t = prob * target + (1.0 - prob) * (1.0 - target)
    loss = ce * (1.0 - p_t) ** gamma
    if alpha is not None:
        loss = (alpha * target + (1.0 - alpha) * (1.0 - target)) * loss
    return _reduce(loss, reduction)


def focal_cross_entropy(logits: torch.Tensor, target: torch.Tensor, *, gamma: float = 2.0,
                        alpha: torch.Tensor | None = None, label_smoothing: float = 0.0,
                        reduction: str = "mean") -> torch.Tensor:
    """Multi-class focal loss ``-sum_k q_k alpha_k (1 - p_k)^gamma log p_k`` over a smoothed target distribution ``q``.

    With ``gamma = 0`` and no ``alpha`` it equals ``F.cross_entropy(logits, target,
    label_smoothing=...)``; with ``label_smoothing = 0`` it is Lin et al. 2017's focal loss
    for the true class.

    Args:
        logits: ``(N, K)`` or ``(N, K, d1, ...)`` class scores.
        target: ``(N,)`` or ``(N, d1, ...)`` int64 class indices.
        gamma: Focusing exponent ``>= 0``.
        alpha: Optional ``(K,)`` class weights.
        label_smoothing: ``eps`` in ``[0, 1)``: ``q = (1 - eps) onehot + eps / K``.
        reduction: ``none`` (per sample), ``mean`` or ``sum``.

    Raises:
        ValueError: negative ``gamma``, bad ``label_smoothing`` or ``reduction``.
    """
    if gamma < 0:
        raise ValueError(f"focal gamma must be >= 0, got {gamma}")
    eps = _check_smoothing(label_smoothing)
    log_p = F.log_softmax(logits.float(), dim=1)
    classes = logits.shape[1]
    q = F.one_hot(target.long(), classes).movedim(-1, 1).float()
    q = q * (1.0 - eps) + eps / classes
    weight = (1.0 - log_p.exp()) ** gamma
    if alpha is not None:
        weight = weight * alpha.float().view(1, classes, *([1] * (logits.ndim - 2)))
    return _reduce(-(q * weight * log_p).sum(dim=1), reduction)
