"""Optimizers and schedules from config: names, parameter groups, warmup, clear errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trainlab.engine.optim import (
    ConfigError,
    build_optimizer,
    build_scheduler,
    parameter_groups,
)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Module()
        self.net.encoder = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.net.head = nn.Linear(4, 2)


def test_parameter_groups_no_decay_and_encoder_multiplier():
    groups = {g["name"]: g for g in parameter_groups(Tiny(), lr=1e-3, weight_decay=0.1, encoder_lr_mult=0.1)}
    assert set(groups) == {"encoder", "encoder_no_decay", "main", "main_no_decay"}
    assert groups["encoder"]["lr"] == pytest.approx(1e-4) and groups["main"]["lr"] == 1e-3
    assert groups["encoder"]["weight_decay"] == 0.1 and groups["encoder_no_decay"]["weight_decay"] == 0.0
    # Conv weight decays; its BN weight and bias and the conv... there is no conv bias in decay.
    assert [p.shape for p in groups["encoder"]["params"]] == [torch.Size([4, 3, 3, 3])]
    assert len(groups["encoder_no_decay"]["params"]) == 3  # conv bias, BN weight, BN bias


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown optimizer.name 'adamx'; valid: adam, adamw, sgd"):
        build_optimizer(Tiny(), {"name": "adamx"})
    optimizer = build_optimizer(Tiny(), {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True})
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["nesterov"]
    with pytest.raises(ConfigError, match="unknown scheduler.name 'cosinus'; valid: none, cosine"):
        build_scheduler(optimizer, {"name": "cosinus"})


def test_cosine_with_linear_warmup_matches_closed_form():
    optimizer = build_optimizer(Tiny(), {"name": "adam", "lr": 1e-3})
    config = {"name": "cosine", "interval": "epoch", "T_max": 10, "eta_min": 1e-5, "warmup": 2, "warmup_start_factor": 0.1}
    scheduler = build_scheduler(optimizer, config)["scheduler"]
    lrs = []
    for _ in range(12):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(1e-4)  # warmup starts at the configured fraction
    assert lrs[1] == pytest.approx(1e-4 + (1e-3 - 1e-4) / 2)
    for epoch in range(2, 12):
        t = epoch - 2
        assert lrs[epoch] == pytest.approx(1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * t / 10)) / 2, rel=1e-6)
