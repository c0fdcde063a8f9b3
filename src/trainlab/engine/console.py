"""Keep the console readable: silence third-party notices that say nothing about the run."""

from __future__ import annotations

import logging
import warnings

_NOISE = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
    r"You have overridden `transfer_batch_to_device` in `LightningModule` but have passed in a `LightningDataModule`.*",
    r"The number of training batches \(\d+\) is smaller than the logging interval.*",
)


class _DropTips(logging.Filter):
    """Drop Lightning's product tips (``💡 Tip: ... try installing ...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "💡 Tip" not in record.getMessage()


def quiet_third_party() -> None:
    """Install warning filters and a log filter for known, harmless third-party notices (idempotent)."""
    for pattern in _NOISE:
        warnings.filterwarnings("ignore", message=pattern)
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropTips) for f in logger.filters):
        logger.addFilter(_DropTips())
