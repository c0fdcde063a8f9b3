"""The detector: torchvision's RetinaNet on an encoder of trainlab's ``layers`` and an FPN.

Source: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017 (RetinaNet: FPN
levels, ``A`` anchors per location, classification and box subnets of four 3x3 convolutions,
focal loss, NMS), as implemented by torchvision (``torchvision.models.detection.RetinaNet``,
with the GroupNorm heads of its ``retinanet_resnet50_fpn_v2``). Anchors come from
torchvision's ``AnchorGenerator`` with sizes and aspect ratios fitted to the training boxes
(:mod:`~trainlab.tasks.plate_detection.anchors`); the FPN is torchvision's
``FeaturePyramidNetwork`` (Lin et al., CVPR 2017) on the encoder's stride-8/16/32 maps.

Encoders (``model.encoder.source``), all from :mod:`trainlab.layers`:

- ``timm``: any timm ``features_only`` model (:class:`~trainlab.layers.encoder.TimmEncoder`),
  random, with timm's ImageNet weights (``pretrained: true``; cached copy only when the hub is
  unreachable) or a local state dict (``checkpoint``);
- ``ppocr``: the PPLCNetV3 backbone of PaddleOCR's PP-OCRv4 text detector, pretrained on text
  (:func:`~trainlab.layers.pretrained_ppocr.ppocr_backbone`), or the same network re-initialised
  (``pretrained: false``);
- ``craft_vgg``: CRAFT's VGG16-BN, random or with the encoder half of the official CRAFT
  weights ``craft_mlt_25k`` (:class:`~trainlab.layers.vgg16_bn.VGG16BN`).

Inputs are RGB images in ``[0, 1]``; torchvision's ``GeneralizedRCNNTransform`` normalises them
with the ImageNet statistics, scales the long side to ``image_size`` and pads batches to a
multiple of 32. Detections come back in the coordinates of the images as given.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import torch
from torch import nn
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.retinanet import RetinaNetClassificationHead, RetinaNetHead
from torchvision.ops import FeaturePyramidNetwork

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ENCODER_SOURCES = ("timm", "ppocr", "craft_vgg")
BOX_LOSSES = ("l1", "smooth_l1", "giou", "diou", "ciou")


class EncoderFPN(nn.Module):
    """An encoder and torchvision's FPN on some of its strides: the ``backbone`` torchvision's detectors take.

    Args:
        encoder: A module with ``strides`` and ``out_channels`` lists whose forward returns
            one feature map per stride, ``(B, C_i, H / s_i, W / s_i)``.
        strides: The strides to build the pyramid on, finest first (each must be an encoder stride).
        channels: FPN width (the detector head's width too).

    Input: ``(B, 3, H, W)`` float32 normalised images, ``H``, ``W`` multiples of the largest stride.
    Output: ``OrderedDict`` ``"p<log2 s>"`` -> ``(B, channels, H / s, W / s)`` for ``s`` in ``strides``.

    Raises:
        ValueError: a stride the encoder does not produce.
    """

    def __init__(self, encoder: nn.Module, strides: Sequence[int] = (8, 16, 32), channels: int = 96):
        super().__init__()
        missing = [s for s in strides if s not in encoder.strides]
        if missing:
            raise ValueError(f"model.fpn.strides {list(strides)}: the encoder has strides {list(encoder.strides)}, "
                             f"not {missing}")
        self.encoder = encoder
        # The last feature of each stride (the deepest one when an encoder repeats a stride).
        self.indices = [len(encoder.strides) - 1 - list(encoder.strides)[::-1].index(s) for s in strides]
        self.names = [f"p{int(math.log2(s))}" for s in strides]
        self.fpn = FeaturePyramidNetwork([encoder.out_channels[i] for i in self.indices], channels)
        self.out_channels = channels
        self.strides = list(strides)

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        features = self.encoder(images)
        return self.fpn(OrderedDict((name, features[i]) for name, i in zip(self.names, self.indices)))


def build_encoder(config: Mapping[str, Any]) -> nn.Module:
    """The encoder of ``model.encoder``: ``source`` (``timm``, ``ppocr``, ``craft_vgg``) and its options.

    Options: ``timm``: ``model_name``, ``pretrained``, ``checkpoint``, ``drop_path_rate``;
    ``ppocr``: ``pretrained`` (default true; false re-initialises the same network); ``craft_vgg``: ``pretrained``
    (``craft_mlt_25k`` or false), ``checkpoint`` (a torchvision/timm ``vgg16_bn`` state dict).

    Raises:
        ValueError: an unknown source or a key the source does not take (the valid ones listed).
        trainlab.layers.encoder.EncoderError: weights unavailable (the message says what to do).
    """
    config = dict(config)
    source = config.pop("source", "timm")
    given = {k: v for k, v in config.items() if v is not None and v is not False}
    if source == "timm":
        from trainlab.layers.encoder import TimmEncoder

        _check_keys(source, given, ("model_name", "pretrained", "checkpoint", "drop_path_rate"))
        return TimmEncoder(model_name=given.get("model_name", "resnet18"), pretrained=bool(given.get("pretrained")),
                           checkpoint=given.get("checkpoint"), drop_path_rate=given.get("drop_path_rate"))
    if source == "ppocr":
        from trainlab.layers.pretrained_ppocr import ppocr_backbone

        _check_keys(source, given, ("pretrained",))
        return ppocr_backbone(input_mean=IMAGENET_MEAN, input_std=IMAGENET_STD,
                              pretrained=bool(config.get("pretrained", True)))
    if source == "craft_vgg":
        from trainlab.layers.vgg16_bn import VGG16BNPyramid

        _check_keys(source, given, ("pretrained", "checkpoint"))
        pretrained = given.get("pretrained")
        return VGG16BNPyramid(craft_weights=pretrained if isinstance(pretrained, str) else None,
                              checkpoint=given.get("checkpoint"))
    raise ValueError(f"model.encoder.source={source!r}: choose one of {', '.join(ENCODER_SOURCES)}")


def _check_keys(source: str, given: Mapping[str, Any], valid: Sequence[str]) -> None:
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ValueError(f"model.encoder.source={source} does not take {', '.join(unknown)}; its keys: "
                         f"{', '.join(valid)}")


def anchor_generator(sizes: Sequence[Sequence[float]], aspect_ratios: Sequence[float]) -> AnchorGenerator:
    """torchvision's generator with ``sizes`` per level and the same ``aspect_ratios`` (``h / w``) on every level."""
    return AnchorGenerator(tuple(tuple(float(s) for s in level) for level in sizes),
                           tuple(tuple(float(r) for r in aspect_ratios) for _ in sizes))


def build_retinanet(encoder: Mapping[str, Any], num_classes: int, image_size: int,
                    sizes: Sequence[Sequence[float]], aspect_ratios: Sequence[float],
                    fpn: Mapping[str, Any] | None = None, head: Mapping[str, Any] | None = None,
                    score_floor: float = 0.05) -> RetinaNet:
    """Build the detector.

    Args:
        encoder: ``model.encoder`` (see :func:`build_encoder`).
        num_classes: Object classes (1 for plates; no background class in RetinaNet).
        image_size: Long side of the network input in pixels (torchvision's ``min_size`` and
            ``max_size`` both, so every image's long side is scaled to it).
        sizes: Anchor sizes per FPN level (``len(sizes)`` must equal the number of strides).
        aspect_ratios: Anchor aspect ratios ``h / w``.
        fpn: ``strides`` (default 8, 16, 32) and ``channels`` (default 96, a multiple of 32
            for the heads' GroupNorm).
        head: ``box_loss`` (``l1``, ``smooth_l1``, ``giou``, ``diou``, ``ciou``; torchvision's
            regression losses), ``fg_iou_thresh`` (0.5), ``bg_iou_thresh`` (0.4),
            ``topk_candidates`` (1000 per level), ``prior_probability`` (0.01).
        score_floor: Candidates scoring below this are dropped inside the detector (its
            ``score_thresh``).

    Returns:
        A ``torchvision.models.detection.RetinaNet`` whose internal NMS is off
        (``nms_thresh=1.0``, at most 1000 candidates per image): post-processing is
        :func:`~trainlab.tasks.plate_detection.postprocess.postprocess` (class-aware NMS and
        thresholds from config, tuned on validation).

    Raises:
        ValueError: unknown keys or values (the valid ones listed), or as :func:`build_encoder`.
    """
    fpn = dict(fpn or {})
    head = dict(head or {})
    unknown = sorted(set(fpn) - {"strides", "channels"}) + sorted(
        set(head) - {"box_loss", "fg_iou_thresh", "bg_iou_thresh", "topk_candidates", "prior_probability"})
    if unknown:
        raise ValueError(f"unknown model.fpn/model.head key(s) {', '.join(unknown)}; fpn takes strides, channels; head "
                         "takes box_loss, fg_iou_thresh, bg_iou_thresh, topk_candidates, prior_probability")
    strides = tuple(fpn.get("strides", (8, 16, 32)))
    channels = int(fpn.get("channels", 96))
    if channels % 32:
        raise ValueError(f"model.fpn.channels must be a multiple of 32 (GroupNorm with 32 groups), got {channels}")
    if len(sizes) != len(strides):
        raise ValueError(f"{len(sizes)} levels of anchor sizes for {len(strides)} FPN strides {list(strides)}")
    box_loss = head.get("box_loss", "giou")
    if box_loss not in BOX_LOSSES:
        raise ValueError(f"model.head.box_loss={box_loss!r}: choose one of {', '.join(BOX_LOSSES)}")
    backbone = EncoderFPN(build_encoder(encoder), strides, channels)
    anchors = anchor_generator(sizes, aspect_ratios)
    num_anchors = anchors.num_anchors_per_location()[0]
    norm = partial(nn.GroupNorm, 32)
    retina_head = RetinaNetHead(channels, num_anchors, num_classes, norm_layer=norm)
    retina_head.classification_head = RetinaNetClassificationHead(
        channels, num_anchors, num_classes, prior_probability=float(head.get("prior_probability", 0.01)), norm_layer=norm)
    retina_head.regression_head._loss_type = box_loss
    return RetinaNet(backbone, num_classes=num_classes, min_size=image_size, max_size=image_size,
                     image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD), anchor_generator=anchors,
                     head=retina_head, score_thresh=float(score_floor), nms_thresh=1.0, detections_per_img=1000,
                     fg_iou_thresh=float(head.get("fg_iou_thresh", 0.5)),
                     bg_iou_thresh=float(head.get("bg_iou_thresh", 0.4)),
                     topk_candidates=int(head.get("topk_candidates", 1000)))


def set_anchors(net: RetinaNet, sizes: Sequence[Sequence[float]], aspect_ratios: Sequence[float]) -> None:
    """Replace the detector's anchors (same number per location, so the head's weights still fit).

    Raises:
        ValueError: the new anchors have another count per location or another number of levels.
    """
    new = anchor_generator(sizes, aspect_ratios)
    old = net.anchor_generator
    if new.num_anchors_per_location() != old.num_anchors_per_location():
        raise ValueError(f"anchors per location {new.num_anchors_per_location()} differ from the network's "
                         f"{old.num_anchors_per_location()}")
    net.anchor_generator = new
