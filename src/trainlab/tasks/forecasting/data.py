"""Forecasting windows over native CGM readings, and the datamodule.

Framing (all config): a window ends at a native reading at time ``t`` (the last history slot);
its history is the ``sequence_length`` minutes up to and including ``t`` on the sensor's grid
(1440 min = 288 Dexcom slots) and its targets the next ``prediction_horizon`` slots (12 = 60 min
for Dexcom). Missing history slots are masked (the transformer's key-padding mask); missing
targets are masked out of loss and metrics; windows without any observed target are dropped.
Subjects are split by a fixed, committed list (``splits/cgmacros.json``, 31/7/7 subjects), so no
subject is in two splits. Glucose standardisation is fitted on the training readings only.

Windows are built once as tensors (NumPy ``sliding_window_view``), and a loader batch is one
fancy-indexing per tensor (:meth:`WindowDataset.__getitems__`), so data loading costs little
next to a training step.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch.utils.data import Dataset

from trainlab.engine.datamodule import SPLITS, TaskDataModule, check_split
from trainlab.tasks.forecasting.series import (
    NativeSeries,
    available_subjects,
    file_digest,
    load_series,
    sensor_column,
    subject_file,
)

SHIPPED_SPLIT = "cgmacros.json"


def shipped_split_file(name: str = SHIPPED_SPLIT) -> Path:
    """Path of a split file shipped in ``trainlab/tasks/forecasting/splits/``."""
    return Path(str(resources.files("trainlab.tasks.forecasting").joinpath("splits", name)))


def read_split_file(path: str | Path) -> dict[str, list[int]]:
    """``{"train": [...], "val": [...], "test": [...]}`` subject ids from a split file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not JSON, a split missing, or a subject in two splits (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path}")
    try:
        splits = json.loads(path.read_text(encoding="utf-8"))["splits"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a split file ({{'splits': {{'train': [...], 'val': [...], 'test': [...]}}}}): {error}") from error
    return check_subject_split(splits, str(path))


def check_subject_split(splits: Mapping[str, Sequence[int]], source: str) -> dict[str, list[int]]:
    """The three splits as int lists, checked disjoint.

    Raises:
        ValueError: a split missing or a subject listed twice (``source`` names where the lists came from).
    """
    missing = [s for s in SPLITS if s not in splits]
    if missing:
        raise ValueError(f"{source}: split(s) {', '.join(missing)} missing; give train, val and test subject lists")
    out = {s: [int(x) for x in splits[s]] for s in SPLITS}
    seen: dict[int, str] = {}
    for split in SPLITS:
        for subject in out[split]:
            if subject in seen:
                raise ValueError(f"{source}: subject {subject} is in both {seen[subject]} and {split}")
            seen[subject] = split
    return out


@dataclass
class Windows:
    """Forecasting windows of one split, as tensors (``N`` windows, ``L`` history slots, ``H`` targets).

    Attributes:
        history: ``(N, L)`` float32 mg/dL, 0 where missing.
        history_mask: ``(N, L)`` bool, ``True`` where a native reading is present.
        target: ``(N, H)`` float32 mg/dL, 0 where missing.
        target_mask: ``(N, H)`` bool.
        minute_of_day: ``(N,)`` int64 minute of the day (0..1439) of the last history slot.
        subject: ``(N,)`` int64 subject id.
        end_time: ``(N,)`` int64 minutes since 1970-01-01 of the last history slot (date-shifted).
        cadence: Minutes between slots.
    """

    history: torch.Tensor
    history_mask: torch.Tensor
    target: torch.Tensor
    target_mask: torch.Tensor
    minute_of_day: torch.Tensor
    subject: torch.Tensor
    end_time: torch.Tensor
    cadence: int

    FIELDS = ("history", "history_mask", "target", "target_mask", "minute_of_day", "subject", "end_time")

    def __len__(self) -> int:
        return len(self.subject)

    def select(self, index: torch.Tensor | np.ndarray | Sequence[int]) -> dict[str, torch.Tensor]:
        """A batch: every field indexed by ``index`` (plus ``index`` itself, int64)."""
        index = torch.as_tensor(index, dtype=torch.long)
        return {**{f: getattr(self, f)[index] for f in self.FIELDS}, "index": index}


def make_windows(series: Sequence[NativeSeries], history_slots: int, horizon: int, stride: int = 1,
                 min_history_observed: float = 0.5, require_last_observed: bool = True, future: bool = False,
                 last_only: bool = False) -> Windows:
    """Cut every series into windows ending every ``stride`` slots.

    A window ending at slot ``e`` has history slots ``e - L + 1 .. e`` and targets ``e + 1 .. e + H``,
    all inside the series. It is kept when the last history slot holds a reading (with
    ``require_last_observed``; that reading is what persistence repeats and what the model
    predicts changes from), at least ``min_history_observed`` of its history is observed, and at
    least one target is observed.

    Args:
        series: Subjects' native series (one cadence).
        history_slots: ``L`` (e.g. 288 = 24 h of 5-minute readings).
        horizon: ``H`` targets (e.g. 12 = 60 min).
        stride: Slots between consecutive window ends.
        min_history_observed: Fraction in [0, 1].
        require_last_observed: See above.
        future: Forecasting past the data (``trainlab predict``): the series are extended by ``H``
            missing slots and windows need no observed target.
        last_only: Keep only each series' last window.

    Returns:
        :class:`Windows` (possibly empty).

    Raises:
        ValueError: non-positive sizes or stride, a fraction outside [0, 1], or mixed cadences.
    """
    if history_slots < 1 or horizon < 1 or stride < 1:
        raise ValueError(f"history_slots, horizon and stride must be >= 1; got {history_slots}, {horizon}, {stride}")
    if not 0.0 <= min_history_observed <= 1.0:
        raise ValueError(f"min_history_observed must be in [0, 1], got {min_history_observed}")
    cadences = {s.cadence for s in series}
    if len(cadences) > 1:
        raise ValueError(f"series of different cadences {sorted(cadences)}")
    cadence = cadences.pop() if cadences else 5
    parts: dict[str, list[np.ndarray]] = {f: [] for f in Windows.FIELDS}
    span = history_slots + horizon
    for s in series:
        pad = horizon if future else 0
        if len(s.values) + pad < span:
            continue
        values = np.concatenate([np.nan_to_num(s.values, nan=0.0), np.zeros(pad)]).astype(np.float32)
        observed = np.concatenate([s.observed, np.zeros(pad, dtype=bool)])
        view_values = sliding_window_view(values, span)
        view_mask = sliding_window_view(observed, span)
        starts = np.arange(0, len(view_values), stride)
        mask = view_mask[starts]
        keep = np.ones(len(starts), dtype=bool) if future else mask[:, history_slots:].any(axis=1)
        keep &= mask[:, :history_slots].mean(axis=1) >= min_history_observed
        if require_last_observed:
            keep &= mask[:, history_slots - 1]
        if last_only:
            keep &= np.arange(len(keep)) == (np.flatnonzero(keep)[-1] if keep.any() else -1)
        starts = starts[keep]
        ends = starts + history_slots - 1
        block = view_values[starts]
        parts["history"].append(block[:, :history_slots])
        parts["history_mask"].append(mask[keep][:, :history_slots])
        parts["target"].append(block[:, history_slots:])
        parts["target_mask"].append(mask[keep][:, history_slots:])
        parts["minute_of_day"].append((s.minute_of_day()[0] + ends * s.cadence) % 1440)
        parts["subject"].append(np.full(len(ends), s.subject, dtype=np.int64))
        parts["end_time"].append((s.start + ends * np.timedelta64(s.cadence, "m")).astype(np.int64))
    shapes = {"history": (0, history_slots), "history_mask": (0, history_slots), "target": (0, horizon),
              "target_mask": (0, horizon)}
    dtypes = {"history": np.float32, "target": np.float32, "history_mask": bool, "target_mask": bool}
    tensors = {}
    for field in Windows.FIELDS:
        if parts[field]:
            array = np.concatenate(parts[field])
        else:
            array = np.zeros(shapes.get(field, (0,)), dtype=dtypes.get(field, np.int64))
        tensors[field] = torch.from_numpy(np.ascontiguousarray(array).astype(dtypes.get(field, np.int64)))
    return Windows(cadence=cadence, **tensors)


class WindowDataset(Dataset):
    """A split's windows; ``dataset[i]`` is one window, a loader batch is fetched in one go.

    PyTorch's map-style fetcher calls :meth:`__getitems__` with a batch's indices when the
    dataset has it, and the datamodule's collate function passes that batch through.
    """

    def __init__(self, windows: Windows):
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.windows.select([index]).items()}

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        return self.windows.select(indices)


def pass_batch(batch: Any) -> Any:
    """Collate function: a batch from :meth:`WindowDataset.__getitems__` is already collated;
    a list of single windows (another sampler) is stacked."""
    if isinstance(batch, dict):
        return batch
    return {k: torch.stack([item[k] for item in batch]) for k in batch[0]}


class CGMDataModule(TaskDataModule):
    """Windows of native CGM readings (CGMacros), split by subject.

    Args:
        root: Folder of ``CGMacros-NNN.csv.gz`` files (``${oc.env:TRAINLAB_DATA_DIR,../shared/data}/cgm``).
        sensor: ``dexcom`` (5-minute readings) or ``libre`` (15-minute readings).
        sequence_length: History length in minutes (a multiple of the sensor's cadence).
        prediction_horizon: Number of future readings to predict.
        stride: Slots between training window ends.
        eval_stride: Slots between validation/test window ends.
        split_file: JSON file of subject lists (``null``: the shipped ``splits/cgmacros.json``).
        subjects: ``{train: [...], val: [...], test: [...]}`` instead of the split file (tests, quick runs).
        min_history_observed: Minimum observed fraction of a window's history.
        require_last_observed: Keep only windows whose last history slot holds a reading.
        batch_size, eval_batch_size, num_workers: Loader settings.

    Raises:
        ValueError: an unknown sensor, a history not a multiple of the cadence (at construction).
        FileNotFoundError: the data folder or a subject's file is missing; SeriesError: a malformed
            file (at :meth:`setup`; the messages name the path and line).
    """

    collate_fn = staticmethod(pass_batch)

    def __init__(self, root: str, sensor: str = "dexcom", sequence_length: int = 1440, prediction_horizon: int = 12,
                 stride: int = 1, eval_stride: int = 1, split_file: str | None = None,
                 subjects: Mapping[str, Sequence[int]] | None = None, min_history_observed: float = 0.5,
                 require_last_observed: bool = True, batch_size: int = 256, eval_batch_size: int | None = 1024,
                 num_workers: int = 0):
        super().__init__(batch_size=batch_size, num_workers=num_workers, eval_batch_size=eval_batch_size)
        _, cadence = sensor_column(sensor)
        if sequence_length % cadence or sequence_length <= 0:
            raise ValueError(f"data.sequence_length={sequence_length} minutes must be a positive multiple of the "
                             f"{sensor} cadence ({cadence} min)")
        self.root = Path(root).expanduser()
        self.sensor = sensor
        self.cadence = cadence
        self.sequence_length = int(sequence_length)
        self.history_slots = self.sequence_length // cadence
        self.horizon = int(prediction_horizon)
        self.strides = {"train": int(stride), "val": int(eval_stride), "test": int(eval_stride)}
        self.split_file = Path(split_file).expanduser() if split_file else None
        self.subjects_given = {k: list(v) for k, v in subjects.items()} if subjects else None
        self.min_history_observed = float(min_history_observed)
        self.require_last_observed = bool(require_last_observed)
        self.subjects: dict[str, list[int]] = {}
        self.series: dict[str, list[NativeSeries]] = {}
        self.windows: dict[str, Windows] = {}
        self._datasets: dict[str, WindowDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        """Read the subjects' files, recover native readings and build every split's windows (idempotent)."""
        if self.windows:
            return
        if self.subjects_given is not None:
            subjects = check_subject_split(self.subjects_given, "data.subjects")
        else:
            subjects = read_split_file(self.split_file or shipped_split_file())
        present = set(available_subjects(self.root))
        absent = sorted(s for split in subjects.values() for s in split if s not in present)
        if absent:
            raise FileNotFoundError(f"{self.root}: no file for subject(s) {absent} "
                                    f"(expected {subject_file(self.root, absent[0]).name})")
        self.subjects = subjects
        for split in SPLITS:
            self.series[split] = [load_series(self.root, s, self.sensor) for s in subjects[split]]
            self.windows[split] = make_windows(self.series[split], self.history_slots, self.horizon,
                                               self.strides[split], self.min_history_observed, self.require_last_observed)
            self._datasets[split] = WindowDataset(self.windows[split])

    def dataset(self, split: str) -> WindowDataset:
        """The windows of ``"train"``, ``"val"`` or ``"test"``."""
        self.setup()
        return self._datasets[check_split(split)]

    def glucose_stats(self) -> tuple[float, float]:
        """``(mean, std)`` mg/dL of the training split's native readings (for standardisation).

        Raises:
            ValueError: the training split has no readings.
        """
        self.setup()
        values = np.concatenate([s.values[s.observed] for s in self.series["train"]] or [np.zeros(0)])
        if not len(values):
            raise ValueError("the training split has no native readings")
        return float(values.mean()), float(values.std())

    def fingerprint(self) -> dict[str, Any]:
        """SHA-256 over the subject files used (per split) and the framing; per split the subjects,
        native readings, missing slots and windows."""
        self.setup()
        hasher = hashlib.sha256()
        framing = {"sensor": self.sensor, "cadence_min": self.cadence, "history_slots": self.history_slots,
                   "horizon": self.horizon, "strides": self.strides, "min_history_observed": self.min_history_observed,
                   "require_last_observed": self.require_last_observed}
        hasher.update(json.dumps(framing, sort_keys=True).encode())
        splits = {}
        for split in SPLITS:
            for subject in self.subjects[split]:
                hasher.update(f"{split}/{subject}:{file_digest(subject_file(self.root, subject))}\n".encode())
            series = self.series[split]
            splits[split] = {"subjects": self.subjects[split],
                             "readings": int(sum(s.observed.sum() for s in series)),
                             "missing_slots": int(sum((~s.observed).sum() for s in series)),
                             "windows": len(self.windows[split])}
        return {"sha256": hasher.hexdigest(), "root": str(self.root),
                "split_file": None if self.subjects_given else str(self.split_file or shipped_split_file()),
                **framing, "splits": splits}
