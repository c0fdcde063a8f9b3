"""Model switches: gradient checkpointing, torch.compile, dropout rates, optimizer parameter groups."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.engine.model_options import (
    compile_module,
    enable_grad_checkpointing,
    set_dropout,
)
from trainlab.engine.optim import ConfigError, build_optimizer
from trainlab.tasks.text_detection.module import TextDetectionModule


def small_detector(**kwargs) -> TextDetectionModule:
    """A small DBNet with the engine's model options applied, as Lightning applies them before a fit."""
    torch.manual_seed(0)
    model = TextDetectionModule(neck={"inner_channels": 16}, tune_postprocess={"enabled": False}, **kwargs)
    model.configure_model()
    return model


def test_grad_checkpointing_recomputes_the_encoder_and_keeps_the_gradients():
    images = torch.randn(2, 3, 64, 64)
    plain, checkpointed = small_detector(), small_detector(grad_checkpointing=True)
    assert checkpointed.model_options_record["grad_checkpointing"] == ["body"]  # the timm features_only model
    calls = []
    checkpointed.net.encoder.body.layer2.register_forward_pre_hook(lambda *args: calls.append(1))
    for model in (plain, checkpointed):
        model.eval()  # BatchNorm in eval mode: recomputation must not update running statistics twice
        model(images)["prob_map"].sum().backward()
    assert len(calls) == 2  # forward, then recomputed during backward
    for (name, a), (_, b) in zip(plain.named_parameters(), checkpointed.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=name)
    with pytest.raises(ConfigError, match="no timm model with set_grad_checkpointing"):
        enable_grad_checkpointing(nn.Sequential(nn.Linear(2, 2)))


def test_compile_switch_keeps_state_dict_keys_and_outputs():
    eager = small_detector(channels_last=False)
    compiled = small_detector(channels_last=False, compile={"enabled": True, "backend": "eager"})
    assert compiled.model_options_record["compiled"] is True
    assert compiled.state_dict().keys() == eager.state_dict().keys()
    images = torch.randn(1, 3, 64, 64)
    eager.eval(), compiled.eval()
    torch.testing.assert_close(compiled(images)["prob_map"], eager(images)["prob_map"])
    assert compile_module(nn.Linear(2, 2), {"enabled": False}) is False
    with pytest.raises(ConfigError, match="compile: unknown option.*modes"):
        compile_module(nn.Linear(2, 2), {"enabled": True, "modes": "max-autotune"})


def test_feature_dropout_is_the_dropout_layer_schedules_drive():
    model = small_detector(feature_dropout=0.0)
    images = torch.randn(1, 3, 64, 64)
    model.train()
    reference = model(images)["prob_map"]
    assert set_dropout(model, 0.5) == 1 and model.feature_dropout.p == 0.5
    torch.manual_seed(1)
    assert not torch.allclose(model(images)["prob_map"], reference)
    model.eval()
    torch.testing.assert_close(model(images)["prob_map"], model(images)["prob_map"])
    with pytest.raises(ValueError, match=r"dropout p must be in \[0, 1\)"):
        set_dropout(model, 1.0)


def test_drop_path_rates_keep_their_depth_profile():
    model = small_detector(encoder={"model_name": "resnet18", "drop_path_rate": 0.2})
    layers = [m for m in model.modules() if type(m).__name__ == "DropPath"]
    profile = {m: m.drop_prob for m in layers}
    assert len(set(profile.values())) > 1  # timm raises the rate with depth
    set_dropout(model, 0.0, profile, drop_path_scale=0.5)
    assert all(m.drop_prob == pytest.approx(rate * 0.5) for m, rate in profile.items())


def test_parameter_groups_of_the_detector():
    """No decay on norms and biases; the encoder multiplier reaches exactly the encoder's parameters."""
    model = small_detector()
    optimizer = build_optimizer(model, {"name": "adamw", "lr": 1e-3, "weight_decay": 0.05, "encoder_lr_mult": 0.1,
                                        "betas": [0.9, 0.999]})
    groups = {g["name"]: g for g in optimizer.param_groups}
    names = {id(p): n for n, p in model.named_parameters()}
    assert groups["encoder"]["lr"] == pytest.approx(1e-4) and groups["main"]["lr"] == pytest.approx(1e-3)
    assert all(names[id(p)].startswith("net.encoder.") for g in ("encoder", "encoder_no_decay") for p in groups[g]["params"])
    assert not any(names[id(p)].startswith("net.encoder.") for g in ("main", "main_no_decay") for p in groups[g]["params"])
    for group in groups.values():
        for param in group["params"]:
            assert (group["weight_decay"] == 0.0) == (param.ndim <= 1), names[id(param)]
    assert sum(len(g["params"]) for g in groups.values()) == len(list(model.parameters()))
    assert optimizer.defaults["betas"] == (0.9, 0.999)
    sgd = build_optimizer(model, {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True})
    assert sgd.defaults["momentum"] == 0.9 and sgd.defaults["nesterov"] is True
