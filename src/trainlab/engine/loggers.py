"""Loggers: Lightning's CSV logger made to keep its rows when a run is resumed into its own folder.

Lightning's :class:`~lightning.pytorch.loggers.CSVLogger` deletes an existing ``metrics.csv``
when it opens its folder, so a run resumed with ``ckpt_path=<run>/checkpoints/last.ckpt`` in
the same ``hydra.run.dir`` kept only the epochs after the resumption.
:class:`ResumableCSVLogger` keeps the earlier rows instead and, at the first row the resumed
run logs, drops the earlier rows that the resumed run logs again (those at or after its
``(epoch, step)``, :func:`comes_before`), so every epoch is in the file exactly once.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from trainlab.engine.io import atomic_write_text


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def comes_before(row: Mapping[str, Any], first_new: Mapping[str, Any]) -> bool:
    """Whether an earlier row was logged before the first row of the resumed segment.

    Rows are ordered by ``(epoch, step)`` when both have an epoch, else by ``step`` alone
    (Lightning writes no epoch for rows logged with an explicit step, e.g. learning rates).
    A row without a step is kept.
    """
    step, new_step = _number(row.get("step")), _number(first_new.get("step"))
    if step is None or new_step is None:
        return True
    epoch, new_epoch = _number(row.get("epoch")), _number(first_new.get("epoch"))
    if epoch is None or new_epoch is None:
        return step < new_step
    return (epoch, step) < (new_epoch, new_step)


class ResumingExperimentWriter(ExperimentWriter):
    """Lightning's CSV experiment writer that keeps the rows of an earlier segment of the run.

    Args:
        log_dir: The folder of ``metrics.csv`` and ``hparams.yaml``.

    On opening, an existing ``metrics.csv`` is read (not deleted, unlike Lightning's writer). At
    the first :meth:`log_metrics` call, the file is rewritten atomically with only the earlier
    rows whose ``(epoch, step)`` comes before the new row's; Lightning's own ``save`` then
    appends as usual (and rewrites the header when new columns appear).

    Raises:
        ValueError: ``metrics.csv`` exists but is not a CSV with a header (names the file and line).
    """

    def __init__(self, log_dir: str) -> None:
        self._earlier: list[dict[str, str]] | None = None
        self._earlier_keys: list[str] = []
        super().__init__(log_dir=log_dir)

    def _check_log_dir_exists(self) -> None:
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
            reader = csv.DictReader(handle)
            try:
                rows = list(reader)
            except csv.Error as error:
                raise ValueError(f"{self.metrics_file_path}:{reader.line_num}: not a readable CSV ({error})") from error
        if reader.fieldnames is None:
            return
        if any(None in row for row in rows):
            line = next(i for i, row in enumerate(rows, start=2) if None in row)
            raise ValueError(f"{self.metrics_file_path}:{line}: more fields than the header has")
        self._earlier, self._earlier_keys = rows, list(reader.fieldnames)

    def log_metrics(self, metrics_dict: dict[str, float], step: int | None = None) -> None:
        """Record metrics (Lightning's behaviour); the first call settles which earlier rows stay."""
        if self._earlier is not None:
            first_new = {**metrics_dict, "step": step}
            kept = [row for row in self._earlier if comes_before(row, first_new)]
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=self._earlier_keys, lineterminator="\n")
            writer.writeheader()
            writer.writerows(kept)
            atomic_write_text(self.metrics_file_path, text.getvalue())
            self.metrics_keys = list(self._earlier_keys)
            self._earlier = None
        super().log_metrics(metrics_dict, step)


class ResumableCSVLogger(CSVLogger):
    """:class:`~lightning.pytorch.loggers.CSVLogger` whose ``metrics.csv`` survives a resume into the same folder.

    Takes the arguments of Lightning's CSVLogger (``save_dir``, ``name``, ``version``, ...).
    Rows: one per logging call, columns ``epoch``, ``step`` and the logged names (Lightning's
    format). The earlier segment's rows are kept as described in :class:`ResumingExperimentWriter`.
    """

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        """The experiment writer (created on first use, global rank 0 only)."""
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ResumingExperimentWriter(log_dir=self.log_dir)
        return self._experiment
