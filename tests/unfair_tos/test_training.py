"""Real fine-tuning of all-MiniLM-L6-v2 on the embedded slice: the loss falls, thresholds come from
validation only, and the recipe runs end to end (checkpoint, thresholds, predict)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import open_dict

from trainlab.engine.checkpoint import load_checkpoint, load_module
from trainlab.engine.optim import ConfigError, build_optimizer
from trainlab.engine.train import train
from trainlab.tasks.unfair_tos.data import UnfairTosDataModule
from trainlab.tasks.unfair_tos.metrics import apply_thresholds, classification_report, tune_thresholds_for_macro_f1
from trainlab.tasks.unfair_tos.module import UnfairTosModule, layer_depth

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tos_mini):
    module = UnfairTosDataModule(str(tos_mini), fold=0, val_documents=1, max_sequence_length=48, negative_ratio=1.0,
                                 batch_size=8, eval_batch_size=64, seed=1)
    module.setup()
    return module


def test_fine_tuning_lowers_the_loss_and_thresholds_come_from_validation_only(data, one_thread):
    torch.manual_seed(0)
    model = UnfairTosModule(labels="lexglue", optimizer={"name": "adamw", "lr": 1e-4})
    loader = data.train_dataloader()
    batches = list(loader)[:6]

    def mean_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(np.mean([model.loss(model(b), b["labels"]).item() for b in batches]))

    before = mean_loss()
    optimizer = build_optimizer(model, model.optimizer_config)
    model.train()
    for _ in range(2):
        for batch in batches:
            optimizer.zero_grad()
            model.loss(model(batch), batch["labels"]).backward()
            optimizer.step()
    after = mean_loss()
    assert after < 0.8 * before, (before, after)

    # Thresholds: those that maximise macro-F1 (fair column included) on the validation document's
    # scores, starting from the configured 0.5; never below it there.
    tuned = model.after_fit(data)
    val_scores = model.predict_scores(data.eval_dataloader("val"))
    val_gold = data.dataset("val").labels
    assert model.thresholds == tune_thresholds_for_macro_f1(val_gold, val_scores, model.names, [0.5] * 8)
    before = classification_report(val_gold, apply_thresholds(val_scores, [0.5] * 8), model.names)
    after = classification_report(val_gold, apply_thresholds(val_scores, model.thresholds), model.names)
    assert after["macro_f1"] >= before["macro_f1"] and tuned["val_macro_f1_before"] == pytest.approx(before["macro_f1"])
    assert tuned["val_macro_f1_after"] == pytest.approx(after["macro_f1"])
    # Test labels play no part: flipping them all changes nothing.
    test = data.dataset("test")
    saved = test.labels.copy()
    test.labels[:] = 1 - test.labels
    try:
        model.thresholds = [0.5] * 8
        assert model.after_fit(data)["thresholds"] == tuned["thresholds"]
    finally:
        test.labels[:] = saved


def test_layerwise_decay_gives_lower_layers_smaller_learning_rates(one_thread):
    model = UnfairTosModule(labels="binary", layerwise_lr_decay=0.5, optimizer={"name": "adamw", "lr": 1e-4,
                                                                                 "weight_decay": 0.01},
                            scheduler={"name": "none"})
    optimizer = model.configure_optimizers()
    by_name = {g["name"]: g for g in optimizer.param_groups}
    assert by_name["main_depth7"]["lr"] == pytest.approx(1e-4)  # head: base LR
    assert by_name["main_depth0"]["lr"] == pytest.approx(1e-4 * 0.5 ** 7)  # embeddings
    assert by_name["main_no_decay_depth3"]["weight_decay"] == 0.0 and by_name["main_depth3"]["weight_decay"] == 0.01
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    assert layer_depth("net.encoder.encoder.layer.5.output.dense.weight", 6) == 6


def test_the_recipe_runs_end_to_end_and_the_checkpoint_predicts(tmp_path, one_thread):
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[
            "experiment=unfair_tos_minilm_mini", "trainer.accelerator=cpu", "trainer.max_epochs=1",
            "+trainer.limit_train_batches=3", "data.max_sequence_length=48", "data.batch_size=8",
            "~callbacks.rich_progress_bar", "logger=csv", "data.labels=binary"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    metrics = train(cfg)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["task"] == "unfair_tos"
    assert manifest["data"]["fold"] == 0 and manifest["data"]["documents"]["test"] == ["Dropbox"]
    assert {"test/macro_f1", "test/binary_f1", "test/f1_unfair", "val/macro_f1"} <= set(metrics)
    best = tmp_path / "run" / manifest["best"]["path"]
    chosen = manifest["tuned"]["thresholds"]["unfair"]
    assert load_checkpoint(best)["trainlab"]["thresholds"] == [chosen]

    model = load_module(best)
    assert model.thresholds == [chosen]
    document = tmp_path / "terms.txt"
    document.write_text("We may terminate your account at any time without notice.\n\nYou can contact us by email.\n")
    summary = model.write_predictions(document, tmp_path / "predict", {"draw": True})
    assert summary["documents"] == 1 and summary["sentences"] == 2
    rows = (tmp_path / "predict" / "terms.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:3] == ["line", "labels", "unfair"] and [r.split("\t")[0] for r in rows[1:]] == ["1", "3"]
    assert "We may terminate your account" in (tmp_path / "predict" / "terms.html").read_text()


@pytest.mark.parametrize("labels", ["lexglue", "binary"])
def test_prior_head_bias_starts_the_scores_at_the_training_label_shares(tos_mini, labels, one_thread):
    data = UnfairTosDataModule(str(tos_mini), fold=0, val_documents=1, labels=labels, max_sequence_length=32,
                               negative_ratio=1.0, batch_size=8, seed=1)
    data.setup()
    prior = data.label_prior()
    torch.manual_seed(0)
    model = UnfairTosModule(labels=labels, head_bias="prior")
    model._trainer = type("Trainer", (), {"datamodule": data})()  # what setup() reads; no fit needed
    model.setup("fit")
    if labels == "lexglue":
        assert torch.sigmoid(model.net.head.bias).detach().numpy() == pytest.approx(prior, abs=1e-5)
    else:
        assert torch.softmax(model.net.head.bias, 0)[1:].detach().numpy() == pytest.approx(prior, abs=1e-5)
    model.eval()
    batch = next(iter(data.eval_dataloader("train")))
    with torch.no_grad():
        assert np.abs(model.scores(model(batch)).mean(0).numpy() - prior).max() < 0.1
    if labels == "lexglue":  # a zero bias starts every score near 0.5, far above shares of 1 to 13 %
        zero = UnfairTosModule(labels=labels).eval()
        with torch.no_grad():
            assert np.abs(zero.scores(zero(batch)).mean(0).numpy() - prior).max() > 0.3
    with pytest.raises(ConfigError, match="head_bias"):
        UnfairTosModule(labels=labels, head_bias="ones")
