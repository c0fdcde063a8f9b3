"""CGM series: native-cadence readings recovered from an interpolated 1-minute grid, re-indexed
to a regular grid with a missing-reading mask.

The CGMacros files (``../shared/data/cgm``, see its SOURCE.md) hold one row per minute, but the
sensors read every 5 minutes (Dexcom G6 Pro) or 15 minutes (FreeStyle Libre Pro); the minutes in
between were filled upstream by linear interpolation. A native reading is an integer mg/dL value
(both sensors report integers) on the sensor's phase: the minute of the day modulo the cadence at
which every value is an integer. The phase changes after gaps or a sensor change (subjects 18
and 26 for Dexcom), so it is chosen per segment of consecutive rows (rows no more than one
cadence apart). Values on the phase that are not integers (isolated rows between long gaps, as in
subject 18) are treated as missing. Nothing here is interpolated: a grid slot without a native
reading stays missing.

Plain NumPy/pandas; no torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SENSORS = {"dexcom": ("Dexcom GL", 5), "libre": ("Libre GL", 15)}
COLUMNS = ("subject", "Timestamp", "Libre GL", "Dexcom GL")
_EPOCH = np.datetime64("2000-01-01T00:00", "m")


class SeriesError(ValueError):
    """A CGM file that cannot be read as documented (the message names the file and line)."""


@dataclass(frozen=True)
class NativeSeries:
    """One subject's native readings on a regular grid.

    Attributes:
        subject: Subject id (int).
        sensor: ``dexcom`` or ``libre``.
        cadence: Minutes between grid slots (5 or 15).
        start: Minute of the first slot, as ``numpy.datetime64[m]`` (date-shifted upstream; time of day real).
        values: ``(T,)`` float32 glucose in mg/dL per slot; NaN where no native reading.
        observed: ``(T,)`` bool, ``True`` where ``values`` holds a native reading.
        offsets: ``(T,)`` int8 minutes between the reading's timestamp and its slot's nominal time
            (0 except after a phase change, at most half a cadence); 0 where missing.
    """

    subject: int
    sensor: str
    cadence: int
    start: np.datetime64
    values: np.ndarray
    observed: np.ndarray
    offsets: np.ndarray

    @property
    def times(self) -> np.ndarray:
        """``(T,)`` ``datetime64[m]`` nominal time of every slot."""
        return self.start + np.arange(len(self.values)) * np.timedelta64(self.cadence, "m")

    def minute_of_day(self) -> np.ndarray:
        """``(T,)`` int64 minute of the day (0..1439) of every slot."""
        return ((self.times - self.times.astype("datetime64[D]")).astype(np.int64)) % 1440


def subject_file(root: str | Path, subject: int) -> Path:
    """``<root>/CGMacros-NNN.csv.gz`` of ``subject``."""
    return Path(root) / f"CGMacros-{int(subject):03d}.csv.gz"


def available_subjects(root: str | Path) -> list[int]:
    """Subject ids with a file in ``root`` (sorted).

    Raises:
        FileNotFoundError: ``root`` is not a folder (the message names it).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CGM data folder not found: {root} (set data.root=<folder with CGMacros-NNN.csv.gz> "
                                "or TRAINLAB_DATA_DIR=<folder holding cgm/>)")
    return sorted(int(p.name[9:12]) for p in root.glob("CGMacros-[0-9][0-9][0-9].csv.gz"))


def read_subject(path: str | Path) -> pd.DataFrame:
    """Read one CGMacros file: columns ``subject``, ``Timestamp`` (datetime64), ``Libre GL``, ``Dexcom GL`` (float mg/dL).

    Raises:
        FileNotFoundError: no such file.
        SeriesError: a missing column, an unparsable timestamp or value, or timestamps that do not
            increase (the message names the file and the line, counting the header as line 1).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CGM file not found: {path}")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise SeriesError(f"{path}:1: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    times = pd.to_datetime(frame["Timestamp"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    bad = np.flatnonzero(times.isna().to_numpy())
    if len(bad):
        raise SeriesError(f"{path}:{bad[0] + 2}: timestamp {frame['Timestamp'].iloc[bad[0]]!r} is not YYYY-MM-DD HH:MM:SS")
    out = pd.DataFrame({"subject": frame["subject"], "Timestamp": times})
    for column in ("Libre GL", "Dexcom GL"):
        text = frame[column].str.strip()
        values = pd.to_numeric(text.replace("", np.nan), errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() & (text != "").to_numpy())
        if len(bad):
            raise SeriesError(f"{path}:{bad[0] + 2}: {column} value {text.iloc[bad[0]]!r} is not a number")
        out[column] = values.astype(np.float64)
    steps = np.diff(times.to_numpy().astype("datetime64[s]").astype(np.int64))
    bad = np.flatnonzero(steps <= 0)
    if len(bad):
        raise SeriesError(f"{path}:{bad[0] + 3}: timestamp {frame['Timestamp'].iloc[bad[0] + 1]} does not come after "
                          f"the previous row's {frame['Timestamp'].iloc[bad[0]]}")
    return out


def native_readings(frame: pd.DataFrame, sensor: str = "dexcom") -> pd.DataFrame:
    """The sensor's native readings among the 1-minute rows (SOURCE.md: "the 1-minute values are interpolated").

    Rows with a value are cut into segments wherever consecutive rows are more than one cadence
    apart; in each segment the phase (minutes since 2000-01-01 modulo the cadence) with the
    largest share of integer values is the sensor's; rows on that phase with an integer value are
    native readings.

    Args:
        frame: :func:`read_subject`'s table.
        sensor: ``dexcom`` (5-minute cadence) or ``libre`` (15 minutes).

    Returns:
        Columns ``Timestamp`` (datetime64) and ``glucose`` (float64 mg/dL), increasing in time.

    Raises:
        ValueError: an unknown sensor.
    """
    column, cadence = sensor_column(sensor)
    rows = frame.loc[frame[column].notna(), ["Timestamp", column]]
    minutes = (rows["Timestamp"].to_numpy().astype("datetime64[m]") - _EPOCH).astype(np.int64)
    values = rows[column].to_numpy()
    integer = np.abs(values - np.round(values)) < 1e-6
    keep = np.zeros(len(values), dtype=bool)
    cuts = np.flatnonzero(np.diff(minutes) > cadence) + 1
    for segment in np.split(np.arange(len(values)), cuts):
        if not len(segment):
            continue
        phases = minutes[segment] % cadence
        share = [integer[segment][phases == p].mean() if (phases == p).any() else -1.0 for p in range(cadence)]
        best = int(np.argmax(share))
        keep[segment] = (phases == best) & integer[segment]
    return pd.DataFrame({"Timestamp": rows["Timestamp"].to_numpy()[keep], "glucose": values[keep]})


def sensor_column(sensor: str) -> tuple[str, int]:
    """``(column name, cadence in minutes)`` of ``sensor``.

    Raises:
        ValueError: not ``dexcom`` or ``libre``.
    """
    if sensor not in SENSORS:
        raise ValueError(f"data.sensor={sensor!r}: choose one of {', '.join(SENSORS)}")
    return SENSORS[sensor]


def to_grid(readings: pd.DataFrame, subject: int, sensor: str) -> NativeSeries:
    """Place native readings on a regular grid of the sensor's cadence starting at the first reading.

    Each reading goes to the nearest slot (after a phase change it lands up to half a cadence
    from its slot's nominal time; the offset is kept); a slot claimed twice keeps the first
    reading. Slots without a reading are missing (NaN, ``observed`` false), never filled.

    Raises:
        ValueError: no readings, or an unknown sensor.
    """
    _, cadence = sensor_column(sensor)
    if readings.empty:
        raise ValueError(f"subject {subject}: no native {sensor} readings")
    minutes = readings["Timestamp"].to_numpy().astype("datetime64[m]")
    start = minutes[0]
    elapsed = (minutes - start).astype(np.int64)
    slots = np.rint(elapsed / cadence).astype(np.int64)
    first = np.ones(len(slots), dtype=bool)
    first[1:] = slots[1:] != slots[:-1]
    slots, elapsed, glucose = slots[first], elapsed[first], readings["glucose"].to_numpy()[first]
    values = np.full(int(slots[-1]) + 1, np.nan, dtype=np.float32)
    offsets = np.zeros(len(values), dtype=np.int8)
    values[slots] = glucose
    offsets[slots] = elapsed - slots * cadence
    return NativeSeries(int(subject), sensor, cadence, start, values, ~np.isnan(values), offsets)


def load_series(root: str | Path, subject: int, sensor: str = "dexcom") -> NativeSeries:
    """:func:`read_subject` -> :func:`native_readings` -> :func:`to_grid` for one subject's file."""
    return to_grid(native_readings(read_subject(subject_file(root, subject)), sensor), subject, sensor)


def file_digest(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
