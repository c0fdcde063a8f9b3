"""``trainlab data convert|check`` on real annotations: the embedded SROIE receipts and, when
present, the shared ICDAR 2015 slice (real ``###`` don't-care regions, files with a BOM).

Round trips ICDAR -> format -> ICDAR must give the same regions: vertices, transcriptions,
don't-care flags and order, except for what a format cannot hold, which the writer names.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import shared_dataset
from trainlab.cli.data import main as data
from trainlab.tasks.text_detection.data.convert import FORMATS, convert, icdar_line, read_dataset, write_dataset
from trainlab.tasks.text_detection.data.icdar_format import AnnotationError, read_icdar_file
from trainlab.tasks.text_detection.types import DONT_CARE_LABEL, TextRegion

OTHERS = [f for f in FORMATS if f != "icdar"]


def regions_of(dataset, transcriptions: bool = True, ordered: bool = True) -> dict:
    """``{split: [(image name, [(vertices, transcription, don't care), ...]), ...]}``."""
    found = {}
    for split, records in dataset.items():
        found[split] = []
        for record in records:
            regions = [(tuple(r.points.ravel()), r.transcription if transcriptions else None, r.dont_care)
                       for r in record.regions]
            found[split].append((record.name, regions if ordered else sorted(regions)))
    return found


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def round_trip(root: Path, fmt: str, tmp_path: Path) -> tuple[dict, dict]:
    """ICDAR ``root`` -> ``fmt`` -> ICDAR; returns (what the writer said, the data set read back)."""
    said = convert(root, tmp_path / fmt, "icdar", fmt)
    again = convert(tmp_path / fmt, tmp_path / "back", fmt, "icdar")["splits"]
    assert {s: (c["images"], c["regions"]) for s, c in again.items()} == \
        {s: (c["images"], c["regions"]) for s, c in said["splits"].items()}
    return said, read_dataset("icdar", tmp_path / "back")


@pytest.mark.parametrize("fmt", ["coco", "labelme"])
def test_coco_and_labelme_round_trips_give_the_same_files(mini_root, tmp_path, fmt):
    original = read_dataset("icdar", mini_root)
    said, back = round_trip(mini_root, fmt, tmp_path)
    assert said["notes"] == [] and regions_of(back) == regions_of(original)
    assert said["splits"] == {"test": {"images": 8, "regions": 527, "dont_care": 0},
                              "train": {"images": 24, "regions": 1328, "dont_care": 0}}
    for split in ("train", "test"):
        for source in (mini_root / "annotations" / split).iterdir():  # UTF-8, LF, integer coordinates: same bytes
            assert (tmp_path / "back" / "annotations" / split / source.name).read_bytes() == source.read_bytes()
        for image in (mini_root / "images" / split).iterdir():
            assert md5(tmp_path / "back" / "images" / split / image.name) == md5(image)


def test_paddleocr_round_trip_names_the_region_paddleocr_ignores(mini_root, tmp_path):
    """A receipt has a text region transcribed ``*``, one of PaddleOCR's ignore tags: the writer
    says so, PaddleOCR (and the reader) take it as don't care; every other region comes back as it was."""
    original = read_dataset("icdar", mini_root)
    said, back = round_trip(mini_root, "paddleocr", tmp_path)
    star = mini_root / "annotations" / "train" / "X00016469612.txt"
    assert star.read_text().splitlines()[24].endswith(",*")
    assert said["notes"] == [f"{star}:25: transcription '*' is a PaddleOCR ignore tag; PaddleOCR reads this region "
                             f"as don't care"]
    expected = regions_of(original)
    name, regions = expected["train"][0]
    assert name == "X00016469612" and regions[24][1:] == ("*", False)
    regions[24] = (regions[24][0], DONT_CARE_LABEL, True)
    assert regions_of(back) == expected
    line = (tmp_path / "paddleocr" / "train" / "Label.txt").read_text().splitlines()[0]
    path, labels = line.split("\t")
    assert path == "train/X00016469612.jpg" and json.loads(labels)[0] == {
        "transcription": "TAN WOON YANN", "points": [[72, 25], [326, 25], [326, 64], [72, 64]], "difficult": False}


def test_doctr_round_trip_keeps_every_polygon(mini_root, tmp_path):
    original = read_dataset("icdar", mini_root)
    said, back = round_trip(mini_root, "doctr", tmp_path)
    texts = sum(1 for records in original.values() for r in records for x in r.regions if x.transcription)
    assert said["notes"] == [f"{texts} transcriptions left out: docTR detection labels hold polygons only"]
    assert regions_of(back, transcriptions=False) == regions_of(original, transcriptions=False)
    labels = json.loads((tmp_path / "doctr" / "test" / "labels.json").read_text())
    entry = labels["X51005568855.jpg"]
    assert entry["img_dimensions"] == [1600, 425]  # (height, width): the image's spatial shape
    assert entry["img_hash"] == hashlib.sha256((mini_root / "images" / "test" / "X51005568855.jpg").read_bytes()).hexdigest()
    assert len(entry["polygons"]) == 84 and entry["polygons"][0] == [[p[0], p[1]] for p in
                                                                     original["test"][1].regions[0].points.tolist()]


@pytest.fixture
def with_dont_care(mini_root, tmp_path) -> Path:
    """The receipts' test split with every fifth region marked don't care (``###``)."""
    dataset = read_dataset("icdar", mini_root)
    test = dataset["test"]
    for record in test:
        record.regions = [TextRegion(points=r.points, transcription=DONT_CARE_LABEL, dont_care=True, line=r.line)
                          if i % 5 == 0 else r for i, r in enumerate(record.regions)]
    write_dataset("icdar", {"test": test}, tmp_path / "dont_care")
    return tmp_path / "dont_care"


@pytest.mark.parametrize("fmt", OTHERS)
def test_dont_care_regions_survive_every_format(with_dont_care, tmp_path, fmt):
    original = read_dataset("icdar", with_dont_care)
    assert sum(r.dont_care for x in original["test"] for r in x.regions) == 108
    said, back = round_trip(with_dont_care, fmt, tmp_path)
    assert said["splits"]["test"]["dont_care"] == 108
    if fmt == "doctr":  # don't-care polygons are a class of their own, listed after the text ones
        assert regions_of(back, False, False) == regions_of(original, False, False)
        labels = json.loads((tmp_path / "doctr" / "test" / "labels.json").read_text())
        assert sorted(next(iter(labels.values()))["polygons"]) == ["###", "words"]
    else:
        assert regions_of(back) == regions_of(original)
    if fmt == "coco":
        coco = json.loads((tmp_path / "coco" / "test.json").read_text())
        flags = [(a["iscrowd"], a["utf8_string"] == DONT_CARE_LABEL) for a in coco["annotations"]]
        assert flags.count((1, True)) == 108 and flags.count((0, False)) == 527 - 108


@pytest.fixture(scope="module")
def icdar2015(tmp_path_factory) -> Path:
    """The first 25 images of each split of the shared ICDAR 2015 slice, files copied as they are."""
    source, root = shared_dataset("icdar2015"), tmp_path_factory.mktemp("icdar2015")
    for split in ("train", "test"):
        for image in sorted((source / "images" / split).iterdir())[:25]:
            for folder, name in (("images", image.name), ("annotations", f"gt_{image.stem}.txt")):
                (root / folder / split).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / folder / split / name, root / folder / split / name)
    return root


@pytest.mark.parametrize("fmt", OTHERS)
def test_icdar2015_round_trips(icdar2015, tmp_path, fmt):
    """Real don't-care regions, BOMs (train files), commas in transcriptions."""
    root = icdar2015
    assert (root / "annotations" / "train" / "gt_img_1.txt").read_bytes().startswith(b"\xef\xbb\xbf")
    original = read_dataset("icdar", root)
    said, back = round_trip(root, fmt, tmp_path)
    assert said["splits"]["train"]["dont_care"] == sum(r.dont_care for x in original["train"] for r in x.regions) > 0
    if fmt == "doctr":
        assert regions_of(back, False, False) == regions_of(original, False, False)
    else:
        assert regions_of(back) == regions_of(original)


def test_files_as_other_tools_write_them(mini_root, tmp_path):
    """Variants the writers do not produce: COCO boxes without polygons and COCO-Text's
    ``legibility``, image paths relative to another folder; LabelMe rectangles; PaddleOCR
    ``Label.txt`` beside the images with a ``*`` ignore tag; docTR's plain polygon list."""
    record = read_dataset("icdar", mini_root)["train"][0]  # axis-aligned quads, as SROIE's are
    image = record.image_path
    quads = [r.points for r in record.regions]
    assert all(q[0, 1] == q[1, 1] and q[1, 0] == q[2, 0] for q in quads)
    xywh = [[*q.min(0).tolist(), *(q.max(0) - q.min(0)).tolist()] for q in quads]
    coco = {"images": [{"id": 7, "file_name": image.name, "width": 463, "height": 1013}],
            "annotations": [{"id": i, "image_id": 7, "category_id": 1, "bbox": box, "utf8_string": r.transcription,
                             "legibility": "illegible" if i == 0 else "legible"}
                            for i, (box, r) in enumerate(zip(xywh, record.regions))],
            "categories": [{"id": 1, "name": "text"}]}
    (tmp_path / "instances_val.json").write_text(json.dumps(coco))
    got = read_dataset("coco", tmp_path / "instances_val.json", images=image.parent)
    (read,) = got["val"]
    np.testing.assert_array_equal(np.stack([r.points for r in read.regions]), np.stack(quads))
    assert read.regions[0].dont_care and read.regions[0].transcription == DONT_CARE_LABEL
    assert [r.transcription for r in read.regions[1:]] == [r.transcription for r in record.regions[1:]]

    labelme = tmp_path / "labelme"
    labelme.mkdir()
    shutil.copyfile(image, labelme / image.name)
    shapes = [{"label": r.transcription, "points": [q[2].tolist(), q[0].tolist()], "shape_type": "rectangle"}
              for r, q in zip(record.regions, quads)]
    (labelme / f"{image.stem}.json").write_text(json.dumps({"shapes": shapes, "imagePath": image.name}))
    (read,) = read_dataset("labelme", labelme)["train"]
    np.testing.assert_array_equal(np.stack([r.points for r in read.regions]), np.stack(quads))

    paddle = tmp_path / "paddle" / "imgs"
    paddle.mkdir(parents=True)
    shutil.copyfile(image, paddle / image.name)
    items = [{"transcription": "*" if i == 1 else r.transcription, "points": q.tolist(), "difficult": False}
             for i, (r, q) in enumerate(zip(record.regions, quads))]
    (paddle / "Label.txt").write_text(f"imgs/{image.name}\t{json.dumps(items)}\n")
    (read,) = read_dataset("paddleocr", paddle / "Label.txt", split="train")["train"]
    assert [r.dont_care for r in read.regions[:3]] == [False, True, False]

    doctr = tmp_path / "doctr"
    (doctr / "images").mkdir(parents=True)
    shutil.copyfile(image, doctr / "images" / image.name)
    (doctr / "labels.json").write_text(json.dumps({image.name: {"img_dimensions": [1013, 463], "img_hash": "x",
                                                                "polygons": [q.tolist() for q in quads]}}))
    (read,) = read_dataset("doctr", doctr)["train"]
    np.testing.assert_array_equal(np.stack([r.points for r in read.regions]), np.stack(quads))
    assert not any(r.dont_care for r in read.regions)


def test_bad_files_are_named_with_their_line(mini_root, tmp_path, capsys):
    label = tmp_path / "paddle" / "train" / "Label.txt"
    label.parent.mkdir(parents=True)
    shutil.copyfile(mini_root / "images" / "train" / "X00016469612.jpg", label.parent / "X00016469612.jpg")
    label.write_text('train/X00016469612.jpg\t[{"transcription": "A", "points": [[1, 2], [3, 4], [5, 6]]}]\n'
                     'train/X00016469612.jpg [{"transcription": "B"}]\n')
    with pytest.raises(AnnotationError, match=r"Label.txt:2: expected '<image path><TAB><JSON list of regions>'"):
        read_dataset("paddleocr", tmp_path / "paddle")
    label.write_text('train/X00016469612.jpg\t[{"transcription": "A", "points": [[1, 2], [3, 4]]}]\n')
    assert data(["convert", "--from", "paddleocr", "--to", "icdar", str(tmp_path / "paddle"), str(tmp_path / "out")]) == 2
    assert f"{label}:1: region 1: expected at least 3 finite (x, y) vertices" in capsys.readouterr().err
    coco = tmp_path / "bad.json"
    coco.write_text('{"images": [], "annotations": [}')
    with pytest.raises(AnnotationError, match=r"bad.json:1: not valid JSON"):
        read_dataset("coco", coco)
    with pytest.raises(ValueError, match="line break"):
        icdar_line(TextRegion(points=np.zeros((4, 2)), transcription="two\nlines"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert data(["convert", "--from", "icdar", "--to", "coco", str(mini_root), str(tmp_path / "full")]) == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err


def test_convert_command(mini_root, tmp_path, capsys):
    assert data(["convert", "--from", "icdar", "--to", "coco", str(mini_root), str(tmp_path / "coco")]) == 0
    out = capsys.readouterr().out
    assert "train: 24 images, 1328 regions (0 don't care)" in out and f"icdar -> coco: {tmp_path / 'coco'}" in out
    assert data(["convert", "--from", "coco", "--to", "icdar", str(tmp_path / "coco" / "test.json"),
                 str(tmp_path / "icdar")]) == 0
    assert sorted(p.name for p in (tmp_path / "icdar" / "annotations").iterdir()) == ["test"]
    with pytest.raises(SystemExit):
        data(["convert", "--from", "yolo", "--to", "icdar", "a", "b"])


def test_collecting_errors_reads_every_good_line(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,2,3,2,3,4,1,4,ok\n1,2,3\n\n1,2,3,2,3,x,1,4,bad\n5,6,7,6,7,8,5,8,###\n")
    with pytest.raises(AnnotationError, match=r"gt.txt:2: expected 8 coordinates"):
        read_icdar_file(path)
    errors: list[AnnotationError] = []
    regions = read_icdar_file(path, errors=errors)
    assert [r.line for r in regions] == [1, 5] and regions[1].dont_care
    assert [(e.line, e.problem) for e in errors] == [
        (2, "expected 8 coordinates and a transcription, found 3 comma-separated fields in '1,2,3'"),
        (4, "coordinate 6 is not a finite number: 'x'")]


def test_check_of_the_receipts_is_clean(mini_root, tmp_path, capsys):
    manifest = [line.split("\t") for line in (mini_root / "MANIFEST.tsv").read_text().splitlines()[1:]]
    assert data(["check", str(mini_root), "-o", str(tmp_path / "check"), "--draw", "2"]) == 0
    report = json.loads((tmp_path / "check" / "report.json").read_text())
    for split in ("train", "test"):
        boxes = [int(row[7]) for row in manifest if row[0] == split]  # the set's own box counts
        assert report["splits"][split]["images"] == len(boxes) and report["splits"][split]["regions"] == sum(boxes)
    assert report["problems"] == [] and report["warnings"] == [] and report["duplicates_across_splits"] == []
    assert report["drawn"] == 4 and len(list((tmp_path / "check" / "drawn").rglob("*.jpg"))) == 4
    assert cv2.imread(str(tmp_path / "check" / "box_sizes.png")).shape[1] == 1500
    assert "problems (0)" in capsys.readouterr().out


def test_check_reports_every_problem_at_once(mini_root, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(mini_root, root, ignore=shutil.ignore_patterns("MANIFEST.tsv", "SOURCE.md"))
    train, test = root / "annotations" / "train", root / "annotations" / "test"
    first, second = sorted(train.iterdir())[:2]
    lines = first.read_text().splitlines()
    lines[2] = "72,25,326,25,326,64"                                   # line 3: too few fields
    lines[6] = "72,25,326,abc,326,64,72,64,TEXT"                       # line 7: not a number
    lines[9] = "72,25,326,64,326,25,100,64,CROSSED"                    # line 10: vertices out of order
    lines[11] = "72,25,9999,25,9999,64,72,64,WIDE"                     # line 12: outside the image
    lines[12] = lines[12].rsplit(",", 1)[0] + ",###"                   # line 13: don't care
    first.write_text("\n".join(lines) + "\n")
    with second.open("a") as handle:
        handle.write("1,2,3,4,5,6,7,8\n")                             # last line + 1: no transcription
    bad_line = len(second.read_text().splitlines())
    lost = sorted((root / "images" / "test").iterdir())[0]
    (test / f"{lost.stem}.txt").unlink()                               # an image without annotation
    (test / "gt_orphan.txt").write_text("1,1,5,1,5,5,1,5,x\n")         # an annotation without image
    leak = sorted((root / "images" / "train").iterdir())[3]
    shutil.copyfile(leak, root / "images" / "test" / "copy.jpg")       # a train image in the test split
    shutil.copyfile(train / f"{leak.stem}.txt", test / "copy.txt")
    (root / "annotations" / "val").mkdir()                             # a split without images

    assert data(["check", str(root), "-o", str(tmp_path / "check"), "--draw-all"]) == 1
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "check" / "report.json").read_text())
    assert sorted(report["problems"]) == sorted([
        f"{first}:3: expected 8 coordinates and a transcription, found 6 comma-separated fields in '72,25,326,25,326,64'",
        f"{first}:7: coordinate 4 is not a finite number: 'abc'",
        f"{second}:{bad_line}: expected 8 coordinates and a transcription, found 8 comma-separated fields in "
        f"'1,2,3,4,5,6,7,8'",
        f"{lost}: no annotation file (gt_{lost.stem}.txt or {lost.stem}.txt in {test})",
        f"{test / 'gt_orphan.txt'}: no image named orphan.* in {root / 'images' / 'test'}",
        f"{root / 'images' / 'val'}: missing (its counterpart {root / 'annotations' / 'val'} exists)",
    ])
    assert all(problem in out for problem in report["problems"])
    width = cv2.imread(str(root / "images" / "train" / f"{first.stem}.jpg")).shape[1]
    crossed, outside = report["warnings"]
    assert crossed.startswith(f"{first}:10: invalid polygon (Self-intersection[")
    assert outside == f"{first}:12: vertex (9999, 25) outside the {width}x1013 image"
    assert report["duplicates_across_splits"] == [["test/copy.jpg", f"train/{leak.name}"]]
    original = read_dataset("icdar", mini_root)
    stats = report["splits"]
    assert stats["train"]["regions"] == sum(len(r.regions) for r in original["train"]) - 2
    assert stats["train"]["dont_care"] == 1 and stats["test"]["images"] == 9
    assert stats["test"]["regions"] == sum(len(r.regions) for r in original["test"][1:]) + len(original["train"][3].regions)
    assert report["drawn"] == 24 + 8 and stats["val"]["images"] == 0
    drawn = cv2.imread(str(tmp_path / "check" / "drawn" / "train" / f"{first.stem}.jpg"))
    source = cv2.imread(str(root / "images" / "train" / f"{first.stem}.jpg"))
    changed = np.abs(drawn.astype(int) - source).max(axis=2) > 60
    assert drawn.shape == source.shape and 0.005 < changed.mean() < 0.2  # boxes drawn, picture kept


def test_check_of_a_folder_that_is_not_a_data_set(tmp_path, capsys):
    assert data(["check", str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    assert "no images/ or annotations/ folder" in capsys.readouterr().err
