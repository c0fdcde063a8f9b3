"""DB head: probability map, threshold map and the differentiable (approximate) binary map.

Source: Liao et al., AAAI 2020, Sec. 3.1-3.2: ``B = 1 / (1 + exp(-k (P - T)))`` with
amplifying factor ``k = 50``. Each branch is a 3x3 convolution, then two stride-2
transposed convolutions back to the input resolution, then a sigmoid.
"""

from __future__ import annotations

import torch
from torch import nn


def db_branch(in_channels: int) -> nn.Sequential:
    """One branch of the DB head: ``(B, C, H/4, W/4)`` features to ``(B, 1, H, W)`` logits (no sigmoid).

    3x3 convolution to ``C / 4`` channels, batch-norm, ReLU, then two stride-2 transposed
    convolutions (the second to one channel) with a batch-norm and ReLU between them
    (Liao et al., AAAI 2020, Sec. 3.1; the layout of PaddleOCR's ``DBHead`` ``Head``).
    """
    mid = in_channels // 4
    return nn.Sequential(
        nn.Conv2d(in_channels, mid, 3, padding=1, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(mid, mid, 2, stride=2),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(mid, 1, 2, stride=2),
    )


class DBHead(nn.Module):
    """Differentiable-binarization head.

    Args:
        in_channels: Channels of the stride-4 neck output.
        k: Amplifying factor of the approximate step function (50 in the paper).

    Input: ``(B, C, H/4, W/4)`` float32.
    Output: dict of ``(B, 1, H, W)`` float32 maps in ``[0, 1]``: ``prob_map`` always;
    ``thresh_map`` and ``binary_map`` too in training mode (or with ``with_threshold``).
    """

    def __init__(self, in_channels: int, k: float = 50.0):
        super().__init__()
        self.k = k
        self.prob_branch = db_branch(in_channels)
        self.thresh_branch = db_branch(in_channels)
        # Start the probability logits at a low text prior, as in focal-loss initialisation.
        nn.init.constant_(self.prob_branch[-1].bias, -2.0)

    def forward(self, features: torch.Tensor, with_threshold: bool | None = None) -> dict[str, torch.Tensor]:
        prob_map = torch.sigmoid(self.prob_branch(features))
        if with_threshold is None:
            with_threshold = self.training
        if not with_threshold:
            return {"prob_map": prob_map}
        thresh_map = torch.sigmoid(self.thresh_branch(features))
        binary_map = torch.sigmoid(self.k * (prob_map - thresh_map))
        return {"prob_map": prob_map, "thresh_map": thresh_map, "binary_map": binary_map}
