"""Adaptive Scale Fusion (ASF), the neck module that DBNet++ adds to DBNet.

Source: Liao et al., "Real-Time Scene Text Detection with Differentiable Binarization and
Adaptive Scale Fusion", TPAMI 2022 (https://arxiv.org/abs/2202.10304), Sec. 3.2 and Fig. 4.
The ``N`` FPN levels, upsampled to stride 4, are concatenated; a 3x3 convolution reduces
them to ``C / 4`` channels; attention is computed from that map and a 1x1 convolution with a
sigmoid turns it into one weight map per level, ``A`` of shape ``(B, N, H, W)``; the output
is the concatenation of ``A_i * X_i``. The attention follows the authors' reference code
(MhLiao/DB, ``decoders/feature_attention.py``, ``ScaleChannelSpatialAttention``): a channel
attention (global average pool, 1x1 conv to ``C / 16``, ReLU, 1x1 conv back, sigmoid) added
to the features, then a spatial attention (channel mean, 3x3 conv, ReLU, 1x1 conv, sigmoid)
added to them. ``channel_attention=False`` gives the spatial-only ``ScaleSpatialAttention``
of the same code, which is what Fig. 4 of the paper draws.
"""

from __future__ import annotations

import torch
from torch import nn


class AdaptiveScaleFusion(nn.Module):
    """Weight each pyramid level per pixel and concatenate.

    Args:
        in_channels: Channels of the concatenated levels (``N * level_channels``).
        num_levels: Number of levels ``N`` (4 in DBNet++).
        channel_attention: Add the channel-attention branch (reference ``scale_channel_spatial``);
            False keeps the spatial attention alone (``scale_spatial``).

    Input: a list of ``N`` tensors ``(B, C_l, H, W)`` with ``N * C_l == in_channels``.
    Output: ``(B, in_channels, H, W)``: the levels, each scaled by its attention map, concatenated
    in input order.

    Raises:
        ValueError: ``in_channels`` is not divisible by 4 (the reduced width is ``in_channels / 4``),
            or the forward pass gets a number of levels other than ``num_levels``.
    """

    def __init__(self, in_channels: int, num_levels: int = 4, channel_attention: bool = True):
        super().__init__()
        if in_channels % 4:
            raise ValueError(f"ASF in_channels must be a multiple of 4, got {in_channels}")
        reduced = in_channels // 4
        self.num_levels = num_levels
        self.reduce = nn.Conv2d(in_channels, reduced, 3, padding=1)
        self.channel_attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(reduced, max(1, reduced // 4), 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(max(1, reduced // 4), reduced, 1, bias=False),
            nn.Sigmoid(),
        ) if channel_attention else None
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(1, 1, 3, padding=1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(1, 1, 1, bias=False),
            nn.Sigmoid(),
        )
        self.scale_attention = nn.Sequential(nn.Conv2d(reduced, num_levels, 1, bias=False), nn.Sigmoid())
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def attention(self, levels: list[torch.Tensor]) -> torch.Tensor:
        """The per-level weight maps ``(B, N, H, W)`` in ``[0, 1]``."""
        if len(levels) != self.num_levels:
            raise ValueError(f"ASF expects {self.num_levels} levels, got {len(levels)}")
        x = self.reduce(torch.cat(levels, dim=1))
        if self.channel_attention is not None:
            x = self.channel_attention(x) + x
        x = self.spatial_attention(x.mean(dim=1, keepdim=True)) + x
        return self.scale_attention(x)

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        weights = self.attention(levels)
        return torch.cat([weights[:, i : i + 1] * level for i, level in enumerate(levels)], dim=1)
