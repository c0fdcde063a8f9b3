"""A tiny real-data task for engine tests: text/background pixel classification on the embedded receipts.

Images of the mini SROIE set are resized to 64 x 64 and paired with their text masks
(annotation polygons filled), so that every engine technique is exercised by a real
``TrainlabModule`` subclass, on real data, in well under a second per fit.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from trainlab.engine.datamodule import TaskDataModule, check_split
from trainlab.engine.losses import binary_cross_entropy, binary_focal_loss
from trainlab.engine.module import TrainlabModule
from trainlab.tasks.text_detection.data.icdar_format import read_split

SIZE = 64


def load_patches(root: Path, split: str = "train", count: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images (N, 3, 64, 64) float32 in [0, 1], masks (N, 1, 64, 64) float32 in {0, 1})``."""
    records = read_split(root / "images" / split, root / "annotations" / split)[:count]
    images, masks = [], []
    for record in records:
        image = cv2.imread(str(record.image_path))
        height, width = image.shape[:2]
        mask = np.zeros((SIZE, SIZE), np.uint8)
        scale = np.array([SIZE / width, SIZE / height])
        for region in record.regions:
            cv2.fillPoly(mask, [np.round(region.points * scale).astype(np.int32)], 1)
        images.append(cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_AREA).transpose(2, 0, 1) / 255.0)
        masks.append(mask[None])
    return torch.tensor(np.stack(images), dtype=torch.float32), torch.tensor(np.stack(masks), dtype=torch.float32)


class PatchDataset(Dataset):
    def __init__(self, images: torch.Tensor, masks: torch.Tensor):
        self.images, self.masks = images, masks

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index], "mask": self.masks[index]}


class PatchData(TaskDataModule):
    """Train on ``train_count`` receipts, validate on ``val_count`` others, test on ``test_count``
    test receipts (validation and test in batches of 1): the task contract's datamodule."""

    def __init__(self, root: str | Path, batch_size: int = 2, train_count: int = 8, val_count: int = 2,
                 test_count: int = 2, shuffle: bool = True):
        super().__init__(batch_size=batch_size, eval_batch_size=1)
        self.shuffle = shuffle
        images, masks = load_patches(Path(root), "train", train_count + val_count)
        self.train_set = PatchDataset(images[:train_count], masks[:train_count])
        self.val_set = PatchDataset(images[train_count:], masks[train_count:])
        self.test_set = PatchDataset(*load_patches(Path(root), "test", test_count))

    def dataset(self, split: str) -> PatchDataset:
        return {"train": self.train_set, "val": self.val_set, "test": self.test_set}[check_split(split)]

    def fingerprint(self) -> dict:
        digest = hashlib.sha256()
        for split in ("train", "val", "test"):
            digest.update(self.dataset(split).images.numpy().tobytes())
        return {"sha256": digest.hexdigest(), "splits": {s: {"images": len(self.dataset(s))} for s in ("train", "val", "test")}}

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=self.shuffle)


class PixelClassifier(TrainlabModule):
    """Conv - ReLU - Dropout - Conv logits; BCE or focal loss; ``val/loss`` per epoch.

    ``nan_at_steps``: global steps whose loss is multiplied by NaN (fault injection).
    """

    def __init__(self, loss: str = "bce", dropout: float = 0.0, nan_at_steps: tuple[int, ...] = (),
                 optimizer: dict | None = None, scheduler: dict | None = None, norm: bool = False,
                 channels_last: bool = False, feature_dropout: float = 0.0):
        super().__init__(optimizer=optimizer or {"name": "sgd", "lr": 0.1}, scheduler=scheduler,
                         channels_last=channels_last, feature_dropout=feature_dropout)
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8) if norm else nn.Identity(),
                                 nn.ReLU(), nn.Dropout(dropout), nn.Conv2d(8, 1, 1))
        self.loss_name, self.nan_at_steps = loss, set(nan_at_steps)
        self.seen_batches: list[dict[str, torch.Tensor]] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self(batch["image"])
        if self.loss_name == "focal":
            return binary_focal_loss(logits, batch["mask"], from_logits=True, reduction="mean")
        return binary_cross_entropy(logits, batch["mask"], from_logits=True, reduction="mean")

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.seen_batches.append({k: v.detach().clone() for k, v in batch.items()})
        loss = self.loss(batch)
        if self.trainer.global_step in self.nan_at_steps:
            loss = loss * float("nan")
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.log("val/loss", self.loss(batch), on_epoch=True)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.log("test/loss", self.loss(batch), on_epoch=True)


def fit(module: PixelClassifier, data: PatchData, tmp_path: Path, callbacks: list | None = None, **trainer_kwargs) -> L.Trainer:
    """A quiet CPU fit; returns the trainer."""
    options = dict(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                   enable_checkpointing=False, accelerator="cpu", devices=1, num_sanity_val_steps=0,
                   default_root_dir=str(tmp_path))
    options.update(trainer_kwargs)
    trainer = L.Trainer(callbacks=callbacks or [], **options)
    trainer.fit(module, datamodule=data)
    return trainer
