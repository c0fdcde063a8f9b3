"""Dataset of box-annotated images: resize to the network's input size, albumentations with boxes carried.

Every image is scaled so that its long side is ``image_size`` pixels (``cv2.INTER_AREA`` when
shrinking, ``INTER_LINEAR`` when enlarging), once, and cached in memory; boxes are scaled with
it. Training items then pass through an albumentations pipeline whose ``BboxParams`` move the
boxes with the pixels (Buslaev et al., "Albumentations", Information 2020): a random affine map
(scale, translation, small rotation; boxes of rotated plates by the ellipse rule, which does
not inflate them as the corner rule does), horizontal flip, colour jitter, blur and JPEG
re-compression, each switched from config.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from trainlab.tasks.plate_detection.data.formats import BoxRecord

AUGMENT_KEYS = ("affine", "flip", "color_jitter", "blur", "jpeg")


def read_image(path: str | Path) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 RGB.

    Raises:
        OSError: OpenCV cannot decode the file.
    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def resize_long_side(image: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """Scale ``(H, W, 3)`` so that ``max(H, W) == size``; returns ``(image, scale)`` (new / old)."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, new, interpolation=interpolation), scale


def build_augment(config: Mapping[str, Any] | None) -> A.Compose | None:
    """The training pipeline from ``data.augment`` (each entry ``{enabled, ...options}``).

    Entries: ``affine`` (``scale`` range, ``translate`` fraction, ``rotate`` degrees, ``p``),
    ``flip`` (``p``), ``color_jitter`` (``brightness``, ``contrast``, ``saturation``, ``hue``,
    ``p``), ``blur`` (``blur_limit``, ``p``), ``jpeg`` (``quality`` range, ``p``); ``min_visibility``:
    a box keeping less than this fraction of its area inside the image is dropped.

    Returns:
        ``None`` when every entry is off.

    Raises:
        ValueError: an unknown entry (the valid ones listed).
    """
    config = dict(config or {})
    min_visibility = float(config.pop("min_visibility", 0.6))
    unknown = sorted(set(config) - set(AUGMENT_KEYS))
    if unknown:
        raise ValueError(f"unknown data.augment entries {', '.join(unknown)}; valid: {', '.join(AUGMENT_KEYS)}, min_visibility")
    on = {k: dict(v) for k, v in config.items() if v and v.get("enabled", True)}
    for options in on.values():
        options.pop("enabled", None)
    steps = []
    if "affine" in on:
        o = on["affine"]
        translate = float(o.get("translate", 0.1))
        steps.append(A.Affine(scale=tuple(o.get("scale", (0.75, 1.25))), translate_percent=(-translate, translate),
                              rotate=(-float(o.get("rotate", 0.0)), float(o.get("rotate", 0.0))),
                              rotate_method="ellipse", border_mode=cv2.BORDER_CONSTANT, fill=0, p=float(o.get("p", 0.8))))
    if "flip" in on:
        steps.append(A.HorizontalFlip(p=float(on["flip"].get("p", 0.5))))
    if "color_jitter" in on:
        o = on["color_jitter"]
        steps.append(A.ColorJitter(brightness=o.get("brightness", 0.3), contrast=o.get("contrast", 0.3),
                                   saturation=o.get("saturation", 0.3), hue=o.get("hue", 0.03), p=float(o.get("p", 0.5))))
    if "blur" in on:
        o = on["blur"]
        steps.append(A.OneOf([A.GaussianBlur(blur_limit=tuple(o.get("blur_limit", (3, 5)))),
                              A.MotionBlur(blur_limit=tuple(o.get("blur_limit", (3, 5))))], p=float(o.get("p", 0.2))))
    if "jpeg" in on:
        o = on["jpeg"]
        steps.append(A.ImageCompression(quality_range=tuple(o.get("quality", (40, 95))), p=float(o.get("p", 0.3))))
    if not steps:
        return None
    return A.Compose(steps, bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"],
                                                     min_visibility=min_visibility, clip=True))


class BoxDataset(Dataset):
    """Images resized to ``image_size`` on the long side, with their boxes.

    Args:
        records: The annotated images.
        image_size: Long side of the network input, pixels.
        augment: ``data.augment`` for training items, or ``None`` (evaluation).
        cache_images: Keep the resized images in memory.

    Item: ``{"image": (3, H, W) float32 RGB in [0, 1], "target": {"boxes": (N, 4) float32 xyxy
    input pixels, "labels": (N,) int64}, "name": str, "scale": float (input px per original px),
    "original_size": (height, width), "texts": tuple of plate strings}`` with ``max(H, W) ==
    image_size``.
    """

    def __init__(self, records: Sequence[BoxRecord], image_size: int, augment: Mapping[str, Any] | None = None,
                 cache_images: bool = True):
        self.records = list(records)
        self.image_size = int(image_size)
        self.transform = build_augment(augment) if augment is not None else None
        self.cache_images = cache_images
        self._cache: dict[int, tuple[np.ndarray, float]] = {}

    def __len__(self) -> int:
        return len(self.records)

    def resized(self, index: int) -> tuple[np.ndarray, float]:
        """``(image (H, W, 3) uint8 RGB at the input size, scale)``, cached."""
        if index in self._cache:
            return self._cache[index]
        result = resize_long_side(read_image(self.records[index].image_path), self.image_size)
        if self.cache_images:
            self._cache[index] = result
        return result

    def box_shapes(self) -> np.ndarray:
        """``(N, 2)`` float64 ``(w, h)`` of every box at the input size (no image is read)."""
        shapes = [(b[2:] - b[:2]) * self.image_size / max(r.width, r.height) for r in self.records for b in r.boxes]
        return np.array(shapes, np.float64).reshape(-1, 2)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        image, scale = self.resized(index)
        boxes = (record.boxes * scale).astype(np.float32)
        height, width = image.shape[:2]
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        labels = record.labels
        if self.transform is not None:
            out = self.transform(image=image, bboxes=boxes, labels=labels)
            image = out["image"]
            boxes = np.asarray(out["bboxes"], np.float32).reshape(-1, 4)
            labels = np.asarray(out["labels"], np.int64).reshape(-1)
        return {"image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0),
                "target": {"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(np.asarray(labels, np.int64))},
                "name": record.name, "scale": float(scale), "original_size": (record.height, record.width),
                "texts": record.texts}


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Lists, not stacks: images differ in size (torchvision's transform pads them into a batch)."""
    return {key: [item[key] for item in items] for key in items[0]}


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes (``hashlib.file_digest``)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
