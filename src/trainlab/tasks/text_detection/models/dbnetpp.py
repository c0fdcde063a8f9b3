"""DBNet++: DBNet with the Adaptive Scale Fusion module in the neck.

Source: Liao et al., "Real-Time Scene Text Detection with Differentiable Binarization and
Adaptive Scale Fusion", TPAMI 2022 (https://arxiv.org/abs/2202.10304), Sec. 3.2. Encoder,
FPN, DB head, targets, loss and post-processing are DBNet's (family ``"db"``); only the
fusion of the four FPN levels changes, from plain concatenation to
:class:`~trainlab.tasks.text_detection.models.asf.AdaptiveScaleFusion`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainlab.tasks.text_detection.models.asf import AdaptiveScaleFusion
from trainlab.tasks.text_detection.models.db_head import DBHead
from trainlab.tasks.text_detection.models.dbnet import DBNet, timm_encoder
from trainlab.layers.fpn import FPNNeck
from trainlab.tasks.text_detection.models.registry import register_architecture


class ASFNeck(nn.Module):
    """FPN levels fused by Adaptive Scale Fusion.

    Args:
        in_channels: Channels of the 4 encoder features, strides 4, 8, 16, 32.
        inner_channels: FPN lateral width; the output has this many channels (256 in the paper).
        channel_attention: See :class:`AdaptiveScaleFusion`.

    Input: list of 4 tensors ``(B, C_i, H/s, W/s)``.
    Output: ``(B, inner_channels, H/4, W/4)``, levels ordered deepest first as in DBNet.
    """

    def __init__(self, in_channels: list[int], inner_channels: int = 256, channel_attention: bool = True):
        super().__init__()
        self.fpn = FPNNeck(in_channels, inner_channels, return_levels=True)
        self.asf = AdaptiveScaleFusion(inner_channels, num_levels=4, channel_attention=channel_attention)
        self.out_channels = inner_channels

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.asf(self.fpn(features)[::-1])


@register_architecture("dbnetpp", family="db", neck_keys=("inner_channels", "channel_attention"), head_keys=("k",))
def build_dbnetpp(encoder: dict[str, Any] | None = None, neck: dict[str, Any] | None = None,
                  head: dict[str, Any] | None = None) -> DBNet:
    """Build DBNet++ from config dicts.

    Args:
        encoder: :class:`~trainlab.layers.encoder.TimmEncoder` arguments;
            ``model_name`` None means ``resnet18``.
        neck: ``inner_channels`` (default 256), ``channel_attention`` (default True).
        head: ``k`` (default 50).
    """
    encoder_module = timm_encoder(encoder)
    neck_module = ASFNeck(encoder_module.out_channels, **(neck or {}))
    head_module = DBHead(neck_module.out_channels, **(head or {}))
    return DBNet(encoder_module, neck_module, head_module)
