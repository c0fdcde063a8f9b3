"""The text-pretrained encoders (PP-OCRv4's backbone, CRAFT's VGG16-BN) as pyramid encoders, the
detector's anchors being replaced without touching its weights, and the optional plate reading."""

from __future__ import annotations

import pytest
import torch

from trainlab.tasks.plate_detection.alpr import normalise_plate, plate_accuracy
from trainlab.tasks.plate_detection.model import build_retinanet, set_anchors


def test_ppocr_backbone_gives_the_pretrained_stride_4_to_32_pyramid():
    pytest.importorskip("onnx2torch")
    from trainlab.layers.pretrained_ppocr import converted_ppocr_det, ppocr_backbone

    backbone = ppocr_backbone()
    features = backbone(torch.zeros(1, 3, 64, 96))
    assert backbone.out_channels == [48, 96, 192, 384]
    assert [tuple(f.shape[2:]) for f in features] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    detector = dict(converted_ppocr_det().named_parameters())
    own = dict(backbone.network.named_parameters())
    assert own and all(torch.equal(value, detector[name]) for name, value in own.items())
    scratch = dict(ppocr_backbone(pretrained=False).network.named_parameters())
    assert not any(torch.equal(scratch[name], own[name]) for name in own if name.endswith("weight"))
    assert any("BatchNorm" in name for name in own)  # the stem's batch-norm is reset too


def test_craft_vgg_pyramid_carries_the_official_encoder_weights():
    pytest.importorskip("easyocr_en_models")
    from trainlab.layers.vgg16_bn import VGG16BNPyramid, official_craft_file

    encoder = VGG16BNPyramid(craft_weights="craft_mlt_25k")
    official = torch.load(official_craft_file(), map_location="cpu", weights_only=True)
    assert torch.equal(encoder.body.slice1[0].weight, official["module.basenet.slice1.0.weight"])
    assert [tuple(f.shape[1:]) for f in encoder(torch.zeros(1, 3, 64, 64))] == [(256, 16, 16), (512, 8, 8),
                                                                              (1024, 4, 4), (1024, 2, 2)]


def test_anchors_are_replaced_only_with_the_same_count_per_location():
    net = build_retinanet({"source": "timm", "model_name": "resnet18"}, 1, 128, [[16, 20], [32, 40], [64, 80]],
                          [0.25, 0.5], fpn={"channels": 32})
    before = {k: v.clone() for k, v in net.state_dict().items()}
    set_anchors(net, [[21.4, 25.6], [40, 50], [66, 118]], [0.227, 0.497])
    assert [list(s) for s in net.anchor_generator.sizes] == [[21.4, 25.6], [40.0, 50.0], [66.0, 118.0]]
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match="anchors per location"):
        set_anchors(net, [[20], [40], [80]], [0.25, 0.5])
    with pytest.raises(ValueError, match="model.encoder.source=timm does not take craft"):
        build_retinanet({"source": "timm", "craft": True}, 1, 128, [[16]], [0.5], fpn={"strides": [8]})


def test_plate_strings_are_compared_normalised():
    assert normalise_plate(" ab-12 3\n") == "AB123"
    result = plate_accuracy(["AB123", "XY9", ""], ["ab-123", "XY99", "Q1"])
    # Exact: 1 of 3. CER: 0, 1 deletion of 4 characters, 2 of 2.
    assert result["plate_accuracy"] == pytest.approx(1 / 3)
    assert result["character_error_rate"] == pytest.approx((0 + 1 / 4 + 1) / 3)


def test_rapidocr_reads_a_real_plate(plates_root):
    pytest.importorskip("rapidocr_onnxruntime")
    from trainlab.tasks.plate_detection.alpr import PlateReader
    from trainlab.tasks.plate_detection.data.dataset import read_image
    from trainlab.tasks.plate_detection.data.formats import read_openalpr_file

    record = read_openalpr_file(plates_root / "eu" / "eu1.txt")
    text, score = PlateReader().read_boxes(read_image(record.image_path), record.boxes)[0]
    assert text == record.texts[0] == "M5XSX" and score > 0.5
