"""DBNet building blocks: timm encoders by name, output shapes, the DB loss terms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trainlab.layers.encoder import EncoderError, TimmEncoder
from trainlab.tasks.text_detection.losses.db_loss import (
    DBLoss,
    balanced_bce_ohem,
    dice_loss,
    masked_l1,
)
from trainlab.tasks.text_detection.models.registry import (
    build_detector,
    list_architectures,
)


@pytest.mark.parametrize("name", ["resnet18", "convnext_tiny", "efficientnet_b3"])
def test_any_timm_features_only_encoder(name):
    model = build_detector("dbnet", encoder={"model_name": name}, neck={"inner_channels": 64}).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 128, 96), with_threshold=True)
    assert set(out) == {"prob_map", "thresh_map", "binary_map"}
    for value in out.values():
        assert value.shape == (1, 1, 128, 96) and 0 <= value.min() and value.max() <= 1
    # The approximate binary map is the step function of P - T with k = 50.
    torch.testing.assert_close(out["binary_map"], torch.sigmoid(50 * (out["prob_map"] - out["thresh_map"])))


def test_hrnet_w44_features_only_parameter_count():
    encoder = TimmEncoder("hrnet_w44")
    assert sum(p.numel() for p in encoder.parameters()) == 56_714_160
    assert encoder.out_channels == [128, 256, 512, 1024]


def test_encoder_errors_are_clear(tmp_path):
    with pytest.raises(EncoderError, match="unknown timm model 'resnet19'; similar names: .*resnet18"):
        TimmEncoder("resnet19")
    with pytest.raises(EncoderError, match="encoder checkpoint not found"):
        TimmEncoder("resnet18", checkpoint=str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="unknown model.architecture_name 'dbnett'; valid: .*dbnet"):
        build_detector("dbnett")
    assert "dbnet" in list_architectures()


def test_encoder_loads_a_local_checkpoint(tmp_path):
    source = TimmEncoder("resnet18")
    path = tmp_path / "r18.pth"
    torch.save(source.body.state_dict(), path)
    loaded = TimmEncoder("resnet18", checkpoint=str(path))
    for (name, a), (_, b) in zip(source.body.state_dict().items(), loaded.body.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)


def test_ohem_keeps_three_negatives_per_positive():
    pred = torch.full((1, 4, 10), 0.1)
    gt = torch.zeros(1, 4, 10)
    gt[0, 0, :2] = 1  # 2 positives -> 6 hardest negatives
    pred[0, 1, :6] = 0.9  # the hard negatives
    mask = torch.ones_like(gt)
    loss = balanced_bce_ohem(pred, gt, mask)
    positives = -torch.log(torch.tensor(0.1)) * 2
    negatives = -torch.log(torch.tensor(0.1)) * 6
    assert loss.item() == pytest.approx(((positives + negatives) / 8).item(), rel=1e-5)
    # Masked pixels are neither positives nor negatives.
    mask[0, 1, :6] = 0
    easy = balanced_bce_ohem(pred, gt, mask)
    assert easy < loss
    # No positive: no negative is mined either (reference implementation).
    assert balanced_bce_ohem(pred, torch.zeros_like(gt), mask).item() == 0.0


def test_dice_and_masked_l1_reference_values():
    pred = torch.tensor([[[0.8, 0.2, 0.6, 1.0]]])
    gt = torch.tensor([[[1.0, 0.0, 1.0, 0.0]]])
    mask = torch.tensor([[[1.0, 1.0, 1.0, 0.0]]])
    assert dice_loss(pred, gt, mask).item() == pytest.approx(1 - 2 * 1.4 / (1.6 + 2.0), rel=1e-5)
    assert masked_l1(pred, gt, mask).item() == pytest.approx((0.2 + 0.2 + 0.4) / 3, rel=1e-5)


def test_db_loss_weights_and_gradients():
    torch.manual_seed(0)
    outputs = {k: torch.rand(2, 1, 16, 16, requires_grad=True) for k in ("prob_map", "thresh_map", "binary_map")}
    targets = {"prob_map": (torch.rand(2, 16, 16) > 0.7).float(), "prob_mask": torch.ones(2, 16, 16),
               "thresh_map": torch.rand(2, 16, 16) * 0.4 + 0.3, "thresh_mask": torch.ones(2, 16, 16)}
    losses = DBLoss(prob_weight=5, binary_weight=1, thresh_weight=10)(outputs, targets)
    expected = 5 * losses["loss_prob"] + losses["loss_binary"] + 10 * losses["loss_thresh"]
    assert losses["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    losses["loss"].backward()
    assert all(o.grad is not None and o.grad.abs().sum() > 0 for o in outputs.values())
    # Without the training-only maps, only the probability term remains.
    inference = DBLoss()({"prob_map": outputs["prob_map"].detach()}, targets)
    assert set(inference) == {"loss_prob", "loss"}
    assert F.l1_loss(inference["loss"], 5 * inference["loss_prob"]).item() == 0


def test_family_options_reject_typos_and_other_families_keys():
    from trainlab.tasks.text_detection.family import get_family, select_options
    from trainlab.tasks.text_detection.module import TextDetectionModule

    db = get_family("db")
    assert select_options(db, {"shrink_ratio": 0.5, "min_text_size": 2}, "targets") == {"shrink_ratio": 0.5, "min_text_size": 2}
    with pytest.raises(ValueError, match="unknown targets option\\(s\\) edge_score for the db family \\(keys of the craft "
                                         "family"):
        select_options(db, {"shrink_ratio": 0.5, "edge_score": 0.2}, "targets")
    with pytest.raises(ValueError, match="unknown postprocess option\\(s\\) unclip for the db family; it takes: .*unclip_ratio"):
        TextDetectionModule(head={"postprocess": {"unclip": 1.5}})
    with pytest.raises(ValueError, match="unknown tune_postprocess option\\(s\\) text_threshold for the db family"):
        TextDetectionModule(tune_postprocess={"box_thresh": [0.5], "text_threshold": [0.7]})
    model = TextDetectionModule(neck={"inner_channels": 32}, head={"postprocess": {"unclip_ratio": 1.7}},
                                loss={"thresh_weight": 5.0})
    assert model.family.name == "db" and model.postprocess.unclip_ratio == 1.7 and model.loss_fn.thresh_weight == 5.0


def test_postprocess_override_keeps_the_rest_and_rejects_typos():
    from trainlab.tasks.text_detection.module import TextDetectionModule

    model = TextDetectionModule(neck={"inner_channels": 32}, head={"postprocess": {"unclip_ratio": 1.7, "thresh": 0.25}})
    model.override_postprocess({"box_thresh": 0.45})
    assert (model.postprocess.box_thresh, model.postprocess.unclip_ratio, model.postprocess.thresh) == (0.45, 1.7, 0.25)
    with pytest.raises(ValueError, match="unknown postprocess option\\(s\\) box_tresh for the db family; it takes: "
                                         ".*box_thresh"):
        model.override_postprocess({"box_tresh": 0.6})
    with pytest.raises(ValueError, match="text_threshold for the db family \\(keys of the craft family"):
        model.override_postprocess({"text_threshold": 0.9})  # a CRAFT key: not this family's
    assert model.postprocess.box_thresh == 0.45
