"""The shipped split of the OpenALPR benchmark: reproducible from the data, stratified by region,
grouped by plate string; and the errors of a split file that does not fit the data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trainlab.tasks.plate_detection.data.datamodule import shipped_split_file
from trainlab.tasks.plate_detection.data.formats import BoxRecord, read_openalpr
from trainlab.tasks.plate_detection.data.split import SplitFileError, make_split, plate_groups, read_split_file


def test_shipped_split_is_reproduced_stratified_and_grouped_by_plate(plates_root):
    records = read_openalpr(plates_root)
    shipped = json.loads(shipped_split_file().read_text())
    assert make_split(records, shipped["fractions"], shipped["seed"]) == shipped["splits"]
    split = read_split_file(shipped_split_file(), records)
    assert {k: len(v) for k, v in split.items()} == {"train": 232, "val": 49, "test": 49}
    for name, part in split.items():
        us = sum(r.group == "us" for r in part)
        # Each split holds the data set's region mix (222 us / 330 = 0.673).
        assert us / len(part) == pytest.approx(222 / 330, abs=0.01), name
    plates = {name: {r.texts[0] for r in part} for name, part in split.items()}
    assert not plates["train"] & plates["test"] and not plates["train"] & plates["val"] and not plates["val"] & plates["test"]


def _record(name: str, text: str, group: str = "us") -> BoxRecord:
    return BoxRecord(name=name, image_path=None, width=10, height=10, boxes=np.zeros((1, 4), np.float32),
                     labels=np.zeros(1, np.int64), texts=(text,), group=group)


def test_plate_groups_join_images_sharing_a_plate_string():
    records = [_record("a", "X1"), _record("b", "Y2"), _record("c", "X1"), _record("d", "Z3")]
    assert [[r.name for r in g] for g in plate_groups(records)] == [["a", "c"], ["b"], ["d"]]
    split = make_split(records * 1, (0.5, 0.25, 0.25), seed=3)
    side = {name: s for s, names in split.items() for name in names}
    assert side["a"] == side["c"]


def test_a_split_file_that_does_not_fit_the_data_is_named(tmp_path):
    records = [_record("a", "X1"), _record("b", "Y2"), _record("c", "Z3")]
    path = tmp_path / "split.json"
    for splits, message in [({"train": ["a", "b"], "val": ["c"], "test": ["c"]}, "'c' is listed in val and in test"),
                            ({"train": ["a", "b"], "val": ["q"], "test": ["c"]}, "val lists 'q', which is not in the data"),
                            ({"train": ["a"], "val": ["b"], "test": []}, r"1 image\(s\) in no split, e.g. c"),
                            ({"train": ["a"], "val": ["b"]}, "expected")]:
        path.write_text(json.dumps({"splits": splits}))
        with pytest.raises(SplitFileError, match=message):
            read_split_file(path, records)
