"""Test-time augmentation for text detectors: transform the input, run the network, bring each
score map back to the untransformed geometry, and average.

Transforms, by name (a config list chooses the set, e.g. ``[identity, hflip, scale_0.9, scale_1.1]``):

- ``identity``;
- ``hflip`` / ``vflip``: mirror left-right / top-bottom (the map is mirrored back);
- ``rot90`` / ``rot180`` / ``rot270``: rotate counter-clockwise by that angle (the map is rotated
  back);
- ``scale_<s>``: resize the input by ``s`` (sides rounded to multiples of 32, as the resize
  policy does); the map is resized back bilinearly (OpenCV ``INTER_LINEAR``).

Flips and rotations are inverted exactly; rescaling is not (interpolation). Averaging maps over
transforms follows the usual multi-view inference of detection and segmentation (e.g.
Krizhevsky et al. 2012, Sec. 4.1, for classification; PaddleOCR and MMOCR offer the same for
text detection).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

#: The multi-scale set the field uses by default (0.9 / 1.0 / 1.1).
DEFAULT_SCALES = ("scale_0.9", "identity", "scale_1.1")
_ROTATIONS = {"rot90": 1, "rot180": 2, "rot270": 3}
_SCALE = re.compile(r"^scale_(\d+(?:\.\d+)?)$")


def check_transforms(names: Sequence[str]) -> list[str]:
    """The transform names as a list, checked.

    Raises:
        ValueError: an unknown name (the valid ones are listed), or a scale outside (0, 4].
    """
    names = [str(n) for n in names]
    for name in names:
        match = _SCALE.match(name)
        if match:
            if not 0.0 < float(match.group(1)) <= 4.0:
                raise ValueError(f"tta: scale {match.group(1)} outside (0, 4]")
        elif name not in {"identity", "hflip", "vflip", *_ROTATIONS}:
            raise ValueError(f"tta: unknown transform {name!r}; valid: identity, hflip, vflip, rot90, rot180, rot270, "
                             "scale_<s> (e.g. scale_0.9)")
    return names


def apply(name: str, images: torch.Tensor) -> torch.Tensor:
    """Transform a batch of normalised images ``(B, 3, H, W)`` float32 (``H``, ``W`` multiples of 32)."""
    if name == "identity":
        return images
    if name == "hflip":
        return images.flip(-1)
    if name == "vflip":
        return images.flip(-2)
    if name in _ROTATIONS:
        return torch.rot90(images, _ROTATIONS[name], dims=(-2, -1))
    scale = float(_SCALE.match(name).group(1))
    height, width = images.shape[-2:]
    size = (max(32, int(round(height * scale / 32)) * 32), max(32, int(round(width * scale / 32)) * 32))
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False)


def invert(name: str, score_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bring one ``(h', w')`` float32 score map of a transformed input back to the untransformed
    map's shape ``(h, w)``; exact for flips and rotations."""
    if name == "identity":
        return score_map
    if name == "hflip":
        return score_map[:, ::-1]
    if name == "vflip":
        return score_map[::-1, :]
    if name in _ROTATIONS:
        return np.rot90(score_map, -_ROTATIONS[name])
    return cv2.resize(np.ascontiguousarray(score_map, dtype=np.float32), (shape[1], shape[0]),
                      interpolation=cv2.INTER_LINEAR)
