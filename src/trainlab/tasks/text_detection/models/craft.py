"""CRAFT: a U-Net that predicts character region and affinity scores at half the input resolution.

Source: Baek et al., "Character Region Awareness for Text Detection", CVPR 2019
(https://arxiv.org/abs/1904.01941), Sec. 3.1 and Fig. 2: a VGG16-BN encoder, a U-Net-like
decoder of "UpConv" blocks (1x1 conv, BN, ReLU, 3x3 conv, BN, ReLU) that fuse each
upsampled map with the encoder feature of the same stride, and four convolutions to two
output channels, the region score and the affinity score, at stride 2. Layer widths follow
the official weights (clovaai/CRAFT-pytorch): decoder blocks of (mid, out) channels
(512, 256), (256, 128), (128, 64), (64, 32), head 32-32-16-16-2.

Encoders: ``model.encoder.model_name`` None or ``vgg16_bn`` gives the paper's encoder
(:class:`~trainlab.layers.vgg16_bn.CraftVGG16BN`, the layout of the
official weights); any other timm name gives that timm ``features_only`` encoder, whose
strides 32 to 4 (and 2 when it has one) feed the same decoder; when the decoder ends at
stride 4 its output is upsampled bilinearly to stride 2 before the head.

Preprocessing of the official demo (``test.py``, ``imgproc.py``) and how trainlab matches it:
RGB input normalised by the ImageNet mean and standard deviation (the same as trainlab's
``normalize``); the image scaled so that its long side is ``min(mag_ratio x long side,
canvas_size)`` (1.5 and 1280 in the demo, 1.0 and 2560 in EasyOCR), then zero-padded to
multiples of 32. The CRAFT experiments use ``data.resize`` ``{mode: long_side, size: 1280,
max_side: 1280}``, which gives the same scale whenever ``1.5 x long side >= 1280`` (every image
of the embedded set, every SROIE test image, all but 2 of the 209 SROIE train images, which
are upscaled to 1280 instead of 1.5x); the other differences are that trainlab rounds each
side to the nearest multiple of 32 by resizing (an aspect change below 16 px) instead of
padding, resizes with ``INTER_AREA`` when shrinking (the demo uses ``INTER_LINEAR``), and maps
boxes back with pixel centres aligned.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainlab.layers.vgg16_bn import CraftVGG16BN
from trainlab.tasks.text_detection.models.dbnet import timm_encoder
from trainlab.tasks.text_detection.models.registry import register_architecture

VGG_NAMES = (None, "", "vgg16_bn")
# (mid, out) channels of the decoder blocks, deepest first, as in the official weights.
DECODER_WIDTHS = ((512, 256), (256, 128), (128, 64), (64, 32))
OUTPUT_STRIDE = 2


def up_conv(in_channels: int, mid_channels: int, out_channels: int) -> nn.Sequential:
    """The paper's UpConv block: 1x1 conv to ``mid``, BN, ReLU, 3x3 conv to ``out``, BN, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, mid_channels, kernel_size=1),
        nn.BatchNorm2d(mid_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNetDecoder(nn.Module):
    """Fuse encoder features from the deepest up: upsample (bilinear), concatenate the skip, UpConv.

    Args:
        in_channels: Channels of the encoder features, deepest first (e.g. ``[1024, 512,
            512, 256, 128]`` for VGG16-BN); one block per skip feature.

    Input: list of tensors ``(B, C_i, H_i, W_i)``, deepest first, each at least as large as the last.
    Output: ``(B, 32, H_last, W_last)``.

    Raises:
        ValueError: fewer than 2 or more than 5 features.
    """

    def __init__(self, in_channels: list[int]):
        super().__init__()
        skips = len(in_channels) - 1
        if not 1 <= skips <= len(DECODER_WIDTHS):
            raise ValueError(f"the CRAFT decoder takes 2 to {len(DECODER_WIDTHS) + 1} features, got {len(in_channels)}")
        widths = DECODER_WIDTHS[-skips:]
        blocks, channels = [], in_channels[0]
        for skip, (mid, out) in zip(in_channels[1:], widths):
            blocks.append(up_conv(channels + skip, mid, out))
            channels = out
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = channels

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        y = features[0]
        for block, skip in zip(self.blocks, features[1:]):
            if y.shape[-2:] != skip.shape[-2:]:
                y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], dim=1))
        return y


def craft_head(in_channels: int = 32) -> nn.Sequential:
    """The official classification convolutions: 3x3 32, 3x3 32, 3x3 16, 1x1 16 (ReLU each), 1x1 to 2."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(32, 32, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(32, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(16, 16, kernel_size=1), nn.ReLU(inplace=True),
        nn.Conv2d(16, 2, kernel_size=1),
    )


class CRAFT(nn.Module):
    """Encoder, U-Net decoder and the two-channel score head.

    Args:
        encoder: Returns features deepest first (:class:`CraftVGG16BN`), or strides
            ascending (a :class:`~trainlab.layers.encoder.TimmEncoder`,
            reversed here).

    Input: ``(B, 3, H, W)`` float32 normalised images, ``H`` and ``W`` multiples of 32.
    Output: dict with ``region_map`` and ``affinity_map``, each ``(B, 1, H/2, W/2)`` float32
    regression outputs (trained towards ``[0, 1]`` Gaussian heat maps, not clamped).
    """

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.deepest_first = list(encoder.strides) == sorted(encoder.strides, reverse=True)
        channels = list(encoder.out_channels) if self.deepest_first else list(encoder.out_channels)[::-1]
        self.decoder = UNetDecoder(channels)
        self.head = craft_head(self.decoder.out_channels)
        for module in [*self.decoder.modules(), *self.head.modules()]:
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.encoder(images)
        if not self.deepest_first:
            features = features[::-1]
        y = self.decoder(features)
        size = (images.shape[-2] // OUTPUT_STRIDE, images.shape[-1] // OUTPUT_STRIDE)
        if y.shape[-2:] != size:
            y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
        scores = self.head(y)
        return {"region_map": scores[:, 0:1], "affinity_map": scores[:, 1:2]}


@register_architecture("craft", family="craft", neck_keys=(), head_keys=())
def build_craft(encoder: dict[str, Any] | None = None, neck: dict[str, Any] | None = None,
                head: dict[str, Any] | None = None) -> CRAFT:
    """Build CRAFT from config dicts.

    Args:
        encoder: ``model_name`` None or ``"vgg16_bn"`` for the paper's VGG16-BN (which takes
            ``pretrained`` and ``checkpoint``), or any timm name with
            :class:`~trainlab.layers.encoder.TimmEncoder` arguments.
        neck: No CRAFT option (DB keys of the shared section are dropped by the registry).
        head: No CRAFT option.

    Raises:
        EncoderError: see the encoders.
    """
    options = dict(encoder or {})
    if options.get("model_name") in VGG_NAMES:
        options.pop("model_name", None)
        options.pop("drop_path_rate", None)
        return CRAFT(CraftVGG16BN(**options))
    return CRAFT(timm_encoder(options, with_stride2=True))
