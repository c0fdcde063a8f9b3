"""Torch datasets for text detection: augmented crops with DB targets, and resized eval images."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from trainlab.tasks.text_detection.data.preprocess import (  # noqa: F401  (read_image, resize_for_eval: re-exported)
    DEFAULT_RESIZE,
    normalize,
    read_image,
    resize_for_eval,
    resize_image,
    target_size,
)
from trainlab.tasks.text_detection.data.transforms import build_train_augmentation, scale_points
from trainlab.tasks.text_detection.family import get_family, select_options
from trainlab.tasks.text_detection.types import AnnotatedImage

def file_md5(path: str | Path) -> str:
    """MD5 hex digest of a file's bytes (for duplicate detection and data fingerprints)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class TextDetectionDataset(Dataset):
    """ICDAR-style images as training crops with DB targets, or as whole resized eval images.

    Every image is first resized by the shared policy (:func:`target_size`, e.g. short
    side 736 px), so text has the same scale in training and evaluation; training then
    applies the albumentations pipeline and crops ``image_size`` x ``image_size``.

    Args:
        records: Annotated images.
        train: True for augmented crops with targets, False for whole eval images.
        image_size: Training crop side in pixels (mutable, see :meth:`set_image_size`).
        resize: ``mode``/``size``/``max_side`` of the resize policy.
        augment: The ``data.augment`` config section (training only).
        targets: Target options (flat, e.g. ``shrink_ratio``, ``min_text_size``); the
            target family takes the keys it knows (see
            :func:`~trainlab.tasks.text_detection.family.select_options`).
        cache_images: Keep resized images in memory after the first read.
        target_family: Detector family whose training targets to build (``"db"``, ``"craft"``).

    Items (training): ``image`` ``(3, S, S)`` float32 normalised, plus the family's target
    maps, float32: DB ``prob_map``, ``prob_mask``, ``thresh_map``, ``thresh_mask``, each
    ``(S, S)``; CRAFT ``region_map``, ``affinity_map``, ``confidence_map``, each ``(S/2, S/2)``.
    Items (eval): ``image`` ``(3, h, w)`` float32 with ``h``, ``w`` multiples of 32,
    ``index`` (int), ``name`` (str), ``original_size`` ``(H, W)`` ints, ``regions`` (the
    ground-truth :class:`TextRegion` list, in original pixels).
    """

    def __init__(
        self,
        records: Sequence[AnnotatedImage],
        train: bool,
        image_size: int = 640,
        resize: Mapping[str, Any] | None = None,
        augment: Mapping[str, Any] | None = None,
        targets: Mapping[str, Any] | None = None,
        cache_images: bool = True,
        target_family: str = "db",
    ):
        self.records = list(records)
        self.target_family = get_family(target_family)
        self.target_kwargs = select_options(self.target_family, targets, "targets")
        self.train = train
        self.resize = dict(DEFAULT_RESIZE, **(resize or {}))
        self.augment_config = dict(augment or {})
        self.cache_images = cache_images
        self._cache: dict[int, tuple[np.ndarray, tuple[int, int]]] = {}
        self.image_size = image_size
        self._augmentation = build_train_augmentation(self.augment_config, image_size) if train else None

    def set_image_size(self, size: int) -> None:
        """Change the training crop side (pixels), e.g. for progressive resolution."""
        if size != self.image_size:
            self.image_size = int(size)
            if self.train:
                self._augmentation = build_train_augmentation(self.augment_config, self.image_size)

    def __len__(self) -> int:
        return len(self.records)

    def _load(self, index: int) -> tuple[np.ndarray, tuple[int, int]]:
        if index in self._cache:
            return self._cache[index]
        image = read_image(self.records[index].image_path)
        original = image.shape[:2]
        image = resize_image(image, *target_size(*original, **self.resize))
        if self.cache_images:
            self._cache[index] = (image, original)
        return image, original

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        image, original = self._load(index)
        if not self.train:
            return {"image": torch.from_numpy(normalize(image)), "index": index, "name": record.name,
                    "original_size": original, "regions": record.regions}
        polygons = [scale_points(region.points, original, image.shape[:2]) for region in record.regions]
        sizes = np.array([len(p) for p in polygons], dtype=int)
        keypoints = np.concatenate(polygons, axis=0) if polygons else np.zeros((0, 2))
        # albumentations >= 1.4 draws from its own generators, seeded from OS entropy unless told: seed
        # them per item from torch's global RNG, so that seed_everything, DataLoader worker seeding and
        # the RNG states stored in checkpoints govern augmentation (repeatable and resumable runs).
        self._augmentation.set_random_seed(int(torch.randint(0, 2**31 - 1, ()).item()))
        out = self._augmentation(image=image, keypoints=keypoints, polygon_sizes=sizes)
        crop = out["image"]
        points = np.asarray(out["keypoints"], dtype=np.float64)[:, :2]
        polygons = np.split(points, np.cumsum(sizes)[:-1]) if len(sizes) else []
        maps = self.target_family.make_targets(
            polygons, [r.dont_care for r in record.regions], [r.transcription for r in record.regions],
            crop.shape[0], crop.shape[1], **self.target_kwargs)
        return {"image": torch.from_numpy(normalize(crop)), **{k: torch.from_numpy(v) for k, v in maps.items()}}


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensor fields into ``(B, ...)``; keep other fields as lists of length ``B``.

    Raises:
        RuntimeError: tensors of different shapes (eval images of different sizes need
            batch size 1).
    """
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [item[key] for item in batch]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return out
