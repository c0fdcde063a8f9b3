"""ICDAR-format reading: the quirks real files have, and clear errors for malformed lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainlab.tasks.text_detection.data.icdar_format import (
    AnnotationError,
    parse_icdar_line,
    read_icdar_file,
    read_split,
    write_result_file,
)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_bom_crlf_and_commas_in_transcription(tmp_path):
    path = write(tmp_path, "gt_img.txt",
                 b"\xef\xbb\xbf377,117,463,117,465,130,378,130,Genaxis Theatre\r\n"
                 b"110,144,383,144,383,163,110,163,NO.53 55,57 & 59, JALAN SAGU 18,\r\n\r\n"
                 b"374,155,409,155,409,170,374,170,###\r\n")
    regions = read_icdar_file(path)
    assert [r.line for r in regions] == [1, 2, 4]
    assert regions[0].transcription == "Genaxis Theatre"
    assert regions[1].transcription == "NO.53 55,57 & 59, JALAN SAGU 18,"
    np.testing.assert_array_equal(regions[0].points, [[377, 117], [463, 117], [465, 130], [378, 130]])
    assert [r.dont_care for r in regions] == [False, False, True]


def test_numeric_transcription_is_not_read_as_coordinates(tmp_path):
    path = write(tmp_path, "x.txt", b"1,2,3,2,3,4,1,4,3,000.00\n")
    (region,) = read_icdar_file(path)
    assert region.points.shape == (4, 2)
    assert region.transcription == "3,000.00"


def test_non_utf8_bytes_are_tolerated(tmp_path):
    # A GBK full-width comma, as in SROIE test X51006619503.
    path = write(tmp_path, "x.txt", b"1,2,3,2,3,4,1,4,TOTAL\xa3\xac 5.00\n")
    (region,) = read_icdar_file(path)
    assert region.transcription.startswith("TOTAL") and region.transcription.endswith("5.00")


def test_polygons_with_more_points(tmp_path):
    line = "0,0,10,0,20,5,30,0,40,0,40,10,0,10,curved text"
    path = write(tmp_path, "x.txt", line.encode())
    (region,) = read_icdar_file(path, polygon_points="auto")
    assert region.points.shape == (7, 2) and region.transcription == "curved text"
    (fixed,) = read_icdar_file(path, polygon_points=7)
    np.testing.assert_array_equal(fixed.points, region.points)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("1,2,3,4,5,6,7,text", "expected 8 coordinates and a transcription, found 8 comma-separated fields in '1,2,3,4,5,6,7,text'"),
        ("1,2,3,4,5,6,7,x8,text", "coordinate 8 is not a finite number: 'x8'"),
        ("1,2,3,4,5,nan,7,8,text", "coordinate 6 is not a finite number: 'nan'"),
        ("", None),  # blank lines are skipped, not errors
    ],
)
def test_malformed_lines_name_file_line_and_problem(tmp_path, line, problem):
    path = write(tmp_path, "gt_bad.txt", f"1,1,5,1,5,5,1,5,ok\n{line}\n".encode())
    if problem is None:
        assert len(read_icdar_file(path)) == 1
        return
    with pytest.raises(AnnotationError) as caught:
        read_icdar_file(path)
    assert caught.value.line == 2
    assert caught.value.path == path
    assert str(caught.value) == f"{path}:2: {problem}"


def test_auto_mode_needs_three_vertices():
    with pytest.raises(AnnotationError, match=r"<string>:3: expected at least 6 numeric coordinates"):
        parse_icdar_line("1,2,3,4,text", line=3, polygon_points="auto")


def test_result_lines_with_and_without_confidence(tmp_path):
    path = write(tmp_path, "res_a.txt", b"1,2,3,2,3,4,1,4\n5,6,7,6,7,8,5,8,0.93\n")
    regions = read_icdar_file(path, with_transcription=False)
    assert regions[0].score is None and regions[1].score == pytest.approx(0.93)
    bad = write(tmp_path, "res_b.txt", b"1,2,3,2,3,4,1,4,high\n")
    with pytest.raises(AnnotationError, match=r"res_b.txt:1: expected an optional confidence"):
        read_icdar_file(bad, with_transcription=False)


def test_result_file_round_trip(tmp_path):
    quads = [np.array([[10.4, 20.6], [50, 20], [50, 40], [10, 40]])]
    write_result_file(tmp_path / "res_x.txt", quads)
    assert (tmp_path / "res_x.txt").read_text() == "10,21,50,20,50,40,10,40\n"
    assert list(tmp_path.iterdir()) == [tmp_path / "res_x.txt"]  # no temporary file left behind


def test_read_split_pairs_sroie_and_icdar_names(tmp_path, mini_root):
    records = read_split(mini_root / "images" / "train", mini_root / "annotations" / "train")
    assert len(records) == 24
    assert all(r.annotation_path.stem == r.name for r in records)
    assert sum(len(r.regions) for r in records) > 1000
    (tmp_path / "images").mkdir()
    (tmp_path / "gts").mkdir()
    (tmp_path / "images" / "img_1.jpg").write_bytes(b"")
    (tmp_path / "gts" / "gt_img_1.txt").write_text("1,1,5,1,5,5,1,5,###\n")
    (record,) = read_split(tmp_path / "images", tmp_path / "gts")
    assert record.annotation_path.name == "gt_img_1.txt" and record.regions[0].dont_care
    (tmp_path / "images" / "img_2.jpg").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"no annotation for .*img_2.jpg: looked for gt_img_2.txt or img_2.txt"):
        read_split(tmp_path / "images", tmp_path / "gts")
