"""LightningDataModule for ICDAR-format text-detection folders.

Folder layout (as in ICDAR 2015 and SROIE 2019 copies)::

    <root>/images/<split>/<name>.jpg
    <root>/annotations/<split>/gt_<name>.txt   or   <name>.txt

The validation split is carved from the train split (a fraction or a list of names), so
model and threshold choices never look at the test split. Byte-identical images are kept
together: duplicates within train go to the same side of the train/val cut, and train
images identical to a test image are dropped (a leak).
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from trainlab.engine.datamodule import TaskDataModule, check_split
from trainlab.engine.folds import assign_folds, union_groups
from trainlab.tasks.text_detection.data.dataset import TextDetectionDataset, collate, file_md5
from trainlab.tasks.text_detection.data.duplicates import duplicate_pairs
from trainlab.tasks.text_detection.data.icdar_format import read_split
from trainlab.tasks.text_detection.family import get_family, select_options
from trainlab.tasks.text_detection.models.registry import architecture_family
from trainlab.tasks.text_detection.types import AnnotatedImage

log = logging.getLogger(__name__)


def split_train_val(records: Sequence[AnnotatedImage], val_split: float | Sequence[str], seed: int,
                    digests: Mapping[Path, str] | None = None) -> tuple[list[AnnotatedImage], list[AnnotatedImage]]:
    """Carve a validation split out of the train records.

    Args:
        records: Train records (sorted by name).
        val_split: A fraction in ``(0, 1)`` of the images (rounded, at least 1), or the
            list of image names (stems) to hold out.
        seed: Seed of the deterministic shuffle used for a fraction.
        digests: Image path to content hash; byte-identical images are kept on one side.

    Returns:
        ``(train, val)`` record lists, each sorted by name.

    Raises:
        ValueError: a fraction outside ``(0, 1)``, or listed names that are not in train.
    """
    digests = digests or {}
    groups: dict[str, list[AnnotatedImage]] = {}
    for record in records:
        groups.setdefault(digests.get(record.image_path, record.name), []).append(record)
    if isinstance(val_split, (int, float)):
        if not 0.0 < float(val_split) < 1.0:
            raise ValueError(f"data.val_split must be a fraction in (0, 1) or a list of names, got {val_split}")
        keys = sorted(groups)
        random.Random(seed).shuffle(keys)
        target = max(1, round(float(val_split) * len(records)))
        val_keys, count = set(), 0
        for key in keys:
            if count >= target:
                break
            val_keys.add(key)
            count += len(groups[key])
    else:
        names = set(val_split)
        missing = names - {r.name for r in records}
        if missing:
            raise ValueError(f"data.val_split names not in the train split: {', '.join(sorted(missing))}")
        val_keys = {key for key, group in groups.items() if any(r.name in names for r in group)}
    train = [r for key, group in groups.items() if key not in val_keys for r in group]
    val = [r for key, group in groups.items() if key in val_keys for r in group]
    return sorted(train, key=lambda r: r.name), sorted(val, key=lambda r: r.name)


def fold_assignment(records: Sequence[AnnotatedImage], n_folds: int, seed: int, digests: Mapping[Path, str],
                    max_distance: int = 10) -> tuple[dict[str, int], list[list[str]]]:
    """Assign train images to ``n_folds`` folds, copies of one image always in one fold.

    Copies are byte-identical files and near-duplicates (perceptual hashes within
    ``max_distance`` bits, :func:`~trainlab.tasks.text_detection.data.duplicates.duplicate_pairs`).

    Returns:
        ``(image name -> fold, groups of two or more names kept together)``.

    Raises:
        ValueError: see :func:`~trainlab.engine.folds.assign_folds`.
    """
    names = [r.name for r in records]
    pairs = duplicate_pairs([r.image_path for r in records], digests, max_distance)
    groups = union_groups(names, [(names[i], names[j]) for i, j, _ in pairs])
    members: dict[int, list[str]] = {}
    for name, group in groups.items():
        members.setdefault(group, []).append(name)
    together = sorted(sorted(m) for m in members.values() if len(m) > 1)
    return assign_folds(groups, n_folds, seed), together


def fingerprint(records_by_split: Mapping[str, Sequence[AnnotatedImage]], digests: Mapping[Path, str]) -> dict[str, Any]:
    """A content fingerprint of the data a run used.

    Returns:
        ``{"sha256": <hex over every split/name/image md5/annotation md5>, "splits":
        {split: {"images": n, "regions": n, "dont_care": n}}}``.
    """
    hasher = hashlib.sha256()
    splits = {}
    for split in sorted(records_by_split):
        records = records_by_split[split]
        for record in records:
            annotation = file_md5(record.annotation_path) if record.annotation_path else "-"
            hasher.update(f"{split}/{record.name}:{digests.get(record.image_path, '-')}:{annotation}\n".encode())
        splits[split] = {
            "images": len(records),
            "regions": sum(len(r.regions) for r in records),
            "dont_care": sum(region.dont_care for r in records for region in r.regions),
        }
    return {"sha256": hasher.hexdigest(), "splits": splits}


class TextDetectionDataModule(TaskDataModule):
    """Train/val/test loaders over an ICDAR-format folder.

    Args:
        root: The data folder (see module docstring).
        train_split: Sub-folder name of the training images/annotations.
        test_split: Sub-folder name of the test images/annotations.
        val_split: Fraction of train, or list of train image names, held out for validation
            (ignored when ``fold`` is set).
        n_folds: Number of folds of the train split for k-fold training (``trainlab kfold``).
        fold: With ``n_folds``: the fold held out for validation (0-based); the others train.
            Copies of an image (byte-identical or near-duplicate) never straddle two folds;
            the assignment is recorded in the fingerprint.
        near_duplicate_distance: Perceptual-hash distance (bits of 256) up to which two images
            are copies for the folds; -1: byte-identical files only.
        polygon_points: Vertices per polygon in the annotation files (4, or ``"auto"``).
        batch_size: Training batch size (eval batches hold one image, sizes differ).
        num_workers: DataLoader worker processes (0 is fastest on 2-core machines).
        image_size: Training crop side in pixels.
        resize: Resize policy shared by training and evaluation (``mode``, ``size``,
            ``max_side``), see :func:`~trainlab.tasks.text_detection.data.transforms.target_size`.
        augment: Augmentation config section.
        architecture_name: The detector architecture the training targets are for; its
            family (DB or CRAFT) decides which targets are built. Configs pass the model's
            (``${model.architecture_name}``).
        targets: The family's training-target options (configs pass ``${model.targets}``).
        cache_images: Keep resized images in memory.
        drop_test_duplicates: Drop train images byte-identical to a test image.
        seed: Seed of the train/val carving.
        limit_train: Use only the first N train images (after carving), for quick runs.

    Validation and test loaders hold one whole image per batch (sizes differ).

    Raises:
        ValueError: an unknown architecture, or a target option its family does not take
            (at construction).
        FileNotFoundError: a folder or an annotation file is missing (at ``setup``).
        AnnotationError: a malformed annotation line, file and line named (at ``setup``).
    """

    collate_fn = staticmethod(collate)

    def __init__(
        self,
        root: str,
        train_split: str = "train",
        test_split: str = "test",
        val_split: float | Sequence[str] = 0.1,
        n_folds: int | None = None,
        fold: int | None = None,
        near_duplicate_distance: int = 10,
        polygon_points: int | str = 4,
        batch_size: int = 8,
        num_workers: int = 0,
        image_size: int = 640,
        resize: Mapping[str, Any] | None = None,
        augment: Mapping[str, Any] | None = None,
        architecture_name: str = "dbnet",
        targets: Mapping[str, Any] | None = None,
        cache_images: bool = True,
        drop_test_duplicates: bool = True,
        seed: int = 42,
        limit_train: int | None = None,
    ):
        super().__init__(batch_size=batch_size, num_workers=num_workers, eval_batch_size=1)
        self.root = Path(root).expanduser()
        self.train_split = train_split
        self.test_split = test_split
        self.val_split = val_split if isinstance(val_split, (int, float)) else list(val_split)
        if (fold is None) != (n_folds is None) or (fold is not None and not 0 <= int(fold) < int(n_folds)):
            raise ValueError(f"data.fold and data.n_folds go together, with 0 <= fold < n_folds; got fold={fold}, "
                             f"n_folds={n_folds}")
        self.n_folds, self.fold = (None, None) if fold is None else (int(n_folds), int(fold))
        self.near_duplicate_distance = int(near_duplicate_distance)
        self.folds: dict[str, int] = {}
        self.kept_together: list[list[str]] = []
        self.polygon_points = polygon_points
        self.image_size = image_size
        self.resize = dict(resize or {})
        self.augment = dict(augment or {})
        self.targets = dict(targets or {})
        self.cache_images = cache_images
        self.drop_test_duplicates = drop_test_duplicates
        self.seed = seed
        self.limit_train = limit_train
        self.records: dict[str, list[AnnotatedImage]] = {}
        self.dropped: list[str] = []
        self._datasets: dict[str, TextDetectionDataset] = {}
        self._digests: dict[Path, str] = {}
        self.target_family = architecture_family(architecture_name)
        # Fail at construction on a target key the family does not take, not at the first batch.
        select_options(get_family(self.target_family), self.targets, "targets")

    def _read(self, split: str) -> list[AnnotatedImage]:
        return read_split(self.root / "images" / split, self.root / "annotations" / split,
                          polygon_points=self.polygon_points)

    def setup(self, stage: str | None = None) -> None:
        """Read annotations, carve the validation split and build the datasets (idempotent)."""
        if self.records:
            return
        if not self.root.is_dir():
            raise FileNotFoundError(f"data.root not found: {self.root}")
        train_all = self._read(self.train_split)
        test = self._read(self.test_split) if (self.root / "images" / self.test_split).is_dir() else []
        self._digests = {r.image_path: file_md5(r.image_path) for r in [*train_all, *test]}
        if self.drop_test_duplicates and test:
            test_digests = {self._digests[r.image_path]: r.name for r in test}
            kept = []
            for record in train_all:
                twin = test_digests.get(self._digests[record.image_path])
                if twin:
                    self.dropped.append(record.name)
                    log.warning("dropping train image %s: byte-identical to test image %s", record.name, twin)
                else:
                    kept.append(record)
            train_all = kept
        if self.fold is None:
            train, val = split_train_val(train_all, self.val_split, self.seed, self._digests)
        else:
            self.folds, self.kept_together = fold_assignment(train_all, self.n_folds, self.seed, self._digests,
                                                             self.near_duplicate_distance)
            train = [r for r in train_all if self.folds[r.name] != self.fold]
            val = [r for r in train_all if self.folds[r.name] == self.fold]
        if self.limit_train:
            train = train[: int(self.limit_train)]
        self.records = {"train": train, "val": val, "test": test}
        common = {"resize": self.resize, "cache_images": self.cache_images}
        self._datasets = {
            "train": TextDetectionDataset(train, True, self.image_size, augment=self.augment, targets=self.targets,
                                          target_family=self.target_family, **common),
            "val": TextDetectionDataset(val, False, **common),
            "test": TextDetectionDataset(test, False, **common),
        }

    def set_image_size(self, size: int) -> None:
        """Change the training crop side (pixels) from the next batch on (progressive resolution)."""
        self.image_size = int(size)
        if "train" in self._datasets:
            self._datasets["train"].set_image_size(size)

    def fingerprint(self) -> dict[str, Any]:
        """Content fingerprint and counts of the train/val/test splits (see :func:`fingerprint`)."""
        self.setup()
        result = fingerprint(self.records, self._digests)
        result["root"] = str(self.root)
        result["dropped_test_duplicates"] = list(self.dropped)
        if self.fold is not None:
            result["folds"] = {"n_folds": self.n_folds, "fold": self.fold, "seed": self.seed,
                               "near_duplicate_distance": self.near_duplicate_distance,
                               "assignment": dict(sorted(self.folds.items())), "kept_together": self.kept_together}
        return result

    def dataset(self, split: str) -> TextDetectionDataset:
        """The dataset of ``"train"`` (augmented crops with targets), ``"val"`` or ``"test"``."""
        self.setup()
        return self._datasets[check_split(split)]

    def eval_dataloader(self, split: str) -> DataLoader:
        """Whole-image loader (no augmentation, batch 1) over ``"train"``, ``"val"`` or ``"test"``."""
        self.setup()
        if check_split(split) == "train":
            dataset = TextDetectionDataset(self.records["train"], False, resize=self.resize, cache_images=False)
            return DataLoader(dataset, batch_size=1, num_workers=self.num_workers, collate_fn=collate)
        return self.loader(split, shuffle=False)
