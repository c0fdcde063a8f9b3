"""Datamodule of box-annotated images in OpenALPR, COCO json or YOLO txt form.

- ``format: openalpr``: ``<root>/<region>/*.txt`` (the OpenALPR end-to-end benchmark, default
  ``../shared/data/license_plates``), split by a split file (default: the one shipped in
  ``tasks/plate_detection/splits/openalpr_e2e.json``, stratified by region, grouped by plate).
- ``format: coco``: one json file per split (``coco: {train: ..., val: ..., test: ...}``) with
  images under ``coco.image_root`` (default: each json's folder).
- ``format: yolo``: ``<root>/images/<split>/`` and ``<root>/labels/<split>/`` for each split.

The test split is never used for a choice: anchors are fitted on train, thresholds on val.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from trainlab.engine.datamodule import SPLITS, TaskDataModule, check_split
from trainlab.tasks.plate_detection.data.dataset import BoxDataset, collate, file_sha256
from trainlab.tasks.plate_detection.data.formats import BoxRecord, read_coco, read_openalpr, read_yolo
from trainlab.tasks.plate_detection.data.split import read_split_file

FORMATS = ("openalpr", "coco", "yolo")
SHIPPED_SPLIT = "openalpr_e2e.json"


def shipped_split_file(name: str = SHIPPED_SPLIT) -> Path:
    """Path of a split file shipped in ``trainlab/tasks/plate_detection/splits/``."""
    return Path(str(resources.files("trainlab.tasks.plate_detection").joinpath("splits", name)))


class PlateDataModule(TaskDataModule):
    """Train/val/test loaders of box-annotated images.

    Args:
        root: Data folder (``openalpr``, ``yolo``); for ``coco``, optional base of relative paths.
        format: ``openalpr``, ``coco`` or ``yolo``.
        class_names: The object classes, in label order (OpenALPR: ``[plate]``; COCO: the
            categories to keep; YOLO: one name per class index).
        regions: ``openalpr``: the region folders to read.
        split_file: ``openalpr``: the split file (``null``: the shipped one).
        coco: ``coco``: ``{train, val, test}`` json paths and ``image_root``.
        image_size: Long side of the network input, pixels.
        augment: Training augmentation (see :func:`~trainlab.tasks.plate_detection.data.dataset.build_augment`).
        batch_size, eval_batch_size, num_workers: Loader settings.
        cache_images: Keep resized images in memory.
        limit_train: Use only the first N training images (quick runs, tests).

    Raises:
        ValueError: an unknown format (at construction).
        FileNotFoundError, AnnotationError, SplitFileError: missing or malformed data (at ``setup``;
            the messages name the file and line).
    """

    collate_fn = staticmethod(collate)

    def __init__(self, root: str | None = None, format: str = "openalpr", class_names: Sequence[str] = ("plate",),
                 regions: Sequence[str] = ("us", "eu"), split_file: str | None = None,
                 coco: Mapping[str, Any] | None = None, image_size: int = 640,
                 augment: Mapping[str, Any] | None = None, batch_size: int = 8, eval_batch_size: int | None = 8,
                 num_workers: int = 0, cache_images: bool = True, limit_train: int | None = None):
        super().__init__(batch_size=batch_size, num_workers=num_workers, eval_batch_size=eval_batch_size)
        if format not in FORMATS:
            raise ValueError(f"data.format={format!r}: choose one of {', '.join(FORMATS)}")
        self.root = Path(root).expanduser() if root else None
        self.format = format
        self.class_names = list(class_names)
        self.regions = list(regions)
        self.split_file = Path(split_file).expanduser() if split_file else None
        self.coco = dict(coco or {})
        self.image_size = int(image_size)
        self.augment = dict(augment or {})
        self.cache_images = cache_images
        self.limit_train = limit_train
        self.records: dict[str, list[BoxRecord]] = {}
        self._datasets: dict[str, BoxDataset] = {}

    def _read(self) -> dict[str, list[BoxRecord]]:
        if self.format == "openalpr":
            if self.root is None or not self.root.is_dir():
                raise FileNotFoundError(f"data.root not found: {self.root}")
            return read_split_file(self.split_file or shipped_split_file(), read_openalpr(self.root, self.regions))
        if self.format == "coco":
            split = {}
            for name in SPLITS:
                file = self.coco.get(name)
                if not file:
                    raise ValueError(f"data.format=coco needs data.coco.{name}: the {name} split's json file")
                file = Path(file) if Path(file).is_absolute() or self.root is None else self.root / file
                split[name], _ = read_coco(file, self.coco.get("image_root"), self.class_names)
            return split
        if self.root is None:
            raise FileNotFoundError("data.format=yolo needs data.root (with images/<split> and labels/<split>)")
        return {name: read_yolo(self.root / "images" / name, self.root / "labels" / name, len(self.class_names))
                for name in SPLITS}

    def setup(self, stage: str | None = None) -> None:
        """Read the annotations and build the datasets (idempotent)."""
        if self.records:
            return
        records = self._read()
        if self.limit_train:
            records["train"] = records["train"][: int(self.limit_train)]
        self.records = records
        self._datasets = {name: BoxDataset(records[name], self.image_size, self.augment if name == "train" else None,
                                           self.cache_images) for name in SPLITS}

    def dataset(self, split: str) -> BoxDataset:
        """The dataset of ``"train"`` (augmented), ``"val"`` or ``"test"``."""
        self.setup()
        return self._datasets[check_split(split)]

    def eval_dataset(self, split: str) -> BoxDataset:
        """A split without augmentation (for tuning and reports on train too)."""
        self.setup()
        if check_split(split) != "train":
            return self._datasets[split]
        return BoxDataset(self.records["train"], self.image_size, None, self.cache_images)

    def train_box_shapes(self) -> np.ndarray:
        """``(N, 2)`` float64 ``(w, h)`` of the training boxes at the network input size (for anchor fitting)."""
        return self.dataset("train").box_shapes()

    def fingerprint(self) -> dict[str, Any]:
        """What the run read: a SHA-256 over every split, name, image and annotation digest;
        per split the image, box and per-region counts and the image names."""
        self.setup()
        hasher = hashlib.sha256()
        splits = {}
        for name in SPLITS:
            records = self.records[name]
            for record in records:
                annotation = file_sha256(record.annotation_path) if record.annotation_path else "-"
                hasher.update(f"{name}/{record.name}:{file_sha256(record.image_path)}:{annotation}\n".encode())
            groups = sorted({r.group for r in records if r.group})
            splits[name] = {"images": len(records), "boxes": int(sum(len(r.boxes) for r in records)),
                            **({"by_region": {g: sum(r.group == g for r in records) for g in groups}} if groups else {}),
                            "names": [r.name for r in records]}
        return {"sha256": hasher.hexdigest(), "format": self.format, "root": str(self.root),
                "split_file": str(self.split_file or shipped_split_file()) if self.format == "openalpr" else None,
                "class_names": self.class_names, "image_size": self.image_size, "splits": splits}
