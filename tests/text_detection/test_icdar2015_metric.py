"""Tests of the ICDAR 2015 Task 4.1 evaluation protocol (trainlab.tasks.text_detection.metrics.icdar2015)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import shapely

from trainlab.tasks.text_detection.data.icdar_format import (
    gt_stem,
    read_icdar_file,
    write_result_file,
)
from trainlab.tasks.text_detection.metrics.icdar2015 import (
    PER_IMAGE_COLUMNS,
    DatasetResult,
    Icdar2015Accumulator,
    ImageResult,
    evaluate_dataset,
    evaluate_image,
    evaluate_images,
    evaluate_score_thresholds,
    intersection_area_matrix,
    iou_matrix,
    polygons_from_points,
)
from trainlab.tasks.text_detection.types import TextRegion

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
ICDAR2015_TEST_GT = SHARED_DATA / "icdar2015" / "annotations" / "test"


def rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Axis-aligned rectangle, clockwise in image coordinates (y down) from top-left."""
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def care(points: np.ndarray) -> TextRegion:
    return TextRegion(points=np.asarray(points, dtype=np.float64), transcription="text")


def dont_care(points: np.ndarray) -> TextRegion:
    return TextRegion(points=np.asarray(points, dtype=np.float64), transcription="###", dont_care=True)


def rotated_rect(cx: float, cy: float, w: float, h: float, degrees: float) -> np.ndarray:
    theta = math.radians(degrees)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    return corners @ rotation.T + np.array([cx, cy])


# --------------------------------------------------------------------------- thresholds


def test_iou_exactly_half_is_not_a_match():
    gt = [care(rect(0, 0, 2, 1))]
    det = [rect(0, 0, 1, 1)]  # intersection 1, union 2
    assert iou_matrix(gt, det)[0, 0] == 0.5
    result = evaluate_image(gt, det)
    assert result.matched == 0 and result.pairs == ()
    assert (result.num_gt_care, result.num_det_care) == (1, 1)
    assert (result.precision, result.recall, result.hmean) == (0.0, 0.0, 0.0)


def test_iou_just_above_half_is_a_match():
    gt = [care(rect(0, 0, 2, 1))]
    det = [rect(0, 0, 1.01, 1)]
    assert iou_matrix(gt, det)[0, 0] > 0.5
    result = evaluate_image(gt, det)
    assert result.pairs == ((0, 0),)
    assert (result.precision, result.recall, result.hmean) == (1.0, 1.0, 1.0)


def test_detection_exactly_half_inside_dont_care_is_a_false_positive():
    gt = [dont_care(rect(0, 0, 10, 10)), care(rect(100, 100, 110, 110))]
    det = [rect(5, 0, 15, 10)]  # 50 of its 100 px² inside the don't-care region
    result = evaluate_image(gt, det)
    assert result.ignored_det == ()
    assert result.dont_care_gt == (0,)
    assert (result.num_gt_care, result.num_det_care, result.matched) == (1, 1, 0)
    assert result.precision == 0.0


def test_detection_slightly_more_than_half_inside_dont_care_is_ignored():
    gt = [dont_care(rect(0, 0, 10, 10)), care(rect(100, 100, 110, 110))]
    det = [rect(4.9, 0, 14.9, 10)]  # 51 % inside
    result = evaluate_image(gt, det)
    assert result.ignored_det == (0,)
    assert (result.num_gt_care, result.num_det_care, result.matched) == (1, 0, 0)
    assert (result.precision, result.recall) == (0.0, 0.0)


def test_dont_care_rule_uses_single_regions_not_their_union():
    # Half inside each of two adjacent don't-care regions: 100 % inside their union, but
    # the official rule compares with one region at a time, so it is not ignored.
    gt = [dont_care(rect(0, 0, 10, 10)), dont_care(rect(10, 0, 20, 10))]
    det = [rect(5, 0, 15, 10)]
    result = evaluate_image(gt, det)
    assert result.ignored_det == ()
    assert (result.num_gt_care, result.num_det_care) == (0, 1)
    assert (result.precision, result.recall, result.hmean) == (0.0, 1.0, 0.0)


def test_ignored_detection_cannot_match_and_dont_care_gt_cannot_match():
    # A care GT mostly covered by a don't-care one: its exact copy is ignored, not matched.
    gt = [dont_care(rect(0, 0, 10, 10)), care(rect(0, 0, 10, 9))]
    result = evaluate_image(gt, [rect(0, 0, 10, 9)])
    assert result.ignored_det == (0,) and result.pairs == ()
    assert (result.num_gt_care, result.num_det_care, result.recall, result.precision) == (1, 0, 0.0, 0.0)
    # A detection equal to a don't-care GT alone is ignored, giving a perfect empty image.
    result = evaluate_image([dont_care(rect(0, 0, 10, 10))], [rect(0, 0, 10, 10)])
    assert result.ignored_det == (0,)
    assert (result.precision, result.recall, result.hmean) == (1.0, 1.0, 1.0)


# --------------------------------------------------------------------------- empty images


def test_image_without_ground_truth_and_without_detections():
    result = evaluate_image([], [])
    assert (result.num_gt_care, result.num_det_care, result.matched) == (0, 0, 0)
    assert (result.precision, result.recall, result.hmean) == (1.0, 1.0, 1.0)


def test_image_without_ground_truth_with_detections():
    result = evaluate_image([], [rect(0, 0, 5, 5), rect(10, 10, 20, 20)])
    assert (result.num_gt_care, result.num_det_care, result.matched) == (0, 2, 0)
    assert (result.precision, result.recall, result.hmean) == (0.0, 1.0, 0.0)


def test_image_with_only_dont_care_ground_truth_and_a_stray_detection():
    result = evaluate_image([dont_care(rect(0, 0, 5, 5))], [rect(50, 50, 60, 60)])
    assert (result.num_gt_care, result.num_det_care) == (0, 1)
    assert (result.precision, result.recall) == (0.0, 1.0)


def test_image_without_detections():
    result = evaluate_image([care(rect(0, 0, 5, 5)), dont_care(rect(10, 10, 20, 20))], [])
    assert (result.num_gt, result.num_gt_care, result.num_det_care, result.matched) == (2, 1, 0, 0)
    assert (result.precision, result.recall, result.hmean) == (0.0, 0.0, 0.0)


# --------------------------------------------------------------------------- greedy order


def test_ground_truth_file_order_decides_the_greedy_match():
    a = care(rect(0, 0, 10, 10))
    b = care(rect(3, 0, 13, 10))
    d1 = rect(1.5, 0, 11.5, 10)  # IoU 0.739 with both a and b
    d2 = rect(-2, 0, 8, 10)  # IoU 0.667 with a, 0.333 with b
    iou = iou_matrix([a, b], [d1, d2])
    assert iou[0, 0] > 0.5 and iou[1, 0] > 0.5 and iou[0, 1] > 0.5 and iou[1, 1] < 0.5

    a_first = evaluate_image([a, b], [d1, d2])
    assert a_first.pairs == ((0, 0),)  # a takes d1; b has no free detection left
    assert (a_first.matched, a_first.recall, a_first.precision) == (1, 0.5, 0.5)

    b_first = evaluate_image([b, a], [d1, d2])
    assert b_first.pairs == ((0, 0), (1, 1))  # b takes d1, then a takes d2
    assert (b_first.matched, b_first.recall, b_first.precision) == (2, 1.0, 1.0)


def test_detection_file_order_decides_the_greedy_match():
    a = care(rect(0, 0, 10, 10))
    b = care(rect(3, 0, 13, 10))
    d1 = rect(1.5, 0, 11.5, 10)
    d2 = rect(-2, 0, 8, 10)
    # a takes the first qualifying detection in file order: d2 now, leaving d1 for b.
    result = evaluate_image([a, b], [d2, d1])
    assert result.pairs == ((0, 0), (1, 1))
    assert result.matched == 2


# --------------------------------------------------------------------------- geometry


def closed_form_shifted_iou(w: float, h: float, degrees: float, dx: float, dy: float) -> float:
    """IoU of a w x h rectangle rotated by ``degrees`` and its copy translated by (dx, dy)."""
    theta = math.radians(degrees)
    # The translation expressed along the rectangle's own axes.
    u = abs(dx * math.cos(theta) + dy * math.sin(theta))
    v = abs(-dx * math.sin(theta) + dy * math.cos(theta))
    inter = max(w - u, 0.0) * max(h - v, 0.0)
    return inter / (2 * w * h - inter)


@pytest.mark.parametrize("dx, dy", [(3.0, 1.0), (-6.0, 2.5), (10.0, 0.0)])
def test_rotated_quad_iou_matches_closed_form(dx, dy):
    gt = rotated_rect(200, 150, 60, 20, 30)
    det = gt + np.array([dx, dy])
    expected = closed_form_shifted_iou(60, 20, 30, dx, dy)
    assert iou_matrix([gt], [det])[0, 0] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # Orientation does not matter: counter-clockwise vertex order gives the same IoU.
    assert iou_matrix([gt[::-1]], [det])[0, 0] == pytest.approx(expected, rel=1e-12)
    result = evaluate_image([care(gt)], [det])
    assert result.matched == (1 if expected > 0.5 else 0)


def raster_iou(p: np.ndarray, q: np.ndarray, step: float) -> float:
    """IoU of two convex polygons estimated by sampling a fine grid of pixel centres."""
    both = np.vstack([p, q])
    xs = np.arange(both[:, 0].min(), both[:, 0].max(), step) + step / 2
    ys = np.arange(both[:, 1].min(), both[:, 1].max(), step) + step / 2
    gx, gy = np.meshgrid(xs, ys)

    def inside(poly: np.ndarray) -> np.ndarray:
        signs = []
        for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0)):
            signs.append((x1 - x0) * (gy - y0) - (y1 - y0) * (gx - x0))
        signs = np.stack(signs)
        return (signs >= 0).all(axis=0) | (signs <= 0).all(axis=0)

    in_p, in_q = inside(p), inside(q)
    return float((in_p & in_q).sum() / (in_p | in_q).sum())


def test_rotated_quads_with_different_angles_match_raster_estimate():
    gt = rotated_rect(100, 100, 80, 24, 30)
    det = rotated_rect(103, 101, 76, 26, 36)
    estimate = raster_iou(gt, det, step=0.05)
    exact = iou_matrix([gt], [det])[0, 0]
    assert exact == pytest.approx(estimate, abs=2e-3)
    assert 0.5 < exact < 0.95


def test_polygons_with_more_vertices_and_mixed_counts():
    octagon = np.array([[2, 0], [4, 0], [6, 2], [6, 4], [4, 6], [2, 6], [0, 4], [0, 2]], dtype=float)  # area 28
    square = rect(0, 0, 6, 6)  # area 36
    triangle = np.array([[0, 0], [6, 0], [0, 6]], dtype=float)  # area 18, inside the square
    iou = iou_matrix([care(square)], [octagon, triangle])
    assert iou[0, 0] == pytest.approx(28 / 36)
    assert iou[0, 1] == pytest.approx(18 / 36)
    result = evaluate_image([care(square)], [octagon, triangle])
    assert result.pairs == ((0, 0),)


def test_self_intersecting_polygon_is_repaired_not_a_crash():
    bowtie = np.array([[0, 0], [2, 2], [2, 0], [0, 2]], dtype=float)  # two triangles, area 2
    polygons = polygons_from_points([bowtie])
    assert shapely.is_valid(polygons[0])
    assert shapely.area(polygons[0]) == pytest.approx(2.0)
    square = rect(0, 0, 2, 2)
    assert iou_matrix([care(bowtie)], [square])[0, 0] == pytest.approx(0.5)
    result = evaluate_image([care(bowtie)], [square])
    assert result.matched == 0


def test_zero_area_detection_is_counted_never_ignored_never_matched():
    line = np.array([[0, 0], [5, 5], [10, 10]], dtype=float)  # collinear: zero area
    gt = [dont_care(rect(0, 0, 10, 10)), care(rect(0, 0, 10, 10))]
    result = evaluate_image(gt, [line])
    assert result.ignored_det == ()
    assert (result.num_det_care, result.matched, result.precision) == (1, 0, 0.0)
    assert iou_matrix([gt[1]], [line])[0, 0] == 0.0


def test_textregion_and_array_detections_give_the_same_result():
    gt = [care(rect(0, 0, 10, 10)), dont_care(rect(20, 0, 30, 10)), care(rect(40, 0, 50, 10))]
    arrays = [rect(1, 0, 11, 10), rect(21, 0, 31, 10), rect(60, 0, 70, 10)]
    regions = [TextRegion(points=a, score=0.9) for a in arrays]
    assert evaluate_image(gt, arrays) == evaluate_image(gt, regions)
    # Bare-array ground truth with explicit don't-care flags gives the same again.
    bare = evaluate_image([g.points for g in gt], arrays, gt_dont_care=[False, True, False])
    assert bare == evaluate_image(gt, arrays)


def test_invalid_input_raises_value_error():
    with pytest.raises(ValueError, match="detection 1"):
        evaluate_image([care(rect(0, 0, 1, 1))], [rect(0, 0, 1, 1), np.zeros((2, 2))])
    with pytest.raises(ValueError, match="finite"):
        evaluate_image([], [np.array([[0, 0], [1, np.nan], [1, 1]])])
    with pytest.raises(ValueError, match="gt_dont_care"):
        evaluate_image([care(rect(0, 0, 1, 1))], [], gt_dont_care=[True, False])
    with pytest.raises(ValueError, match="iou_threshold"):
        evaluate_image([], [], iou_threshold=1.5)


def random_quads(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    quads = []
    for _ in range(count):
        cx, cy = rng.uniform(0, 300, size=2)
        w, h = rng.uniform(5, 60), rng.uniform(4, 25)
        quads.append(rotated_rect(cx, cy, w, h, rng.uniform(-45, 45)) + rng.normal(0, 1.0, size=(4, 2)))
    return quads


def test_bounding_box_prefilter_is_identical_to_exhaustive_computation():
    rng = np.random.default_rng(0)
    a = polygons_from_points(random_quads(rng, 70))
    b = polygons_from_points(random_quads(rng, 60) + [np.array([[0, 0], [1, 1], [2, 2]], dtype=float)])
    fast = intersection_area_matrix(a, b)
    slow = intersection_area_matrix(a, b, prefilter=False)
    assert np.array_equal(fast, slow)
    assert (slow > 0).sum() > 10  # the test exercises real overlaps


# --------------------------------------------------------------------------- reference


def reference_evaluate(gt: list[TextRegion], det: list[np.ndarray]) -> tuple[int, int, int, list[tuple[int, int]]]:
    """A literal, pair-by-pair transcription of the protocol, without vectorisation or prefilter."""
    gt_polygons = [shapely.Polygon(g.points) for g in gt]
    det_polygons = [shapely.Polygon(d) for d in det]
    dont_care_gt = [i for i, g in enumerate(gt) if g.dont_care]
    ignored = []
    for j, d in enumerate(det_polygons):
        for i in dont_care_gt:
            share = 0.0 if d.area == 0 else gt_polygons[i].intersection(d).area / d.area
            if share > 0.5:
                ignored.append(j)
                break
    gt_used, det_used, pairs = set(), set(), []
    for i, g in enumerate(gt_polygons):
        for j, d in enumerate(det_polygons):
            if i in gt_used or j in det_used or i in dont_care_gt or j in ignored:
                continue
            inter = g.intersection(d).area
            union = g.area + d.area - inter
            if union > 0 and inter / union > 0.5:
                gt_used.add(i)
                det_used.add(j)
                pairs.append((i, j))
    return len(gt) - len(dont_care_gt), len(det) - len(ignored), len(pairs), pairs


def test_matches_reference_on_random_scenes():
    rng = np.random.default_rng(1)
    for _ in range(30):
        gt_quads = random_quads(rng, int(rng.integers(0, 25)))
        flags = rng.random(len(gt_quads)) < 0.3
        gt = [TextRegion(points=q, dont_care=bool(f)) for q, f in zip(gt_quads, flags)]
        det = [q + rng.normal(0, 4, size=2) for q in gt_quads if rng.random() < 0.8] + random_quads(rng, 3)
        result = evaluate_image(gt, det)
        num_gt_care, num_det_care, matched, pairs = reference_evaluate(gt, det)
        assert (result.num_gt_care, result.num_det_care, result.matched) == (num_gt_care, num_det_care, matched)
        assert list(result.pairs) == pairs


# --------------------------------------------------------------------------- dataset level


def test_dataset_figures_are_pooled_not_averaged():
    perfect = ([care(rect(0, 0, 10, 10))], [rect(0, 0, 10, 10)])
    one_of_three = ([care(rect(0, 0, 10, 10)), care(rect(20, 0, 30, 10)), care(rect(40, 0, 50, 10))], [rect(0, 0, 10, 10)])
    empty = ([], [])
    result = evaluate_dataset({"a": perfect, "b": one_of_three, "c": empty})
    assert [image.name for image in result.images] == ["a", "b", "c"]
    assert (result.matched, result.num_gt_care, result.num_det_care, result.num_images) == (2, 4, 2, 3)
    assert result.recall == 0.5
    assert result.precision == 1.0
    assert result.hmean == pytest.approx(2 / 3)
    mean_recall = np.mean([image.recall for image in result.images])
    assert mean_recall == pytest.approx((1 + 1 / 3 + 1) / 3)
    assert result.recall != pytest.approx(mean_recall)


def test_dataset_with_no_care_regions_scores_zero():
    result = evaluate_dataset([("a", [], []), ("b", [dont_care(rect(0, 0, 5, 5))], [])])
    assert (result.precision, result.recall, result.hmean) == (0.0, 0.0, 0.0)
    assert all(image.hmean == 1.0 for image in result.images)


def test_mapping_and_triples_and_accumulator_agree():
    samples = {
        "x": ([care(rect(0, 0, 10, 10)), dont_care(rect(50, 50, 60, 60))], [rect(1, 1, 10, 10), rect(50, 50, 59, 60)]),
        "y": ([care(rect(0, 0, 10, 10))], [rect(30, 30, 40, 40)]),
    }
    from_mapping = evaluate_dataset(samples)
    from_triples = evaluate_dataset((name, gt, det) for name, (gt, det) in samples.items())
    accumulator = Icdar2015Accumulator()
    for name, (gt, det) in samples.items():
        accumulator.update(name, gt, det)
    assert len(accumulator) == 2
    assert from_mapping == from_triples == accumulator.compute()
    assert (from_mapping.matched, from_mapping.num_gt_care, from_mapping.num_det_care) == (1, 2, 2)
    with pytest.raises(ValueError, match="already evaluated"):
        accumulator.update("x", [], [])
    accumulator.reset()
    assert len(accumulator) == 0
    empty = accumulator.compute()
    assert (empty.precision, empty.recall, empty.hmean, empty.num_images) == (0.0, 0.0, 0.0, 0)
    with pytest.raises(ValueError, match="unique"):
        evaluate_dataset([("a", [], []), ("a", [], [])])


def test_results_merge_from_image_results():
    images = [evaluate_image([care(rect(0, 0, 4, 4))], [rect(0, 0, 4, 4)], name="p"),
              evaluate_image([care(rect(0, 0, 4, 4))], [], name="q")]
    merged = Icdar2015Accumulator()
    for image in images:
        merged.add_result(image)
    assert merged.compute() == DatasetResult.from_images(images)
    assert merged.compute().recall == 0.5


def test_per_image_rows_dataframe_and_csv(tmp_path):
    result = evaluate_dataset({"img_2": ([care(rect(0, 0, 10, 10))], [rect(0, 0, 10, 10), rect(50, 0, 60, 10)]),
                               "img_1": ([care(rect(0, 0, 10, 10))], [])})
    rows = result.per_image_rows()
    assert [tuple(row) for row in rows] == [PER_IMAGE_COLUMNS, PER_IMAGE_COLUMNS]
    assert rows[0] == {"name": "img_2", "num_gt_care": 1, "num_det_care": 2, "matched": 1,
                       "precision": 0.5, "recall": 1.0, "hmean": pytest.approx(2 / 3)}
    frame = result.to_dataframe()
    assert list(frame.columns) == list(PER_IMAGE_COLUMNS)
    assert frame["recall"].tolist() == [1.0, 0.0]
    path = result.write_per_image_csv(tmp_path / "sub" / "per_image.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(PER_IMAGE_COLUMNS)
    assert lines[2] == "img_1,1,0,0,0.0,0.0,0.0"
    assert result.summary() == {"precision": 0.5, "recall": 0.5, "hmean": 0.5, "matched": 1,
                                "num_gt_care": 2, "num_det_care": 2, "num_images": 2}
    assert isinstance(result.images[0], ImageResult)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def icdar2015_test_gt() -> dict[str, list[TextRegion]]:
    if not ICDAR2015_TEST_GT.is_dir():
        pytest.skip(f"ICDAR 2015 test annotations not available at {ICDAR2015_TEST_GT}")
    files = sorted(ICDAR2015_TEST_GT.glob("*.txt"))
    if not files:
        pytest.skip(f"no annotation files in {ICDAR2015_TEST_GT}")
    return {gt_stem(path.name): read_icdar_file(path) for path in files}


def rewrite_as_results(tmp_path: Path, detections: dict[str, list[np.ndarray]]) -> dict[str, list[TextRegion]]:
    """Write detections as ICDAR result files (coordinates only) and read them back."""
    read_back = {}
    for name, points in detections.items():
        path = tmp_path / f"res_{name}.txt"
        write_result_file(path, points)
        read_back[name] = read_icdar_file(path, with_transcription=False)
    return read_back


def test_real_ground_truth_scored_against_itself_is_perfect(icdar2015_test_gt, tmp_path):
    results = rewrite_as_results(tmp_path, {name: [r.points for r in gt] for name, gt in icdar2015_test_gt.items()})
    result = evaluate_dataset({name: (gt, results[name]) for name, gt in icdar2015_test_gt.items()})
    assert (result.precision, result.recall, result.hmean) == (1.0, 1.0, 1.0)
    num_regions = sum(len(gt) for gt in icdar2015_test_gt.values())
    num_dont_care = sum(r.dont_care for gt in icdar2015_test_gt.values() for r in gt)
    assert num_dont_care > 100  # don't-care handling is exercised
    assert result.num_gt_care == result.num_det_care == result.matched == num_regions - num_dont_care
    # Each copy of a don't-care region is ignored, every other copy matches its original.
    for image in result.images:
        assert image.ignored_det == image.dont_care_gt
        assert all(g == d for g, d in image.pairs)


def test_real_ground_truth_with_every_second_box_dropped(icdar2015_test_gt, tmp_path):
    kept = {name: [r.points for i, r in enumerate(gt) if i % 2 == 0] for name, gt in icdar2015_test_gt.items()}
    results = rewrite_as_results(tmp_path, kept)
    result = evaluate_dataset({name: (gt, results[name]) for name, gt in icdar2015_test_gt.items()})
    num_care = sum(not r.dont_care for gt in icdar2015_test_gt.values() for r in gt)
    num_care_kept = sum(not r.dont_care for gt in icdar2015_test_gt.values() for i, r in enumerate(gt) if i % 2 == 0)
    assert result.num_gt_care == num_care
    assert result.matched == num_care_kept
    assert result.recall == num_care_kept / num_care
    assert result.precision == 1.0
    assert 0.3 < result.recall < 0.7


def test_real_ground_truth_shifted_matches_reference(icdar2015_test_gt):
    shift = np.array([4.0, -3.0])
    samples = {name: (gt, [r.points + shift for r in gt]) for name, gt in icdar2015_test_gt.items()}
    result = evaluate_dataset(samples)
    matched = num_gt_care = num_det_care = 0
    for image in result.images:
        gt, det = samples[image.name]
        ref_gt_care, ref_det_care, ref_matched, ref_pairs = reference_evaluate(gt, det)
        assert list(image.pairs) == ref_pairs
        matched += ref_matched
        num_gt_care += ref_gt_care
        num_det_care += ref_det_care
    assert (result.matched, result.num_gt_care, result.num_det_care) == (matched, num_gt_care, num_det_care)
    assert result.recall == matched / num_gt_care
    assert result.precision == matched / num_det_care
    assert 0 < result.recall < 1  # the shift loses small boxes but keeps most


def test_real_data_prefilter_is_identical_to_exhaustive(icdar2015_test_gt):
    for gt in icdar2015_test_gt.values():
        a = polygons_from_points(gt)
        b = polygons_from_points([r.points + np.array([2.0, 1.0]) for r in gt])
        assert np.array_equal(intersection_area_matrix(a, b), intersection_area_matrix(a, b, prefilter=False))


# --------------------------------------------------------------------------- batch evaluation


def perturbed_receipts(mini_root: Path) -> list[tuple[str, list[TextRegion], list[np.ndarray]]]:
    """The embedded SROIE receipts' real boxes (every 9th marked don't-care) against detections
    that exercise every path of the batch evaluation: integer rectangles (exact overlaps),
    float rectangles and rotated quads (rectangle clipping), both sides rotated (general
    intersection), pairs near IoU 0.5 and split boxes; in shuffled order."""
    rng = np.random.default_rng(7)
    samples = []
    for split in ("train", "test"):
        for path in sorted((mini_root / "annotations" / split).glob("*.txt")):
            gt = [TextRegion(points=r.points, dont_care=i % 9 == 4) for i, r in enumerate(read_icdar_file(path))]
            det = []
            for i, region in enumerate(gt):
                points, kind = region.points, i % 6
                centre = points.mean(axis=0)
                if kind == 0:
                    det.append(np.round(points + rng.normal(0, 3, (4, 2)) * [[1, 0]] + rng.normal(0, 2, 2)))
                elif kind == 1:
                    det.append(points + rng.normal(0, 1.5, 2))
                elif kind == 2:
                    det.append(rotated_rect(*centre, *np.ptp(points, axis=0) * rng.uniform(0.8, 1.2), rng.normal(0, 3)))
                elif kind == 3:  # a third of the width cut away: IoU 2/3, or half of it: IoU near 0.5
                    cut = np.ptp(points[:, 0]) * (0.5 + 1e-12 * rng.choice([-1, 1]) if i % 12 == 3 else 1 / 3)
                    det.append(np.round(points) - [[0, 0], [cut, 0], [cut, 0], [0, 0]])
                elif kind == 4:  # split in two halves
                    left, right = points.copy(), points.copy()
                    left[[1, 2], 0] = right[[0, 3], 0] = centre[0]
                    det.extend([left, right])
            if gt:
                gt[-1] = TextRegion(points=rotated_rect(*gt[-1].points.mean(axis=0), 40, 12, 20))
                det.append(rotated_rect(*gt[-1].points.mean(axis=0) + 1, 40, 12, 23))
            order = rng.permutation(len(det))
            samples.append((path.stem, gt, [det[k] for k in order]))
    return samples


def test_batch_evaluation_equals_the_pair_by_pair_reference_on_real_receipts(mini_root):
    samples = perturbed_receipts(mini_root)
    result = evaluate_dataset(samples)
    assert result.num_images == len(samples) >= 30
    assert 0.3 < result.recall < 0.9 and sum(len(image.ignored_det) for image in result.images) > 10
    for image, (_, gt, det) in zip(result.images, samples):
        num_gt_care, num_det_care, matched, pairs = reference_evaluate(gt, det)
        assert (image.num_gt_care, image.num_det_care, image.matched) == (num_gt_care, num_det_care, matched)
        assert list(image.pairs) == pairs
    single = [evaluate_image(gt, det, name=name) for name, gt, det in samples]
    assert result.images == tuple(single)


def test_score_thresholds_equal_evaluating_each_subset(mini_root):
    samples = perturbed_receipts(mini_root)
    rng = np.random.default_rng(3)
    scores = [rng.uniform(0, 1, len(det)) for _, _, det in samples]
    names, gts, dets = zip(*samples)
    thresholds = [0.0, 0.3, 0.55, 0.9, 1.1]
    results = evaluate_score_thresholds(names, gts, dets, scores, thresholds)
    for threshold, result in zip(thresholds, results):
        kept = [(name, gt, [d for d, s in zip(det, score) if s >= threshold])
                for (name, gt, det), score in zip(samples, scores)]
        assert result == evaluate_dataset(kept)
        assert result.images == evaluate_dataset(kept).images
    assert results[0].matched > results[2].matched > results[3].matched > 0 == results[4].num_det_care


def test_arrays_and_regions_give_the_same_batch_result(mini_root):
    samples = perturbed_receipts(mini_root)
    names = [name for name, _, _ in samples]
    as_arrays = evaluate_images(names, [np.array([r.points for r in gt]).reshape(-1, 4, 2) for _, gt, _ in samples],
                                [np.array(det).reshape(-1, 4, 2) for _, _, det in samples],
                                gt_dont_care=[[r.dont_care for r in gt] for _, gt, _ in samples])
    assert as_arrays.images == evaluate_dataset(samples).images
    with pytest.raises(ValueError, match="detection 1: vertices must be finite"):
        evaluate_images(["a"], [np.zeros((0, 4, 2))], [np.array([rect(0, 0, 1, 1), rect(0, 0, np.nan, 1)])])
