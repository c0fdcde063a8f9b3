"""FPN neck of DBNet: fuse the stride-4..32 pyramid into one stride-4 feature map.

Source: Liao et al., AAAI 2020, Sec. 3.1 and Fig. 3; Lin et al., "Feature Pyramid
Networks for Object Detection", CVPR 2017. Lateral 1x1 convolutions to ``inner_channels``,
top-down addition with nearest upsampling, a 3x3 convolution per level to
``inner_channels / 4``, upsampling to stride 4 and concatenation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FPNNeck(nn.Module):
    """DB feature-pyramid neck.

    Args:
        in_channels: Channels of the 4 encoder features, strides 4, 8, 16, 32.
        inner_channels: Lateral width; the output has this many channels (256 in the paper).

    Input: list of 4 tensors ``(B, C_i, H/s, W/s)``.
    Output: ``(B, inner_channels, H/4, W/4)``; with :attr:`return_levels` the 4 per-level
    maps ``(B, inner_channels/4, H/4, W/4)`` are returned instead, for the ASF module.

    Raises:
        ValueError: ``in_channels`` does not have 4 entries or ``inner_channels`` is not a
            multiple of 4.
    """

    def __init__(self, in_channels: list[int], inner_channels: int = 256, return_levels: bool = False):
        super().__init__()
        if len(in_channels) != 4:
            raise ValueError(f"FPNNeck expects 4 input levels, got {len(in_channels)}")
        if inner_channels % 4:
            raise ValueError(f"inner_channels must be a multiple of 4, got {inner_channels}")
        self.lateral = nn.ModuleList(nn.Conv2d(c, inner_channels, 1, bias=False) for c in in_channels)
        self.smooth = nn.ModuleList(
            nn.Sequential(nn.Conv2d(inner_channels, inner_channels // 4, 3, padding=1, bias=False),
                          nn.BatchNorm2d(inner_channels // 4), nn.ReLU(inplace=True))
            for _ in in_channels
        )
        self.out_channels = inner_channels
        self.return_levels = return_levels

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        laterals = [conv(f) for conv, f in zip(self.lateral, features)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], size=laterals[i - 1].shape[-2:], mode="nearest")
        size = laterals[0].shape[-2:]
        levels = [
            F.interpolate(smooth(lat), size=size, mode="nearest") if i else smooth(lat)
            for i, (smooth, lat) in enumerate(zip(self.smooth, laterals))
        ]
        if self.return_levels:
            return levels
        return torch.cat(levels[::-1], dim=1)
