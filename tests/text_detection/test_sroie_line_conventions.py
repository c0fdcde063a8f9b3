"""scripts/sroie_line_conventions.py on the embedded receipts: both conventions are found and rewritten."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import shapely

from trainlab.tasks.text_detection.data.icdar_format import read_split
from trainlab.tasks.text_detection.metrics.icdar2015 import evaluate_dataset

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sroie_line_conventions.py"


@pytest.fixture(scope="module")
def conventions():
    spec = importlib.util.spec_from_file_location("sroie_line_conventions", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def receipts(mini_root):
    return read_split(mini_root / "images" / "train", mini_root / "annotations" / "train")


def test_tax_codes_are_annotated_both_ways_and_rewritten(conventions, receipts):
    pattern = conventions.PATTERNS[0]
    assert pattern.name == "price | tax code"
    joined = [(rec, r) for rec in receipts for r in rec.regions if pattern.joined.fullmatch(r.transcription.strip())]
    pairs = [(rec, p) for rec in receipts for p in conventions.apart_pairs(rec.regions, pattern)]
    assert joined and pairs, "the embedded train receipts hold both conventions"

    for rec, (left, right) in pairs:
        assert pattern.left(rec.regions[left].transcription.strip())
        assert rec.regions[right].transcription.strip() in {"SR", "S", "ZR", "Z", "ZRL", "T"}
        merged = conventions.rewrite(rec.regions, pattern, "joined")
        assert len(merged) < len(rec.regions)
        box = next(r for r in merged if r.transcription.startswith(rec.regions[left].transcription.strip() + " "))
        hull = shapely.Polygon(box.points)
        for index in (left, right):  # the merged rectangle covers both boxes
            part = shapely.Polygon(rec.regions[index].points)
            assert hull.intersection(part).area >= 0.95 * part.area

    rec, region = joined[0]
    cut = conventions.rewrite(rec.regions, pattern, "apart")
    n_joined = sum(bool(pattern.joined.fullmatch(r.transcription.strip())) for r in rec.regions)
    assert len(cut) == len(rec.regions) + n_joined
    price, code = conventions.rewrite([region], pattern, "apart")  # the cut of this one joined box
    assert f"{price.transcription} {code.transcription}" == " ".join(region.transcription.split())
    assert pattern.left(price.transcription) and pattern.right(code.transcription)
    assert price.points[:, 0].max() <= code.points[:, 0].min() + 1e-6  # left segment, then right segment
    assert region.points[:, 0].min() - 1e-6 <= price.points[:, 0].min()
    assert code.points[:, 0].max() <= region.points[:, 0].max() + 1e-6


def test_rewritten_ground_truth_scores_below_one(conventions, receipts):
    """Each rewritten box costs a match under ICDAR 2015, so the ceiling is below 1 and the original scores 1."""
    pattern = conventions.PATTERNS[0]
    original = evaluate_dataset({rec.name: (rec.regions, [r.points for r in rec.regions]) for rec in receipts})
    assert original.hmean == pytest.approx(1.0)
    for convention in ("apart", "joined"):
        rewritten = {rec.name: (rec.regions, [r.points for r in conventions.rewrite(rec.regions, pattern, convention)])
                     for rec in receipts}
        result = evaluate_dataset(rewritten)
        assert 0.9 < result.hmean < 1.0
    with pytest.raises(ValueError, match="convention"):
        conventions.rewrite(receipts[0].regions, pattern, "other")


def test_written_root_reads_back_with_the_rewritten_training_labels(conventions, receipts, mini_root, tmp_path):
    """--write: train labels rewritten per pattern and readable again; test labels and images untouched."""
    choice = {p.name: ("joined" if p.name == "label | colon" else "apart") for p in conventions.PATTERNS}
    out = tmp_path / "normalized"
    written = conventions.write_normalized_root(mini_root, out, choice)

    expected = {}
    for rec in receipts:
        regions = list(rec.regions)
        for pattern in conventions.PATTERNS:
            regions = conventions.rewrite(regions, pattern, choice[pattern.name])
        expected[rec.name] = regions
    assert written == sum(len(r) for r in expected.values())
    assert written != sum(len(rec.regions) for rec in receipts), "the embedded receipts hold patterns to rewrite"

    back = read_split(out / "images" / "train", out / "annotations" / "train")
    assert [rec.name for rec in back] == [rec.name for rec in receipts]
    for rec in back:
        want = expected[rec.name]
        assert [r.transcription for r in rec.regions] == [r.transcription.strip() for r in want]
        for got, ref in zip(rec.regions, want):
            assert abs(got.points - ref.points).max() <= 0.5  # integer coordinates, rounded
    for original in (mini_root / "annotations" / "test").iterdir():
        assert (out / "annotations" / "test" / original.name).read_bytes() == original.read_bytes()
    assert sorted(p.name for p in (out / "images" / "test").iterdir()) == \
        sorted(p.name for p in (mini_root / "images" / "test").iterdir())

    with pytest.raises(FileExistsError, match="already holds annotations"):
        conventions.write_normalized_root(mini_root, out, choice)


def test_writing_from_a_root_without_test_images_writes_nothing(conventions, tmp_path):
    root = tmp_path / "root"
    (root / "images" / "train").mkdir(parents=True)
    (root / "annotations" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="images/test"):
        conventions.write_normalized_root(root, tmp_path / "out", {})
    assert not (tmp_path / "out").exists()


def test_writing_with_an_incomplete_convention_choice_writes_nothing(conventions, mini_root, tmp_path):
    choice = {p.name: "apart" for p in conventions.PATTERNS[1:]}
    with pytest.raises(ValueError, match=re.escape(conventions.PATTERNS[0].name)):
        conventions.write_normalized_root(mini_root, tmp_path / "out", choice)
    choice[conventions.PATTERNS[0].name] = "both"
    with pytest.raises(ValueError, match="'both'"):
        conventions.write_normalized_root(mini_root, tmp_path / "out", choice)
    assert not (tmp_path / "out").exists()
