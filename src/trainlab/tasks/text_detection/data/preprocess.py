"""Inference pre-processing of text detection, torch-free: read, resize by the policy, normalise.

Only NumPy and OpenCV are imported here, so that the ONNX Runtime path
(:mod:`trainlab.tasks.text_detection.onnx_runtime`) pre-processes exactly as training and
PyTorch inference do without importing torch or albumentations. The training pipeline
(:mod:`~trainlab.tasks.text_detection.data.transforms`, :mod:`~trainlab.tasks.text_detection.data.dataset`)
imports the same functions from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DEFAULT_RESIZE = {"mode": "short_side", "size": 736, "max_side": 2400}
"""The inference resize policy when a model stores none (see :func:`target_size`)."""

RESIZE_MODES = ("short_side", "long_side", "min_side_limit")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as RGB uint8 ``(H, W, 3)``; grey images are expanded to 3 channels.

    EXIF orientation is ignored, so pixels stay on the grid the annotations refer to.

    Raises:
        FileNotFoundError: the file is missing or cannot be decoded (message names it).
    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise FileNotFoundError(f"cannot read image {path} (missing, or not a format OpenCV decodes)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def target_size(height: int, width: int, mode: str = "short_side", size: int = 736,
                max_side: int = 2400, multiple: int = 32) -> tuple[int, int]:
    """Network input size for an image, keeping its aspect ratio.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        mode: ``"short_side"`` scales the short side to ``size`` (up or down);
            ``"long_side"`` scales the long side to ``size``; ``"min_side_limit"`` is
            PaddleOCR's test-time ``DetResizeForTest`` with ``limit_type: min`` as RapidOCR
            runs it (``rapidocr_onnxruntime`` 1.4: ``RapidOCR.preprocess`` then
            ``DetPreProcess.resize``): an image whose long side exceeds ``max_side`` is first
            reduced to it, then one whose short side is below ``size`` is enlarged to it;
            otherwise the scale is kept. Each of those steps truncates the scaled sides to
            integers before rounding them to ``multiple`` (Python's ``round``), as there.
        size: Target length of that side, in pixels.
        max_side: Cap on the long side after scaling, in pixels.
        multiple: Both sides are rounded to a multiple of this (the encoder's stride).

    Returns:
        ``(new_height, new_width)`` in pixels, each a positive multiple of ``multiple``.

    Raises:
        ValueError: unknown ``mode`` or non-positive sizes.
    """
    if height <= 0 or width <= 0 or size <= 0:
        raise ValueError(f"sizes must be positive, got image {height}x{width}, size {size}")
    if mode == "min_side_limit":
        return _min_side_limit(height, width, size, max_side, multiple)
    if mode == "short_side":
        scale = size / min(height, width)
    elif mode == "long_side":
        scale = size / max(height, width)
    else:
        raise ValueError(f"resize mode must be 'short_side', 'long_side' or 'min_side_limit', got {mode!r}")
    scale = min(scale, max_side / max(height, width))
    new_h = max(multiple, int(round(height * scale / multiple)) * multiple)
    new_w = max(multiple, int(round(width * scale / multiple)) * multiple)
    return new_h, new_w


def _min_side_limit(height: int, width: int, size: int, max_side: int, multiple: int) -> tuple[int, int]:
    """PaddleOCR/RapidOCR ``limit_type: min`` sizing (see :func:`target_size`)."""

    def rescale(h: int, w: int, ratio: float) -> tuple[int, int]:
        return (max(multiple, int(round(int(h * ratio) / multiple) * multiple)),
                max(multiple, int(round(int(w * ratio) / multiple) * multiple)))

    if max(height, width) > max_side:
        height, width = rescale(height, width, max_side / max(height, width))
    if min(height, width) < size:
        return rescale(height, width, size / min(height, width))
    return rescale(height, width, 1.0)


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize with ``INTER_AREA`` when shrinking and ``INTER_LINEAR`` when enlarging."""
    shrinking = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def normalize(image: np.ndarray, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` to normalised float32 ``(3, H, W)``: ``(x / 255 - mean) / std``.

    Computed as albumentations' ``A.Normalize(max_pixel_value=255)`` computes it for uint8 images
    (albucore's look-up table: ``(v - 255 mean) * (1 / (255 std))`` in float32 for each of the 256
    values), so the result is bit-identical to it.

    Raises:
        ValueError: not a 3-channel uint8 image.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"normalize takes an RGB uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    mean_values = np.asarray(mean, dtype=np.float32) * np.float32(255.0)
    denominator = np.reciprocal(np.asarray(std, dtype=np.float32) * np.float32(255.0))
    table = (np.arange(256, dtype=np.float32)[None, :] - mean_values[:, None]) * denominator[:, None]  # (3, 256)
    out = np.empty((3, *image.shape[:2]), dtype=np.float32)
    for channel in range(3):
        np.take(table[channel], image[:, :, channel], out=out[channel])
    return out


def check_resize(resize: Mapping[str, Any] | None) -> dict[str, Any]:
    """The resize policy with :data:`DEFAULT_RESIZE` filled in (``mode``, ``size``, ``max_side``, ``multiple``).

    Raises:
        ValueError: an unknown key or mode (the message lists the valid ones).
    """
    policy = {**DEFAULT_RESIZE, "multiple": 32, **dict(resize or {})}
    unknown = sorted(set(policy) - {"mode", "size", "max_side", "multiple"})
    if unknown:
        raise ValueError(f"resize: unknown key(s) {', '.join(unknown)}; valid: mode, size, max_side, multiple")
    if policy["mode"] not in RESIZE_MODES:
        raise ValueError(f"resize.mode must be one of {', '.join(RESIZE_MODES)}, got {policy['mode']!r}")
    return policy


def resize_for_eval(image: np.ndarray, resize: Mapping[str, Any] | None = None,
                    mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """Resize an RGB uint8 ``(H, W, 3)`` image by the eval policy (:func:`target_size`) and normalise
    it (:func:`normalize`): ``(3, h, w)`` float32, ``h`` and ``w`` multiples of 32."""
    return normalize(resize_image(image, *target_size(*image.shape[:2], **dict(DEFAULT_RESIZE, **(resize or {})))),
                     mean, std)
