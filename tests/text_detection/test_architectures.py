"""Architecture selection by config: DBNet, DBNet++ and CRAFT on any timm encoder, per-family
config sections that reject other families' keys, pretrained encoders offline, and a few real
training steps on receipts."""

from __future__ import annotations

import time

import hydra
import pytest
import timm
import torch
from hydra import compose, initialize_config_module

from tests.text_detection.training_steps import losses_over_steps
from trainlab.layers.encoder import EncoderError, TimmEncoder, cached_pretrained_file
from trainlab.tasks.text_detection.data.icdar_format import read_split
from trainlab.tasks.text_detection.models.asf import AdaptiveScaleFusion
from trainlab.tasks.text_detection.models.registry import (
    build_detector,
    list_architectures,
)
from trainlab.tasks.text_detection.module import TextDetectionModule

NEW_EXPERIMENTS = ["dbnetpp_r50_accuracy", "craft_r50_curved", "dbnet_r18_fast", "craft_zero_shot_sroie",
                   "craft_finetune_sroie"]


def compose_train(*overrides: str):
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def test_asf_weights_each_level_by_its_attention_map():
    torch.manual_seed(0)
    asf = AdaptiveScaleFusion(64, num_levels=4).eval()
    levels = [torch.randn(2, 16, 12, 10) for _ in range(4)]
    weights = asf.attention(levels)
    assert weights.shape == (2, 4, 12, 10) and 0 <= weights.min() and weights.max() <= 1
    expected = torch.cat([weights[:, i : i + 1] * level for i, level in enumerate(levels)], dim=1)
    torch.testing.assert_close(asf(levels), expected)
    # The weights depend on the pixel (spatial attention), not only on the level.
    assert weights[:, 0].std() > 0
    spatial_only = AdaptiveScaleFusion(64, channel_attention=False)
    assert spatial_only.channel_attention is None and spatial_only(levels).shape == (2, 64, 12, 10)
    with pytest.raises(ValueError, match="ASF expects 4 levels, got 3"):
        asf(levels[:3])


@pytest.mark.parametrize("architecture,outputs,scale,encoder", [
    ("dbnet", {"prob_map"}, 1, "resnet18"), ("dbnetpp", {"prob_map"}, 1, "efficientnet_b0"),
    # CRAFT's U-Net over a stride-2..32 encoder and over a stride-4..32 one (upsampled to stride 2).
    ("craft", {"region_map", "affinity_map"}, 2, "resnet18"), ("craft", {"region_map", "affinity_map"}, 2, "convnext_tiny")])
def test_every_architecture_on_timm_encoders(architecture, outputs, scale, encoder):
    sections = {"neck": {"inner_channels": 64}, "head": {"k": 50}} if architecture != "craft" else {}
    model = build_detector(architecture, encoder={"model_name": encoder}, **sections)
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 128, 96))
    assert set(out) == outputs
    assert all(v.shape == (1, 1, 128 // scale, 96 // scale) for v in out.values())
    assert model.encoder.model_name == encoder


def test_architecture_defaults_and_strict_sections():
    assert {"dbnet", "dbnetpp", "craft"} <= set(list_architectures())
    # The paper's VGG16-BN is CRAFT's default encoder; resnet18 is DBNet's.
    assert build_detector("craft", encoder={"model_name": None}).encoder.model_name == "vgg16_bn"
    assert build_detector("dbnetpp", encoder={"model_name": None}).encoder.model_name == "resnet18"
    # Another architecture's key is refused like a typo, with the keys this one takes.
    with pytest.raises(ValueError, match="unknown model.neck option\\(s\\) inner_channels for craft; it takes: none"):
        build_detector("craft", encoder={"model_name": "resnet18"}, neck={"inner_channels": 128})
    with pytest.raises(ValueError, match="unknown model.neck option\\(s\\) channel_attention for dbnet; it takes: "
                                         "inner_channels"):
        build_detector("dbnet", neck={"inner_channels": 64, "channel_attention": True})
    with pytest.raises(ValueError, match="unknown model.neck option\\(s\\) inner_channel for dbnetpp; it takes: "
                                         "channel_attention, inner_channels"):
        build_detector("dbnetpp", neck={"inner_channel": 64})
    with pytest.raises(ValueError, match="unknown model.head option\\(s\\) kk for craft; it takes: none"):
        build_detector("craft", head={"kk": 50})


@pytest.mark.parametrize("model_config,family,keys,experiment", [
    # dbnetpp keeps the default experiment's unclip ratio (1.2, tuned for it on validation).
    ("dbnet", "db", ("thresh", 0.3), "dbnet_sroie_mini"), ("dbnetpp", "db", ("unclip_ratio", 1.2), "dbnet_sroie_mini"),
    # The DB experiments set DB keys (neck width, thresholds): CRAFT comes with a CRAFT experiment.
    ("craft", "craft", ("text_threshold", 0.7), "craft_zero_shot_sroie")])
def test_model_config_switches_architecture_targets_and_decoding(model_config, family, keys, experiment):
    cfg = compose_train(f"experiment={experiment}", f"model=text_detection/{model_config}", "model.pretrained_detector=null",
                        "model.encoder.model_name=resnet18", "model.head.postprocess.use_polygon=true")
    model = hydra.utils.instantiate(cfg.model, optimizer=cfg.optimizer, scheduler=cfg.scheduler, _convert_="all")
    assert model.family.name == family and model.postprocess.use_polygon is True
    assert getattr(model.postprocess, keys[0]) == keys[1]
    # The datamodule learns the target family from the model config (interpolation), at construction.
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    assert datamodule.target_family == family and datamodule.targets == dict(cfg.model.targets)


def test_another_familys_keys_are_rejected_with_the_valid_ones():
    """The architecture name alone cannot switch family (the config holds DB keys), and a CRAFT key
    added to a DBNet config is an error naming the DB keys, not a silent no-op."""
    cfg = compose_train("model.architecture_name=craft")
    with pytest.raises(Exception, match="architecture_name=craft is of the craft family, but this model config is "
                                        "written for the db family .*: model=text_detection/craft"):
        hydra.utils.instantiate(cfg.model, optimizer=cfg.optimizer, scheduler=cfg.scheduler, _convert_="all")
    cfg = compose_train("+model.loss.region_weight=2")
    with pytest.raises(Exception, match="unknown loss option\\(s\\) region_weight for the db family \\(keys of the "
                                         "craft family: .*model=text_detection/craft\\); it takes: binary_weight, "):
        hydra.utils.instantiate(cfg.model, optimizer=cfg.optimizer, scheduler=cfg.scheduler, _convert_="all")
    cfg = compose_train("model=text_detection/craft", "+model.targets.shrink_ratio=0.5")
    with pytest.raises(Exception, match="unknown targets option\\(s\\) shrink_ratio for the craft family"):
        hydra.utils.instantiate(cfg.data, _convert_="all")


@pytest.mark.parametrize("experiment", NEW_EXPERIMENTS)
def test_shipped_experiments_compose(experiment):
    cfg = compose_train(f"experiment={experiment}")
    assert cfg.exp_name == experiment
    if experiment == "dbnetpp_r50_accuracy":
        assert (cfg.model.architecture_name, cfg.model.encoder.model_name) == ("dbnetpp", "resnet50")
    if experiment == "craft_r50_curved":
        assert (cfg.model.architecture_name, cfg.model.encoder.model_name) == ("craft", "resnet50")
        assert cfg.model.head.postprocess.use_polygon is True and cfg.data.polygon_points == "auto"
    if experiment == "dbnet_r18_fast":
        assert (cfg.model.architecture_name, cfg.model.encoder.model_name) == ("dbnet", "resnet18")
        assert (cfg.optimizer.lr, cfg.data.batch_size, cfg.trainer.max_epochs) == (1e-3, 16, 8)
    if experiment.startswith("craft_") and "sroie" in experiment:
        assert cfg.model.pretrained_detector == "craft_mlt_25k" and cfg.model.encoder.model_name is None


def test_pretrained_encoder_offline_fails_fast_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    assert cached_pretrained_file("resnet18") is None
    start = time.monotonic()
    with pytest.raises(EncoderError, match="not in the local cache and the Hugging Face hub is unreachable .*"
                                           "model.encoder.checkpoint=<local"):
        TimmEncoder("resnet18", pretrained=True)
    assert time.monotonic() - start < 10


def test_pretrained_encoder_offline_uses_the_cached_copy(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    # Put "pretrained" weights where timm's download would have left them (torch-hub cache).
    url = timm.models.get_pretrained_cfg("resnet18").url
    cached = tmp_path / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[1]
    cached.parent.mkdir(parents=True)
    torch.manual_seed(1)
    source = timm.create_model("resnet18")
    torch.save(source.state_dict(), cached)
    encoder = TimmEncoder("resnet18", pretrained=True)
    torch.testing.assert_close(encoder.body.state_dict()["conv1.weight"], source.state_dict()["conv1.weight"])


@pytest.mark.parametrize("architecture,encoder", [("dbnet", "resnet18"), ("dbnetpp", "resnet18"), ("craft", "resnet18")])
def test_each_architecture_trains_on_real_receipts(mini_root, architecture, encoder):
    """A few Adam steps on one batch of real receipt crops lower the family's loss."""
    torch.manual_seed(0)
    neck = {"inner_channels": 64} if architecture != "craft" else {}
    model = TextDetectionModule(architecture_name=architecture, encoder={"model_name": encoder}, neck=neck,
                                channels_last=False)
    records = read_split(mini_root / "images" / "train", mini_root / "annotations" / "train")[:2]
    losses = losses_over_steps(model, records, 160, {"size": 320, "max_side": 800}, steps=6, lr=1e-3)
    assert losses[-1] < 0.85 * losses[0], losses
