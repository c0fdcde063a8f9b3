"""DB post-processing and the threshold search on real PP-OCRv4 probability maps of receipts:
``coordinate_rounding="paddle"`` against PaddleOCR's own ``DBPostProcess``, the closed-form unclip
against pyclipper, and the shared grid decoding and scoring against one config at a time."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from trainlab.tasks.text_detection.data.dataset import resize_for_eval
from trainlab.tasks.text_detection.data.icdar_format import read_icdar_file
from trainlab.tasks.text_detection.family import get_family
from trainlab.tasks.text_detection.geometry import offset_polygon, unclip_distance
from trainlab.tasks.text_detection.postprocess.db_postprocess import (
    DBPostprocessConfig,
    db_candidates,
    db_postprocess,
    db_postprocess_grid,
    paddle_reference_postprocess,
)
from trainlab.tasks.text_detection.threshold_search import (
    score_grid,
    search_postprocess,
    tune_grid,
)

ort = pytest.importorskip("onnxruntime")
ppocr_convert = pytest.importorskip("trainlab.tasks.text_detection.models.ppocr_convert")

RAPIDOCR_RESIZE = {"mode": "min_side_limit", "size": 736, "max_side": 2000}
RAPIDOCR = {"thresh": 0.3, "box_thresh": 0.5, "unclip_ratio": 1.6, "min_size": 3, "dilation": True}
RECEIPTS = ["X00016469670", "X51005711446", "X51006647984"]  # test split of the embedded set


@pytest.fixture(scope="module")
def receipt_maps(mini_root) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """PP-OCRv4 probability maps (ONNX Runtime, RapidOCR's resize, PaddleOCR's BGR normalisation)."""
    try:
        model = ppocr_convert.ppocr_det_onnx_path()
    except ppocr_convert.PPOCRUnavailableError as error:
        pytest.skip(str(error))
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    maps = []
    for name in RECEIPTS:
        bgr = cv2.imread(str(mini_root / "images" / "test" / f"{name}.jpg"), cv2.IMREAD_COLOR)
        prob_map = session.run(None, {"x": resize_for_eval(bgr, RAPIDOCR_RESIZE)[None]})[0][0, 0]
        maps.append((prob_map, bgr.shape[:2]))
    return maps


def test_shared_threshold_search_equals_scoring_each_config_alone(mini_root, receipt_maps):
    family = get_family("db")
    base = family.postprocess_config(**RAPIDOCR)
    grid = tune_grid(family, base, {"thresh": [0.2, 0.3], "box_thresh": [0.3, 0.5, 0.6, 0.7], "unclip_ratio": [1.2, 1.6, 2.2]})
    grid += [family.postprocess_config(**{**RAPIDOCR, "box_thresh": b, "coordinate_rounding": "paddle"}) for b in (0.5, 0.6)]
    samples = [(name, read_icdar_file(mini_root / "annotations" / "test" / f"{name}.txt"), {"prob_map": prob_map}, size)
               for name, (prob_map, size) in zip(RECEIPTS, receipt_maps)]
    shared = score_grid(samples, grid, family)
    alone = score_grid(samples, grid, family, shared=False)
    assert len(shared) == len(alone) == len(grid) == 26
    assert shared == alone
    matched = [sum(image.matched for image in images) for images in shared]
    assert len(set(matched)) >= 8 and min(matched) > 100  # the configs differ
    best, result, first = search_postprocess(samples, grid, family)
    assert best in grid and result.hmean >= first.hmean > 0.5


@pytest.mark.skipif(importlib.util.find_spec("paddleocr") is None,
                    reason="PaddleOCR's wheel is not installed (pip install paddleocr==2.10.0 --no-deps)")
@pytest.mark.parametrize("options", [
    {},
    {"thresh": 0.2, "box_thresh": 0.3, "unclip_ratio": 1.2, "dilation": False},
    {"box_thresh": 0.6, "unclip_ratio": 2.0, "score_mode": "polygon"},
])
def test_paddle_rounding_gives_paddleocr_boxes(receipt_maps, options):
    config = DBPostprocessConfig(**{**RAPIDOCR, **options, "coordinate_rounding": "paddle"})
    reference = paddle_reference_postprocess(
        thresh=config.thresh, box_thresh=config.box_thresh, unclip_ratio=config.unclip_ratio,
        use_dilation=config.dilation, score_mode="slow" if config.score_mode == "polygon" else "fast")
    for prob_map, (height, width) in receipt_maps:
        (expected,) = reference({"maps": prob_map[None, None]},
                                np.array([[height, width, prob_map.shape[0] / height, prob_map.shape[1] / width]]))
        regions = db_postprocess(prob_map, (height, width), config)
        assert len(regions) == len(expected["points"]) > 30
        np.testing.assert_array_equal(np.array([region.points for region in regions]), expected["points"])
    if config.score_mode == "fast":  # every candidate's score, kept or not, is PaddleOCR's box_score_fast
        candidates = db_candidates(prob_map, config)
        assert [reference.box_score_fast(prob_map, box) for box in candidates.boxes] == candidates.scores.tolist()


def test_closed_form_unclip_matches_pyclipper(receipt_maps):
    """The quads equal pyclipper's round-join offset refitted by cv2.minAreaRect (its 1/64 px grid and float32)."""
    config = DBPostprocessConfig(**RAPIDOCR)
    prob_map, size = receipt_maps[0]
    candidates = db_candidates(prob_map, config)
    regions = db_postprocess(prob_map, size, config)
    assert len(regions) > 30
    scale = np.array([size[1] / prob_map.shape[1], size[0] / prob_map.shape[0]])
    kept = candidates.boxes[candidates.scores >= config.box_thresh].astype(np.float64)
    for box, region in zip(kept, regions):
        (expanded,) = offset_polygon(box, unclip_distance(box, config.unclip_ratio))
        (cx, cy), (w, h), _ = cv2.minAreaRect(expanded.astype(np.float32))
        quad = (region.points + 0.5) / scale - 0.5  # back to map pixels
        sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
        assert sorted(sides[:2]) == pytest.approx(sorted((w, h)), abs=0.05)
        assert quad.mean(axis=0) == pytest.approx((cx, cy), abs=0.05)


def test_grid_decoding_equals_one_config_at_a_time(receipt_maps):
    grid = [DBPostprocessConfig(**{**RAPIDOCR, "thresh": t, "box_thresh": b, "unclip_ratio": u, "coordinate_rounding": r})
            for t in (0.2, 0.3) for b in (0.4, 0.6) for u in (1.4, 2.0) for r in ("subpixel", "paddle")]
    prob_map, size = receipt_maps[1]
    for config, regions in zip(grid, db_postprocess_grid(prob_map, size, grid)):
        alone = db_postprocess(prob_map, size, config)
        assert len(regions) == len(alone) > 10
        for shared, single in zip(regions, alone):
            assert shared.score == single.score
            np.testing.assert_array_equal(shared.points, single.points)


def test_coordinate_rounding_is_validated():
    with pytest.raises(ValueError, match="coordinate_rounding must be one of 'subpixel', 'paddle'"):
        DBPostprocessConfig(coordinate_rounding="integer")
    with pytest.raises(ValueError, match="use_polygon"):
        DBPostprocessConfig(coordinate_rounding="paddle", use_polygon=True)
