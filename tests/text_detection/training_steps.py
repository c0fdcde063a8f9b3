"""Shared by the architecture tests: a few real optimiser steps on one batch of receipt crops."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trainlab.engine.optim import build_optimizer
from trainlab.tasks.text_detection.data.dataset import TextDetectionDataset, collate
from trainlab.tasks.text_detection.module import TextDetectionModule
from trainlab.tasks.text_detection.types import AnnotatedImage


def losses_over_steps(model: TextDetectionModule, records: Sequence[AnnotatedImage], crop: int,
                      resize: Mapping[str, Any], steps: int, lr: float) -> list[float]:
    """Train ``model`` for ``steps`` Adam steps on one batch (one augmented crop per record); the loss of each step."""
    dataset = TextDetectionDataset(records, True, crop, resize=resize, augment={"crop": {}}, target_family=model.family.name)
    batch = collate([dataset[i] for i in range(len(records))])
    model.train()
    optimizer = build_optimizer(model, {"name": "adam", "lr": lr})
    losses = []
    for _ in range(steps):
        loss = model.loss_fn(model(batch["image"]), batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
