"""The datamodule half of the task contract: :class:`TaskDataModule`, the base of every task's datamodule."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset

SPLITS = ("train", "val", "test")


class TaskDataModule(L.LightningDataModule, abc.ABC):
    """Base class of every task's datamodule.

    A subclass reads and splits its data in :meth:`setup` (idempotent), returns a torch
    :class:`~torch.utils.data.Dataset` per split from :meth:`dataset`, and describes what it
    read in :meth:`fingerprint` (recorded in the run manifest). Loaders come from here:
    training shuffles and drops an incomplete last batch; validation and test keep order.

    Args:
        batch_size: Training batch size (samples per optimizer step before accumulation).
        num_workers: DataLoader worker processes (0: load in the training process, the
            fastest on small CPU machines).
        eval_batch_size: Batch size of validation/test loaders; ``None``: ``batch_size``.

    Class attributes:
        collate_fn: The loaders' collate function (``None``: PyTorch's default).
        folds_partition_test: ``True`` when each fold of ``data.fold`` tests on its own part of
            the data (cross-validation over the whole corpus), ``False`` when folds only split
            the training data and every fold shares one test split; ``trainlab kfold`` scores
            the folds' ensemble on test only in the second case.
    """

    collate_fn: Any = None
    folds_partition_test: bool = False

    def __init__(self, batch_size: int = 8, num_workers: int = 0, eval_batch_size: int | None = None):
        super().__init__()
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.eval_batch_size = int(eval_batch_size) if eval_batch_size else self.batch_size

    @abc.abstractmethod
    def dataset(self, split: str) -> Dataset:
        """The dataset of ``"train"``, ``"val"`` or ``"test"`` (set up on first use).

        Raises:
            KeyError: an unknown split name.
        """

    @abc.abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """A content fingerprint of the data the run used (``sha256``, per-split counts, source)."""

    def loader(self, split: str, shuffle: bool = False) -> DataLoader:
        """A DataLoader over :meth:`dataset` of ``split``."""
        dataset = self.dataset(split)
        train = split == "train"
        batch_size = self.batch_size if train else self.eval_batch_size
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=self.num_workers,
                          collate_fn=self.collate_fn, drop_last=train and len(dataset) > batch_size)

    def eval_dataloader(self, split: str) -> DataLoader:
        """The loader ``trainlab eval`` scores ``split`` with (no augmentation, fixed order).

        Raises:
            ValueError: ``split`` is not one of :data:`SPLITS`.
        """
        check_split(split)
        return self.loader(split, shuffle=False)

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")


def check_split(split: str, splits: Sequence[str] = SPLITS) -> str:
    """``split`` itself when it is one of ``splits``.

    Raises:
        ValueError: it is not (the message lists the valid ones).
    """
    if split not in splits:
        raise ValueError(f"split must be one of {', '.join(splits)}; got {split!r}")
    return split
