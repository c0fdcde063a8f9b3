"""The annotation readers (OpenALPR lines, COCO json, YOLO txt) on real files: what they read, and
the named error, file and line of each malformed case."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.plate_detection.conftest import write_image
from trainlab.tasks.plate_detection.data.formats import (
    AnnotationError,
    BadValueError,
    BoxOutsideImageError,
    FieldCountError,
    MissingImageError,
    read_coco,
    read_openalpr,
    read_openalpr_file,
    read_yolo,
)


def test_the_openalpr_benchmark_reads_as_documented(plates_root):
    records = read_openalpr(plates_root)
    assert len(records) == 330
    assert sum(r.group == "us" for r in records) == 222 and sum(r.group == "eu" for r in records) == 108
    assert all(len(r.boxes) == 1 and r.labels.tolist() == [0] for r in records)
    eu1 = next(r for r in records if r.name == "eu/eu1")
    # SOURCE.md's example line: eu1.jpg 396 340 203 46 M5XSX (a 1000 x 750 photo).
    assert (eu1.width, eu1.height) == (1000, 750) and eu1.texts == ("M5XSX",)
    np.testing.assert_array_equal(eu1.boxes, [[396, 340, 599, 386]])
    # SOURCE.md: 330 boxes, 317 distinct plate strings, 13 of them twice.
    assert len({r.texts[0] for r in records}) == 317


def _openalpr(tmp_path, line: str, image: bool = True):
    if image:
        write_image(tmp_path / "car.jpg", 64, 48)
    path = tmp_path / "car.txt"
    path.write_text(line + "\n")
    return path


def test_openalpr_reader_reads_a_line_and_names_each_malformed_one(tmp_path):
    record = read_openalpr_file(_openalpr(tmp_path, "car.jpg\t10\t20\t30\t8\tAB123"), group="us")
    assert record.name == "us/car" and record.texts == ("AB123",) and (record.width, record.height) == (64, 48)
    np.testing.assert_array_equal(record.boxes, [[10, 20, 40, 28]])

    with pytest.raises(FieldCountError, match=r"car\.txt:1: 5 tab-separated fields, expected 6"):
        read_openalpr_file(_openalpr(tmp_path, "car.jpg\t10\t20\t30\t8"))
    with pytest.raises(FieldCountError, match=r"car\.txt:1: 1 tab-separated fields"):
        read_openalpr_file(_openalpr(tmp_path, "car.jpg 10 20 30 8 AB123"))  # spaces, not tabs
    with pytest.raises(BoxOutsideImageError, match=r"car\.txt:1: box x 50\.\.80, y 20\.\.28 is outside the 64 x 48 image"):
        read_openalpr_file(_openalpr(tmp_path, "car.jpg\t50\t20\t30\t8\tAB123"))
    with pytest.raises(BadValueError, match=r"car\.txt:1: y 'x' is not a finite number"):
        read_openalpr_file(_openalpr(tmp_path, "car.jpg\t10\tx\t30\t8\tAB123"))
    with pytest.raises(BadValueError, match="box size 0 x 8 is not positive"):
        read_openalpr_file(_openalpr(tmp_path, "car.jpg\t10\t20\t0\t8\tAB123"))
    (tmp_path / "car.jpg").unlink()
    with pytest.raises(MissingImageError, match=r"car\.txt:1: image .*car\.jpg not found") as error:
        read_openalpr_file(_openalpr(tmp_path, "car.jpg\t10\t20\t30\t8\tAB123", image=False))
    assert isinstance(error.value, FileNotFoundError) and error.value.line == 1


def _coco(tmp_path, annotations, images=None):
    write_image(tmp_path / "img" / "a.png", 64, 48)
    data = {"images": images or [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
            "categories": [{"id": 3, "name": "plate"}, {"id": 7, "name": "car"}], "annotations": annotations}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data, indent=1))
    return path


def test_coco_reader_reads_boxes_and_names_each_malformed_entry(tmp_path):
    records, names = read_coco(_coco(tmp_path, [
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [4, 5, 20, 10]},
        {"id": 2, "image_id": 1, "category_id": 7, "bbox": [0, 0, 64, 48]},
        {"id": 3, "image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2], "iscrowd": 1}]), tmp_path / "img")
    assert names == ["plate", "car"] and records[0].name == "a"
    np.testing.assert_array_equal(records[0].boxes, [[4, 5, 24, 15], [0, 0, 64, 48]])
    assert records[0].labels.tolist() == [0, 1]
    only_plates, names = read_coco(tmp_path / "ann.json", tmp_path / "img", class_names=["plate"])
    assert names == ["plate"] and only_plates[0].labels.tolist() == [0]

    with pytest.raises(FieldCountError, match=r"ann\.json annotations\[0\] \(id 9\): bbox \[4, 5, 20\] does not have 4"):
        read_coco(_coco(tmp_path, [{"id": 9, "image_id": 1, "category_id": 3, "bbox": [4, 5, 20]}]), tmp_path / "img")
    with pytest.raises(FieldCountError, match=r"annotations\[0\] \(id 9\): missing field\(s\) bbox"):
        read_coco(_coco(tmp_path, [{"id": 9, "image_id": 1, "category_id": 3}]), tmp_path / "img")
    with pytest.raises(BoxOutsideImageError, match=r"annotations\[0\]: box x 50\.\.70"):
        read_coco(_coco(tmp_path, [{"image_id": 1, "category_id": 3, "bbox": [50, 5, 20, 10]}]), tmp_path / "img")
    with pytest.raises(BadValueError, match="image_id 5 is not in 'images'"):
        read_coco(_coco(tmp_path, [{"image_id": 5, "category_id": 3, "bbox": [4, 5, 20, 10]}]), tmp_path / "img")
    with pytest.raises(MissingImageError, match=r"images\[0\] \(id 1\): image .*b\.png not found"):
        read_coco(_coco(tmp_path, [], images=[{"id": 1, "file_name": "b.png", "width": 64, "height": 48}]),
                  tmp_path / "img")
    (tmp_path / "bad.json").write_text('{"images": [\n  1,,\n]}')
    with pytest.raises(AnnotationError, match=r"bad\.json:2: not valid json"):
        read_coco(tmp_path / "bad.json")


def test_yolo_reader_reads_normalised_boxes_and_names_each_malformed_line(tmp_path):
    write_image(tmp_path / "images" / "a.jpg", 100, 50)
    write_image(tmp_path / "images" / "empty.jpg", 100, 50)
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.2 0.2\n")
    records = read_yolo(tmp_path / "images", labels, num_classes=2)
    assert [r.name for r in records] == ["a", "empty"] and len(records[1].boxes) == 0  # a negative image is kept
    np.testing.assert_allclose(records[0].boxes, [[40, 15, 60, 35], [0, 0, 20, 10]], atol=1e-4)

    cases = [("0 0.5 0.5 0.2\n", FieldCountError, r"a\.txt:1: 4 fields, expected 5"),
             ("0 0.5 0.5 0.2 0.4\n2 0.5 0.5 0.2 0.4\n", BadValueError, r"a\.txt:2: class '2' is not an integer in \[0, 2\)"),
             ("0 0.95 0.5 0.2 0.4\n", BoxOutsideImageError, r"a\.txt:1: box x 85\.\.105"),
             ("0 0.5 nan 0.2 0.4\n", BadValueError, r"a\.txt:1: y_center 'nan' is not a finite number")]
    for text, error, message in cases:
        (labels / "a.txt").write_text(text)
        with pytest.raises(error, match=message):
            read_yolo(tmp_path / "images", labels, num_classes=2)
    (labels / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    (labels / "ghost.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    with pytest.raises(MissingImageError, match=r"ghost\.txt: no image for this label file"):
        read_yolo(tmp_path / "images", labels, num_classes=2)
