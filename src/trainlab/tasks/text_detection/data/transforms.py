"""The albumentations training pipeline for text detection (the resize policy and normalisation
are in :mod:`~trainlab.tasks.text_detection.data.preprocess`).

Training follows the DBNet recipe (Liao et al., AAAI 2020, Sec. 4.2: random rotation,
random cropping and random flipping, plus scaling) built from albumentations transforms
with keypoint-aware geometry, so polygon vertices move with the pixels. Each transform is
switched on or off from config. The crop is :class:`TextSafeCrop`, which places its
edges in text-free rows and columns where it can, so text lines are rarely cut (the idea
of the reference implementation's ``RandomCropData``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import albumentations as A
import cv2
import numpy as np
from albumentations.augmentations.crops.transforms import BaseCropAndPad

# The inference policy lives in the torch-free preprocess module; re-exported here for the training pipeline.
from trainlab.tasks.text_detection.data.preprocess import (  # noqa: F401
    IMAGENET_MEAN,
    IMAGENET_STD,
    normalize,
    resize_image,
    target_size,
)


def scale_points(points: np.ndarray, src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """Map ``(N, 2)`` pixel coordinates from an image of ``src_size`` to one of ``dst_size``.

    Sizes are ``(height, width)``; pixel centres stay aligned, as ``cv2.resize`` maps them:
    ``x' = (x + 0.5) * W' / W - 0.5``.
    """
    scale = np.array([dst_size[1] / src_size[1], dst_size[0] / src_size[0]])
    return (np.asarray(points, dtype=np.float64) + 0.5) * scale - 0.5


class TextSafeCrop(BaseCropAndPad):
    """Fixed-size random crop that avoids cutting text, padding images smaller than the crop.

    Candidate crop origins are drawn so that all four crop edges fall in rows and columns
    that no text polygon's bounding box touches; among up to ``max_tries`` candidates the
    first that fully contains a polygon is taken. When the text leaves no clean position
    (dense pages), the crop falls back to a uniformly random position. Images smaller than
    the crop are padded at the bottom and right with ``fill``.

    Polygon extents are read from the keypoints, grouped by the ``polygon_sizes`` array
    passed to the ``Compose`` call (vertex count per polygon, in keypoint order), so the
    ``Compose`` must be built with ``strict=False``.

    Args:
        height: Crop height in pixels.
        width: Crop width in pixels.
        max_tries: Candidate crops drawn before falling back.
        fill: Padding value for the image.
        p: Probability of applying (1 for a fixed output size).

    Targets: image, mask, keypoints.
    """

    def __init__(self, height: int, width: int, max_tries: int = 50, fill: float = 0.0, p: float = 1.0):
        super().__init__(pad_if_needed=True, border_mode=cv2.BORDER_CONSTANT, fill=fill, fill_mask=0.0,
                         pad_position="top_left", p=p)
        self.height = height
        self.width = width
        self.max_tries = max_tries

    @staticmethod
    def _free_starts(occupied: np.ndarray, length: int, crop: int) -> np.ndarray:
        """Crop starts in ``[0, length - crop]`` whose first and last line are text-free."""
        starts = np.arange(0, length - crop + 1)
        ok = ~occupied[starts] & ~occupied[starts + crop - 1]
        return starts[ok]

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        image_h, image_w = params["shape"][:2]
        pad_params = self._get_pad_params((image_h, image_w), (self.height, self.width))
        padded_h = image_h + (pad_params["pad_bottom"] if pad_params else 0)
        padded_w = image_w + (pad_params["pad_right"] if pad_params else 0)
        boxes = _polygon_boxes(data.get("keypoints"), data.get("polygon_sizes"))
        rows = np.zeros(padded_h, dtype=bool)
        cols = np.zeros(padded_w, dtype=bool)
        for x0, y0, x1, y1 in boxes:
            rows[int(np.clip(math.floor(y0), 0, padded_h)) : int(np.clip(math.ceil(y1) + 1, 0, padded_h))] = True
            cols[int(np.clip(math.floor(x0), 0, padded_w)) : int(np.clip(math.ceil(x1) + 1, 0, padded_w))] = True
        free_y = self._free_starts(rows, padded_h, self.height)
        free_x = self._free_starts(cols, padded_w, self.width)
        rng = self.py_random
        fallback = None
        for _ in range(self.max_tries):
            y = rng.choice(free_y.tolist()) if len(free_y) else rng.randint(0, padded_h - self.height)
            x = rng.choice(free_x.tolist()) if len(free_x) else rng.randint(0, padded_w - self.width)
            if fallback is None:
                fallback = (x, y)
            if len(boxes) == 0 or _contains_box(boxes, x, y, self.width, self.height):
                fallback = (x, y)
                break
        x, y = fallback
        return {"crop_coords": (x, y, x + self.width, y + self.height), "pad_params": pad_params}


def _polygon_boxes(keypoints: np.ndarray | None, sizes: np.ndarray | None) -> np.ndarray:
    """Axis-aligned boxes ``(P, 4)`` (x0, y0, x1, y1) of the polygons encoded in ``keypoints``."""
    if keypoints is None or sizes is None or len(sizes) == 0:
        return np.zeros((0, 4))
    xy = np.asarray(keypoints)[:, :2]
    boxes = []
    start = 0
    for size in np.asarray(sizes, dtype=int):
        pts = xy[start : start + size]
        start += size
        boxes.append((pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()))
    return np.asarray(boxes, dtype=np.float64)


def _contains_box(boxes: np.ndarray, x: int, y: int, width: int, height: int) -> bool:
    inside = (boxes[:, 0] >= x) & (boxes[:, 1] >= y) & (boxes[:, 2] < x + width) & (boxes[:, 3] < y + height)
    return bool(inside.any())


def _enabled(config: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    section = config.get(key)
    if section is None or not section.get("enabled", True):
        return None
    return section


def build_train_augmentation(config: Mapping[str, Any], crop_size: int) -> A.Compose:
    """Build the training pipeline from the ``data.augment`` config section.

    Sections (each with ``enabled``): ``random_scale`` (``scale: [lo, hi]``, factor range),
    ``rotate`` (``limit`` degrees), ``flip`` (``p``), ``crop`` (``max_tries``; the crop size
    comes from ``crop_size``), ``color_jitter`` (``brightness``, ``contrast``,
    ``saturation``, ``hue``, ``p``), ``blur`` (``blur_limit`` odd kernel sizes, ``p``).
    Normalisation is not included (see :func:`normalize`).

    Args:
        config: The augment section.
        crop_size: Side of the square training crop, pixels.

    Returns:
        An ``albumentations.Compose`` taking ``image``, ``keypoints`` (``(K, 2)``, ``xy``)
        and ``polygon_sizes``; keypoints are never dropped, even outside the image.
    """
    transforms: list[A.BasicTransform] = []
    if section := _enabled(config, "random_scale"):
        low, high = section.get("scale", (0.5, 1.5))
        transforms.append(A.RandomScale(scale_limit=(low - 1.0, high - 1.0), interpolation=cv2.INTER_LINEAR, p=1.0))
    if section := _enabled(config, "rotate"):
        transforms.append(A.Rotate(limit=section.get("limit", 10), border_mode=cv2.BORDER_CONSTANT, fill=0,
                                   p=section.get("p", 1.0)))
    if section := _enabled(config, "flip"):
        transforms.append(A.HorizontalFlip(p=section.get("p", 0.5)))
    if section := _enabled(config, "crop"):
        transforms.append(TextSafeCrop(crop_size, crop_size, max_tries=section.get("max_tries", 50)))
    else:
        transforms.append(A.PadIfNeeded(crop_size, crop_size, position="top_left", border_mode=cv2.BORDER_CONSTANT, fill=0))
        transforms.append(A.RandomCrop(crop_size, crop_size))
    if section := _enabled(config, "color_jitter"):
        transforms.append(A.ColorJitter(brightness=section.get("brightness", 0.2), contrast=section.get("contrast", 0.2),
                                        saturation=section.get("saturation", 0.2), hue=section.get("hue", 0.05),
                                        p=section.get("p", 0.5)))
    if section := _enabled(config, "blur"):
        limit = tuple(section.get("blur_limit", (3, 5)))
        transforms.append(A.OneOf([A.GaussianBlur(blur_limit=limit), A.MotionBlur(blur_limit=limit)], p=section.get("p", 0.2)))
    return A.Compose(transforms, keypoint_params=A.KeypointParams(format="xy", remove_invisible=False), strict=False)
