"""Native-cadence readings, the subject split and the masks, on real CGMacros subjects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trainlab.tasks.forecasting.data import CGMDataModule, read_split_file, shipped_split_file
from trainlab.tasks.forecasting.series import native_readings, read_subject, subject_file, to_grid


def _raw(cgm_root, subject):
    frame = read_subject(subject_file(cgm_root, subject))
    return frame, frame.set_index("Timestamp")["Dexcom GL"]


def test_native_readings_are_the_integer_values_on_the_five_minute_phase(cgm_root):
    # Subject 1: every Dexcom value on one 5-minute phase is an integer (SOURCE.md); 4 of 5
    # minutes are interpolated between them.
    frame, raw = _raw(cgm_root, 1)
    native = native_readings(frame, "dexcom")
    minutes = native["Timestamp"].dt.hour * 60 + native["Timestamp"].dt.minute
    assert minutes.mod(5).nunique() == 1
    phase = int(minutes.mod(5).iloc[0])
    rows = frame.dropna(subset=["Dexcom GL"])
    on_phase = rows[(rows["Timestamp"].dt.hour * 60 + rows["Timestamp"].dt.minute) % 5 == phase]
    assert len(native) == len(on_phase)
    assert np.array_equal(native["glucose"].to_numpy(), np.round(native["glucose"].to_numpy()))
    off_phase = rows[(rows["Timestamp"].dt.hour * 60 + rows["Timestamp"].dt.minute) % 5 != phase]["Dexcom GL"]
    assert (off_phase != off_phase.round()).mean() > 0.5  # the interpolated minutes, mostly fractional


def test_no_interpolated_value_is_a_target(small_data, cgm_root):
    # Every observed target is the file's value at a native 5-minute timestamp of the subject.
    windows = small_data.windows["train"]
    for subject in (1, 2):
        _, raw = _raw(cgm_root, subject)
        native_times = set(native_readings(read_subject(subject_file(cgm_root, subject)), "dexcom")["Timestamp"])
        rows = (windows.subject == subject).nonzero().flatten().numpy()
        assert len(rows) > 100
        pick = rows[:: max(1, len(rows) // 40)]
        for i in pick:
            end = pd.Timestamp(np.datetime64(int(windows.end_time[i]), "m"))
            assert end in native_times and raw[end] == windows.history[i, -1]
            for h in np.flatnonzero(windows.target_mask[i].numpy()):
                when = end + pd.Timedelta(minutes=5 * (h + 1))
                assert when in native_times, (subject, when)
                assert raw[when] == pytest.approx(float(windows.target[i, h]))


def test_a_phase_change_after_a_gap_is_followed(cgm_root):
    # Subject 26's Dexcom changes phase (1 -> 2) after a gap with four isolated rows: both segments'
    # integer readings are kept, the isolated interpolated rows are not, and the later readings sit
    # within 2 minutes of their 5-minute slots.
    frame, _ = _raw(cgm_root, 26)
    native = native_readings(frame, "dexcom")
    phases = (native["Timestamp"].dt.hour * 60 + native["Timestamp"].dt.minute).mod(5)
    assert set(phases.unique()) == {1, 2}
    assert (phases.diff().fillna(0) != 0).sum() == 1  # one change
    series = to_grid(native, 26, "dexcom")
    assert series.observed.sum() == len(native)
    assert set(np.unique(series.offsets[series.observed])) <= {-2, -1, 0, 1, 2}
    assert (series.offsets[series.observed] != 0).any()


def test_the_shipped_split_is_disjoint_and_covers_every_subject(cgm_root):
    split = read_split_file(shipped_split_file())
    sets = {name: set(ids) for name, ids in split.items()}
    assert [len(sets[s]) for s in ("train", "val", "test")] == [31, 7, 7]
    assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"] or sets["val"] & sets["test"])
    present = {int(p.name[9:12]) for p in cgm_root.glob("CGMacros-*.csv.gz")}
    assert sets["train"] | sets["val"] | sets["test"] == present
    assert json.loads(shipped_split_file().read_text())["grouped_by"] == "subject"
    with pytest.raises(ValueError, match="subject 2 is in both train and test"):
        CGMDataModule(str(cgm_root), subjects={"train": [1, 2], "val": [3], "test": [2]}).setup()


def test_windows_of_a_split_come_from_its_subjects_only(small_data):
    for split, subjects in small_data.subjects.items():
        assert set(small_data.windows[split].subject.unique().tolist()) == set(subjects)


def test_the_nine_day_gap_of_subject_18_is_masked_not_filled(small_data, cgm_root):
    series = small_data.series["test"][0]
    assert series.subject == 18
    # One run of about 9.4 days without a native reading; the isolated row inside it (2024-02-07
    # 09:40, an interpolated, non-integer value in the file) is not taken as a reading.
    seen = np.flatnonzero(series.observed)
    k = int(np.argmax(np.diff(seen)))
    gap_start, gap_end = series.times[seen[k]], series.times[seen[k + 1]]
    assert np.diff(seen)[k] > 2500 and np.isnan(series.values[seen[k] + 1:seen[k + 1]]).all()
    _, raw = _raw(cgm_root, 18)
    isolated = pd.Timestamp("2024-02-07 09:40")
    assert raw[isolated] != round(raw[isolated]) and gap_start < np.datetime64(isolated) < gap_end
    windows = small_data.windows["test"]
    ends = windows.end_time.numpy().astype("datetime64[m]")
    # Windows right after the gap: the part of their history inside the gap is masked and zero.
    after = np.flatnonzero((ends >= gap_end) & (ends < gap_end + np.timedelta64(287 * 5, "m")))
    assert len(after) > 50
    # Those with less than half their history observed (ending in the first 12 h) are dropped.
    assert (ends[after] >= gap_end + np.timedelta64(143 * 5, "m")).all()
    for i in after:
        history_times = ends[i] - np.arange(287, -1, -1) * np.timedelta64(5, "m")
        inside = history_times < gap_end
        assert inside.any()
        assert not windows.history_mask[i][inside].any() and (windows.history[i][inside] == 0).all()
        assert windows.history_mask[i, -1] and windows.history_mask[i].float().mean() >= 0.5
    # No window ends inside the gap, and no target inside it is marked observed.
    assert not ((ends > gap_start) & (ends < gap_end)).any()
    target_times = ends[:, None] + (np.arange(1, 13) * 5).astype("timedelta64[m]")[None, :]
    assert not windows.target_mask.numpy()[(target_times > gap_start) & (target_times < gap_end)].any()


def test_missing_targets_are_masked_at_the_end_of_a_segment(small_data):
    # Subject 26's windows ending just before its 40-hour gap have targets in the gap: kept, masked.
    windows = small_data.windows["val"]
    partial = ~windows.target_mask.all(dim=1)
    assert partial.any()
    assert (windows.target[partial][~windows.target_mask[partial]] == 0).all()
    assert windows.target_mask.any(dim=1).all()


def test_a_missing_data_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        CGMDataModule(str(tmp_path / "nowhere")).setup()


def test_a_bad_value_names_the_file_and_line(tmp_path):
    path = tmp_path / "CGMacros-099.csv"
    path.write_text("subject,Timestamp,Libre GL,Dexcom GL\n99,2020-01-01 00:00:00,100,101\n99,2020-01-01 00:01:00,x,101\n")
    with pytest.raises(ValueError, match=rf"{path}:3: Libre GL value 'x'"):
        read_subject(path)
