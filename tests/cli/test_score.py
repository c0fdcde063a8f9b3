"""Tests of ``trainlab score`` (trainlab.cli.score), run in-process."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import trainlab
from trainlab.cli import score
from trainlab.cli.main import main as trainlab_main
from trainlab.tasks.text_detection.data.icdar_format import gt_stem, read_icdar_file

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
ICDAR2015_TEST_GT = SHARED_DATA / "icdar2015" / "annotations" / "test"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = score.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def small_set(tmp_path: Path) -> tuple[Path, Path]:
    """A hand-made set: ICDAR and SROIE style GT names, a don't-care region, a confidence."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write(gt / "gt_a.txt", "0,0,10,0,10,10,0,10,hello\n20,0,30,0,30,10,20,10,###\n")
    write(gt / "b.txt", "0,0,10,0,10,10,0,10,world, with comma\n40,0,50,0,50,10,40,10,two\n")
    write(gt / "gt_c.txt", "0,0,10,0,10,10,0,10,missed\n")
    # a: a match and a copy of the don't-care region (ignored); b: one match, one false positive.
    write(pred / "res_a.txt", "1,0,11,0,11,10,1,10,0.9\n20,0,30,0,30,10,20,10,0.4\n")
    write(pred / "res_b.txt", "0,0,10,0,10,10,0,10\n100,100,110,100,110,110,100,110\n")
    return gt, pred


def test_scores_a_small_set_and_warns_about_missing_results(capsys, small_set, tmp_path):
    gt, pred = small_set
    code, out, err = run(capsys, "--gt", str(gt), "--pred", str(pred), "--per-image", str(tmp_path / "out.csv"))
    assert code == 0
    summary = json.loads(out)
    assert summary["matched"] == 2
    assert summary["num_gt_care"] == 4  # hello, world, two, missed
    assert summary["num_det_care"] == 3  # the don't-care copy is ignored
    assert summary["num_images"] == 3
    assert summary["num_images_without_results"] == 1
    assert summary["recall"] == 0.5
    assert summary["precision"] == 2 / 3
    assert summary["hmean"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert "1 of 3 ground-truth files have no result file" in err
    assert "res_c.txt" in err

    with open(tmp_path / "out.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["name"] for row in rows] == ["a", "b", "c"]
    assert list(rows[0]) == ["name", "num_gt_care", "num_det_care", "matched", "precision", "recall", "hmean"]
    assert rows[0] == {"name": "a", "num_gt_care": "1", "num_det_care": "1", "matched": "1",
                       "precision": "1.0", "recall": "1.0", "hmean": "1.0"}
    assert rows[1]["precision"] == "0.5" and rows[1]["recall"] == "0.5"
    assert rows[2] == {"name": "c", "num_gt_care": "1", "num_det_care": "0", "matched": "0",
                       "precision": "0.0", "recall": "0.0", "hmean": "0.0"}


def test_no_warning_when_every_image_has_results(capsys, small_set):
    gt, pred = small_set
    write(pred / "res_c.txt", "")
    code, out, err = run(capsys, "--gt", str(gt), "--pred", str(pred))
    assert code == 0
    assert "warning" not in err
    assert json.loads(out)["num_images_without_results"] == 0


def test_malformed_result_line_exits_2_naming_file_and_line(capsys, small_set):
    gt, pred = small_set
    write(pred / "res_b.txt", "0,0,10,0,10,10,0,10\n\n5,5,oops,0,10,10,0,10\n")
    code, out, err = run(capsys, "--gt", str(gt), "--pred", str(pred))
    assert code == 2
    assert out == ""
    assert f"{pred / 'res_b.txt'}:3:" in err
    assert "coordinate 3" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_malformed_ground_truth_line_exits_2(capsys, small_set):
    gt, pred = small_set
    write(gt / "gt_c.txt", "0,0,10,0,10\n")
    code, _, err = run(capsys, "--gt", str(gt), "--pred", str(pred))
    assert code == 2
    assert f"{gt / 'gt_c.txt'}:1:" in err


def test_result_without_ground_truth_is_an_error(capsys, small_set):
    gt, pred = small_set
    write(pred / "res_zzz.txt", "0,0,1,0,1,1,0,1\n")
    code, out, err = run(capsys, "--gt", str(gt), "--pred", str(pred))
    assert code == 2 and out == ""
    assert "res_zzz.txt" in err and "no ground truth" in err


def test_misnamed_result_file_is_an_error(capsys, small_set):
    gt, pred = small_set
    write(pred / "a.txt", "0,0,1,0,1,1,0,1\n")
    code, _, err = run(capsys, "--gt", str(gt), "--pred", str(pred))
    assert code == 2
    assert "a.txt" in err and "res_<name>.txt" in err


def test_missing_folder_and_bad_arguments(capsys, small_set, tmp_path):
    gt, pred = small_set
    code, _, err = run(capsys, "--gt", str(tmp_path / "nope"), "--pred", str(pred))
    assert code == 2 and "not found" in err
    code, _, err = run(capsys, "--gt", str(gt))
    assert code == 2 and "--pred" in err
    code, _, err = run(capsys, "--gt", str(gt), "--pred", str(pred), "--polygon-points", "two")
    assert code == 2 and "polygon-points" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "--gt", str(empty), "--pred", str(pred))
    assert code == 2 and "no ground-truth files" in err


def test_polygon_points_auto_reads_polygons_of_any_length(capsys, tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write(gt / "gt_p.txt", "0,0,10,0,10,10,0,10,quad\n20,0,30,0,32,5,30,10,20,10,18,5,hexagon\n")
    write(pred / "res_p.txt", "0,0,10,0,10,10,0,10\n20,0,30,0,32,5,30,10,20,10,18,5,0.8\n")
    code, out, _ = run(capsys, "--gt", str(gt), "--pred", str(pred), "--polygon-points", "auto")
    assert code == 0
    assert json.loads(out)["matched"] == 2
    # With the default of 4 vertices, the hexagon line of the result file is malformed.
    code, _, err = run(capsys, "--gt", str(gt), "--pred", str(pred))
    assert code == 2 and "res_p.txt:2:" in err


def test_dispatcher_runs_score(capsys, small_set):
    gt, pred = small_set
    with pytest.raises(SystemExit) as exit_:
        trainlab_main(["score", "--gt", str(gt), "--pred", str(pred)])
    assert exit_.value.code == 0
    assert json.loads(capsys.readouterr().out)["matched"] == 2


def test_score_does_not_import_torch():
    src = Path(trainlab.__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(src))
    code = "import sys, trainlab.cli.score; print('torch' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"


# --------------------------------------------------------------------------- real data


@pytest.fixture
def real_set(tmp_path: Path) -> tuple[Path, Path, list[Path]]:
    """Real ICDAR 2015 test ground truth and the same boxes as result files (coordinates only)."""
    if not ICDAR2015_TEST_GT.is_dir():
        pytest.skip(f"ICDAR 2015 test annotations not available at {ICDAR2015_TEST_GT}")
    files = sorted(ICDAR2015_TEST_GT.glob("*.txt"))[:40]
    if not files:
        pytest.skip(f"no annotation files in {ICDAR2015_TEST_GT}")
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    for index, path in enumerate(files):
        shutil.copy(path, gt / path.name)
        lines = []
        for line in path.read_bytes().decode("utf-8-sig").splitlines():
            if line.strip():
                coords = ",".join(line.split(",")[:8])
                lines.append(coords + (",0.75" if index % 2 else ""))  # confidences on every second file
        write(pred / f"res_{gt_stem(path.name)}.txt", "\n".join(lines) + "\n")
    return gt, pred, files


def test_real_ground_truth_against_itself(capsys, real_set, tmp_path):
    gt, pred, files = real_set
    code, out, err = run(capsys, "--gt", str(gt), "--pred", str(pred), "--per-image", str(tmp_path / "pi.csv"))
    assert code == 0, err
    summary = json.loads(out)
    num_care = sum(not r.dont_care for path in files for r in read_icdar_file(path))
    assert (summary["precision"], summary["recall"], summary["hmean"]) == (1.0, 1.0, 1.0)
    assert summary["matched"] == summary["num_gt_care"] == summary["num_det_care"] == num_care
    assert summary["num_images"] == len(files)
    with open(tmp_path / "pi.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["name"] for row in rows) == sorted(gt_stem(path.name) for path in files)
    assert all(row["hmean"] == "1.0" for row in rows)


def test_real_ground_truth_with_a_missing_result_file(capsys, real_set):
    gt, pred, files = real_set
    # Drop the result file of the image with the most care regions.
    care_counts = {gt_stem(p.name): sum(not r.dont_care for r in read_icdar_file(p)) for p in files}
    dropped = max(care_counts, key=care_counts.get)
    (pred / f"res_{dropped}.txt").unlink()
    code, out, err = run(capsys, "--gt", str(gt), "--pred", str(pred))
    assert code == 0
    summary = json.loads(out)
    total = sum(care_counts.values())
    assert summary["recall"] == (total - care_counts[dropped]) / total
    assert summary["precision"] == 1.0
    assert f"1 of {len(files)} ground-truth files have no result file" in err


# --------------------------------------------------------------------------- fast reading


def test_read_regions_reads_what_read_icdar_file_reads(mini_root, tmp_path):
    """Every embedded SROIE ground-truth file, result files written from them, and files with the
    format's quirks give the same vertices and don't-care flags by both readers."""
    files = sorted((mini_root / "annotations").glob("*/*.txt"))
    for index, path in enumerate(list(files)):
        regions = read_icdar_file(path)
        result = tmp_path / f"res_{path.stem}.txt"
        lines = [",".join(str(v) for v in (r.points + 0.25 * index).reshape(-1)) + (",0.5" if index % 2 else "")
                 for r in regions]
        write(result, "\n".join(lines) + "\n")
        files.append(result)
    quirks = {
        "bom_crlf.txt": "\ufeff1,2,3,2,3,4,1,4,a, b\r\n\r\n5,6,7,6,7,8,5,8,###\r\n",
        "spaces.txt": " 1 , 2,3,2,3,4,1,4 ,  ### \n\n 10,0,20,0,20,5,10,5,x,y,z  \n",
        "numbers.txt": "1e1,2.5,+3,2.,3,04,1,4,text\n-1,-2,3_0,2,3,4,1,4,١٢\n",
        "latin1.txt": "1,2,3,2,3,4,1,4,caf\xe9\n",
        "empty.txt": "\n\n",
    }
    for name, text in quirks.items():
        files.append(tmp_path / name)
        (tmp_path / name).write_bytes(text.encode("latin-1" if name == "latin1.txt" else "utf-8"))
    for path in files:
        is_result = path.name.startswith("res_")
        expected = read_icdar_file(path, with_transcription=not is_result)
        points, dont_care = score.read_regions(path, 4, with_transcription=not is_result)
        assert isinstance(points, np.ndarray) and points.shape == (len(expected), 4, 2), path.name
        np.testing.assert_array_equal(points, np.array([r.points for r in expected]).reshape(-1, 4, 2))
        assert dont_care.tolist() == [r.dont_care for r in expected], path.name
    assert sum(score.read_regions(tmp_path / "spaces.txt", 4)[1]) == 1


def test_read_regions_leaves_unusual_files_to_read_icdar_file(tmp_path):
    cases = {"inf.txt": "1,2,3,2,inf,4,1,4\n", "empty_confidence.txt": "1,2,3,2,3,4,1,4,\n",
             "two_extra.txt": "1,2,3,2,3,4,1,4,0.5,x\n", "short.txt": "1,2,3,2,3,4\n", "word.txt": "1,2,3,2,3,x,1,4\n"}
    for name, text in cases.items():
        write(tmp_path / name, text)
        try:
            expected = [r.points for r in read_icdar_file(tmp_path / name, with_transcription=False)]
        except ValueError as error:
            with pytest.raises(type(error), match=re.escape(str(error))):
                score.read_regions(tmp_path / name, 4, with_transcription=False)
        else:
            regions, dont_care = score.read_regions(tmp_path / name, 4, with_transcription=False)
            assert dont_care is None and [r.points.tolist() for r in regions] == [p.tolist() for p in expected]
    assert score.parse_numbers(["1", " 2.5 ", "1e3", "-0", "07", "1_0"]).tolist() == [1, 2.5, 1000, 0, 7, 10]
    with pytest.raises(ValueError):
        score.parse_numbers(["1", "true"])


def test_six_point_polygons_with_an_empty_and_a_missing_result_file(capsys, tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    hexagon = "0,0,10,0,12,5,10,10,0,10,-2,5"
    for name in ("a", "b", "c"):
        write(gt / f"gt_{name}.txt", f"{hexagon},word\n")
    write(pred / "res_a.txt", f"{hexagon},0.9\n")
    write(pred / "res_b.txt", "")
    code, out, err = run(capsys, "--gt", str(gt), "--pred", str(pred), "--polygon-points", "6")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["matched"], summary["num_gt_care"], summary["num_det_care"]) == (1, 3, 1)
    assert summary["num_images_without_results"] == 1
