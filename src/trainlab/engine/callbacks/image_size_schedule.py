"""Progressive resolution: change the training image size at given epochs."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import lightning as L
from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class ImageSizeSchedule(Callback):
    """Set the datamodule's training image size from an epoch schedule.

    Args:
        schedule: ``{first_epoch: size}`` in pixels, epochs 0-based, e.g. ``{0: 640, 4: 960}``
            trains at 640 until epoch 3 and at 960 from epoch 4 on. Epochs before the first
            key keep the datamodule's own ``image_size``.

    The datamodule must have ``set_image_size(size: int)``; datasets read the size per item,
    so with ``num_workers=0`` the change applies from the next batch (with workers, from
    the next epoch's loader).

    Raises:
        TypeError: the datamodule has no ``set_image_size``.
    """

    def __init__(self, schedule: Mapping[int, int]):
        super().__init__()
        self.schedule = {int(epoch): int(size) for epoch, size in dict(schedule).items()}

    def size_at(self, epoch: int) -> int | None:
        """The scheduled size for a 0-based epoch, or ``None`` before the first entry."""
        due = [e for e in self.schedule if e <= epoch]
        return self.schedule[max(due)] if due else None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        size = self.size_at(trainer.current_epoch)
        datamodule = trainer.datamodule
        if size is None:
            return
        if not hasattr(datamodule, "set_image_size"):
            raise TypeError(f"{type(datamodule).__name__} has no set_image_size(); ImageSizeSchedule needs it")
        if getattr(datamodule, "image_size", None) != size:
            log.info("epoch %d: training image size %s -> %d", trainer.current_epoch,
                     getattr(datamodule, "image_size", None), size)
        datamodule.set_image_size(size)
