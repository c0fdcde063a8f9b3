"""DBNet: timm encoder + FPN neck + DB head.

Source: Liao et al., "Real-time Scene Text Detection with Differentiable Binarization",
AAAI 2020 (https://arxiv.org/abs/1911.08947).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainlab.tasks.text_detection.models.db_head import DBHead
from trainlab.layers.encoder import TimmEncoder
from trainlab.layers.fpn import FPNNeck
from trainlab.tasks.text_detection.models.registry import register_architecture


class DBNet(nn.Module):
    """Encoder, neck and DB head in sequence.

    Input: ``(B, 3, H, W)`` float32 normalised images, ``H`` and ``W`` multiples of 32.
    Output: dict of ``(B, 1, H, W)`` maps (see :class:`DBHead`).
    """

    def __init__(self, encoder: TimmEncoder, neck: nn.Module, head: DBHead):
        super().__init__()
        self.encoder = encoder
        self.neck = neck
        self.head = head

    def forward(self, images: torch.Tensor, with_threshold: bool | None = None) -> dict[str, torch.Tensor]:
        return self.head(self.neck(self.encoder(images)), with_threshold=with_threshold)


DEFAULT_ENCODER = "resnet18"


def timm_encoder(encoder: dict[str, Any] | None, default: str = DEFAULT_ENCODER, **extra: Any) -> TimmEncoder:
    """A :class:`TimmEncoder` from the ``model.encoder`` config; ``model_name`` None means ``default``."""
    options = dict(encoder or {})
    options["model_name"] = options.get("model_name") or default
    return TimmEncoder(**options, **extra)


@register_architecture("dbnet", family="db", neck_keys=("inner_channels",), head_keys=("k",))
def build_dbnet(encoder: dict[str, Any] | None = None, neck: dict[str, Any] | None = None,
                head: dict[str, Any] | None = None) -> DBNet:
    """Build DBNet from config dicts.

    Args:
        encoder: :class:`TimmEncoder` arguments (``model_name``, ``pretrained``, ``checkpoint``, ...);
            ``model_name`` None means ``resnet18``.
        neck: ``inner_channels`` (default 256).
        head: ``k`` (default 50).
    """
    encoder_module = timm_encoder(encoder)
    neck_module = FPNNeck(encoder_module.out_channels, **(neck or {}))
    head_module = DBHead(neck_module.out_channels, **(head or {}))
    return DBNet(encoder_module, neck_module, head_module)
