"""Data pipeline on real receipts: augmentation moves polygons with pixels, splits, fingerprints."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from trainlab.tasks.text_detection.data.datamodule import (
    TextDetectionDataModule,
    split_train_val,
)
from trainlab.tasks.text_detection.data.dataset import TextDetectionDataset, read_image
from trainlab.tasks.text_detection.data.icdar_format import read_split
from trainlab.tasks.text_detection.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TextSafeCrop,
    build_train_augmentation,
    target_size,
)

FULL_AUGMENT = {
    "random_scale": {"scale": [0.5, 1.5]},
    "rotate": {"limit": 10},
    "flip": {"p": 0.5},
    "crop": {"max_tries": 50},
    "color_jitter": {},
    "blur": {},
}


@pytest.fixture(scope="module")
def receipts(mini_root):
    return read_split(mini_root / "images" / "train", mini_root / "annotations" / "train")


def test_target_size_keeps_ratio_and_multiples_of_32():
    assert target_size(1013, 463, mode="short_side", size=736) == (1600, 736)
    assert target_size(7016, 4961, mode="long_side", size=1024) == (1024, 736)
    assert target_size(4000, 100, mode="short_side", size=736, max_side=2400) == (2400, 64)
    with pytest.raises(ValueError, match="resize mode"):
        target_size(10, 10, mode="area")


@pytest.mark.parametrize("seed", range(4))
def test_augmented_polygons_follow_the_pixels(receipts, seed):
    """Paint each text polygon in a spare channel, augment, and check that the transformed
    polygons still cover the painted pixels (geometry is keypoint-aware)."""
    record = receipts[seed * 5]
    image = read_image(record.image_path)
    paint = np.zeros(image.shape[:2], dtype=np.uint8)
    for region in record.regions:
        cv2.fillPoly(paint, [np.round(region.points).astype(np.int32)], 255)
    stacked = np.dstack([image[..., :2], paint])  # channel 2 carries the paint
    geometric = {k: v for k, v in FULL_AUGMENT.items() if k in {"random_scale", "rotate", "flip", "crop"}}
    augment = build_train_augmentation(geometric, 640)
    augment.set_random_seed(seed)
    sizes = np.array([len(r.points) for r in record.regions])
    out = augment(image=stacked, keypoints=np.concatenate([r.points for r in record.regions]), polygon_sizes=sizes)
    assert out["image"].shape == (640, 640, 3)
    moved = np.split(np.asarray(out["keypoints"])[:, :2], np.cumsum(sizes)[:-1])
    redrawn = np.zeros((640, 640), dtype=np.uint8)
    for polygon in moved:
        cv2.fillPoly(redrawn, [np.round(polygon).astype(np.int32)], 255)
    painted = out["image"][..., 2] > 127
    assert painted.sum() > 500, "the crop should contain text"
    overlap = (painted & (redrawn > 0)).sum() / painted.sum()
    assert overlap > 0.9


def test_text_safe_crop_avoids_cutting_lines(receipts):
    """On receipts (text-free gaps between lines), crop edges fall between lines far more
    often than a plain random crop's do."""
    def cut_lines(crop_transform, seed):
        record = receipts[seed % len(receipts)]
        image = read_image(record.image_path)
        import albumentations as A

        compose = A.Compose([crop_transform], keypoint_params=A.KeypointParams(format="xy", remove_invisible=False),
                            strict=False)
        compose.set_random_seed(seed)
        sizes = np.array([len(r.points) for r in record.regions])
        out = compose(image=image, keypoints=np.concatenate([r.points for r in record.regions]), polygon_sizes=sizes)
        cut = 0
        for polygon in np.split(np.asarray(out["keypoints"])[:, :2], np.cumsum(sizes)[:-1]):
            ys = polygon[:, 1]
            cut += int((ys.min() < 0 < ys.max()) or (ys.min() < 400 - 1 < ys.max()))
        return cut

    import albumentations as A

    safe = sum(cut_lines(TextSafeCrop(400, 400), seed) for seed in range(12))
    plain = sum(cut_lines(A.RandomCrop(400, 400, pad_if_needed=True), seed) for seed in range(12))
    assert safe < plain / 3, (safe, plain)


def test_train_items_and_eval_items(receipts):
    train = TextDetectionDataset(receipts[:2], True, 320, augment=FULL_AUGMENT)
    item = train[0]
    assert item["image"].shape == (3, 320, 320) and item["image"].dtype == torch.float32
    for key in ("prob_map", "prob_mask", "thresh_map", "thresh_mask"):
        assert item[key].shape == (320, 320)
    assert item["prob_map"].sum() > 0
    # Normalised with the ImageNet statistics.
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    pixels = item["image"] * std + mean
    assert pixels.min() >= -0.01 and pixels.max() <= 1.01
    train.set_image_size(256)
    assert train[1]["image"].shape == (3, 256, 256)
    evaluation = TextDetectionDataset(receipts[:1], False, resize={"mode": "short_side", "size": 736})
    item = evaluation[0]
    height, width = item["original_size"]
    assert item["image"].shape[1:] == target_size(height, width, mode="short_side", size=736)
    assert item["regions"] is receipts[0].regions


def test_val_split_is_carved_from_train_and_keeps_duplicates_together(receipts):
    names = [r.name for r in receipts]
    digests = {r.image_path: r.name for r in receipts}
    digests[receipts[1].image_path] = receipts[0].name  # pretend 0 and 1 are the same image
    train, val = split_train_val(receipts, 0.25, seed=3, digests=digests)
    assert len(val) in (6, 7) and len(train) + len(val) == len(receipts)
    assert not {r.name for r in train} & {r.name for r in val}
    together = {receipts[0].name, receipts[1].name}
    assert together <= {r.name for r in train} or together <= {r.name for r in val}
    assert split_train_val(receipts, 0.25, seed=3, digests=digests) == (train, val)  # deterministic
    train, val = split_train_val(receipts, [names[2], names[5]], seed=0)
    assert [r.name for r in val] == [names[2], names[5]]
    with pytest.raises(ValueError, match="not in the train split: nope"):
        split_train_val(receipts, ["nope"], seed=0)
    with pytest.raises(ValueError, match="fraction in"):
        split_train_val(receipts, 1.5, seed=0)


def test_datamodule_drops_train_images_that_leak_into_test(tmp_path, mini_root):
    import shutil

    for sub in ("images", "annotations"):
        shutil.copytree(mini_root / sub, tmp_path / sub)
    leaked = sorted((tmp_path / "images" / "test").iterdir())[0]
    shutil.copy(leaked, tmp_path / "images" / "train" / "leak.jpg")
    shutil.copy(tmp_path / "annotations" / "test" / f"{leaked.stem}.txt", tmp_path / "annotations" / "train" / "leak.txt")
    datamodule = TextDetectionDataModule(str(tmp_path), val_split=0.2)
    datamodule.setup()
    assert datamodule.dropped == ["leak"]
    names = {r.name for split in ("train", "val") for r in datamodule.records[split]}
    assert "leak" not in names and len(names) == 24
    fingerprint = datamodule.fingerprint()
    assert fingerprint["splits"]["test"] == {"images": 8, "regions": 527, "dont_care": 0}
    reference = TextDetectionDataModule(str(mini_root), val_split=0.2)
    assert reference.fingerprint()["sha256"] == fingerprint["sha256"]  # same content, same fingerprint
    (tmp_path / "annotations" / "test" / f"{leaked.stem}.txt").write_text("1,1,9,1,9,9,1,9,x\n")
    changed = TextDetectionDataModule(str(tmp_path), val_split=0.2)
    assert changed.fingerprint()["sha256"] != fingerprint["sha256"]


def test_datamodule_reports_missing_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.root not found"):
        TextDetectionDataModule(str(tmp_path / "absent")).setup()
