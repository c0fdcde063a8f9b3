"""Gradient handling, regularization and safety nets on a real (tiny) task, through real Lightning fits."""

from __future__ import annotations

import copy

import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from tests.engine.tiny_task import PatchData, PixelClassifier, fit
from trainlab.engine.callbacks import (
    EMA,
    AdaptiveDropout,
    LateDropout,
    NonFiniteGuard,
    NonFiniteLossError,
)
from trainlab.engine.checkpoint import AtomicCheckpointIO, load_checkpoint, load_module


class GradsAtFirstStep(Callback):
    """Gradients seen by the first optimizer step (after accumulation, before clipping)."""

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if not hasattr(self, "grads"):
            self.grads = {n: p.grad.detach().clone() for n, p in pl_module.named_parameters()}


class WeightsAfterEachStep(Callback):
    def __init__(self):
        self.weights: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.weights.append({k: v.detach().clone() for k, v in pl_module.state_dict().items()})


def test_accumulating_two_batches_gives_the_gradients_of_one_double_batch(mini_root, tmp_path):
    """accumulate_grad_batches=2 over batches of 2 = the gradient of the mean loss over the 4 images."""
    torch.manual_seed(0)
    module = PixelClassifier()
    initial = copy.deepcopy(module.net)
    capture = GradsAtFirstStep()
    fit(module, PatchData(mini_root, batch_size=2, train_count=4, val_count=1), tmp_path, [capture],
        accumulate_grad_batches=2, limit_val_batches=0)
    reference = PixelClassifier()
    reference.net = initial
    both = {k: torch.cat([b[k] for b in module.seen_batches[:2]]) for k in ("image", "mask")}
    reference.loss(both).backward()
    for name, param in reference.named_parameters():
        torch.testing.assert_close(capture.grads[name], param.grad, rtol=1e-5, atol=1e-7)
    # And not the gradient of the first batch alone (the test can tell them apart).
    reference.zero_grad()
    reference.loss(module.seen_batches[0]).backward()
    assert not torch.allclose(capture.grads["net.0.weight"], reference.net[0].weight.grad, rtol=1e-3)


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_gradient_clipping(mini_root, tmp_path, algorithm):
    """Plain SGD with lr 1: the update equals minus the clipped gradient."""
    torch.manual_seed(0)
    module = PixelClassifier(optimizer={"name": "sgd", "lr": 1.0})
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    capture = GradsAtFirstStep()
    clip = 0.01
    fit(module, PatchData(mini_root, batch_size=2, train_count=2, val_count=1), tmp_path, [capture],
        limit_val_batches=0, gradient_clip_val=clip, gradient_clip_algorithm=algorithm)
    raw = capture.grads
    if algorithm == "norm":
        total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in raw.values()]))
        assert total > clip  # clipping is active
        expected = {n: g * clip / (total + 1e-6) for n, g in raw.items()}
    else:
        assert max(g.abs().max() for g in raw.values()) > clip
        expected = {n: g.clamp(-clip, clip) for n, g in raw.items()}
    for name, param in module.named_parameters():
        torch.testing.assert_close(before[name] - param.detach(), expected[name], rtol=1e-4, atol=1e-7)


def test_injected_nan_is_caught_and_skipped(mini_root, tmp_path):
    """A NaN loss at step 2: the step changes nothing (weights, Adam moments, BatchNorm statistics),
    training goes on, and the skip is counted."""
    torch.manual_seed(0)
    module = PixelClassifier(norm=True, nan_at_steps=(2,), optimizer={"name": "adam", "lr": 1e-2})
    weights, guard = WeightsAfterEachStep(), NonFiniteGuard(max_consecutive=3)
    trainer = fit(module, PatchData(mini_root, batch_size=1, train_count=5, val_count=1), tmp_path, [guard, weights],
                  limit_val_batches=0)
    assert guard.manifest_summary() == {"skipped_steps": 1, "skipped_at": [2], "max_consecutive": 3}
    step1, step2, step3 = weights.weights[1], weights.weights[2], weights.weights[3]
    for key in step1:
        assert torch.equal(step1[key], step2[key]), key  # the NaN step was a no-op, buffers included
        assert torch.isfinite(step3[key].float()).all(), key
    assert not torch.equal(step2["net.0.weight"], step3["net.0.weight"])  # training continued
    adam_steps = {int(s["step"]) for s in trainer.optimizers[0].state.values()}
    assert adam_steps == {4}  # 5 batches, one skipped


def test_consecutive_nans_stop_the_run_and_keep_the_last_good_checkpoint(mini_root, tmp_path):
    torch.manual_seed(0)
    module = PixelClassifier(nan_at_steps=(3, 4, 5), optimizer={"name": "adam", "lr": 1e-2})
    last = ModelCheckpoint(dirpath=tmp_path / "checkpoints", filename="last", monitor=None, every_n_epochs=1)
    with pytest.raises(NonFiniteLossError, match=r"3 consecutive optimizer steps had a non-finite loss or gradient "
                                                 r"\(last at epoch 1, global step 5\).*checkpoints already written"):
        fit(module, PatchData(mini_root, batch_size=1, train_count=3, val_count=1), tmp_path,
            [NonFiniteGuard(max_consecutive=3), last], max_epochs=3, enable_checkpointing=True,
            plugins=[AtomicCheckpointIO()], limit_val_batches=0)
    saved = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert saved["epoch"] == 0 and saved["global_step"] == 3  # written at the end of epoch 0, never after
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())
    assert torch.isfinite(module.net[0].weight).all()


def test_ema_weights_follow_the_closed_form_validate_and_are_saved(mini_root, tmp_path):
    """EMA(decay 0.5): ema_1 = w_1, ema_k = 0.5 ema_{k-1} + 0.5 w_k. Validation runs on the EMA
    weights; checkpoints hold them as ``state_dict`` and the raw weights as ``current_model_state``."""
    torch.manual_seed(0)
    module = PixelClassifier(norm=True, optimizer={"name": "sgd", "lr": 0.5})
    data = PatchData(mini_root, batch_size=2, train_count=8, val_count=2)
    weights, ema = WeightsAfterEachStep(), EMA(decay=0.5)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "checkpoints", filename="last", monitor=None)
    trainer = fit(module, data, tmp_path, [weights, ema, checkpoint], enable_checkpointing=True)
    expected = None
    for step in weights.weights:
        expected = {k: v.clone() for k, v in step.items()} if expected is None else {
            k: 0.5 * expected[k] + 0.5 * v if v.is_floating_point() else v for k, v in step.items()}
    averaged = ema.averaged_module().state_dict()
    raw = weights.weights[-1]
    assert ema.manifest_summary()["updates"] == 4
    assert not torch.allclose(averaged["net.0.weight"], raw["net.0.weight"])
    for key, value in expected.items():
        if value.is_floating_point():
            torch.testing.assert_close(averaged[key], value, rtol=1e-5, atol=1e-7)
    saved = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    torch.testing.assert_close(saved["state_dict"]["net.0.weight"], averaged["net.0.weight"])
    torch.testing.assert_close(saved["current_model_state"]["net.0.weight"], raw["net.0.weight"])
    # The logged validation loss is the EMA model's; the saved EMA weights load and evaluate.
    evaluated = load_module(tmp_path / "checkpoints" / "last.ckpt").eval()
    val = data.val_set
    with torch.no_grad():
        losses = [evaluated.loss({k: v[None] for k, v in val[i].items()}) for i in range(len(val))]
    assert float(trainer.callback_metrics["val/loss"]) == pytest.approx(float(torch.stack(losses).mean()), rel=1e-5)


def test_adaptive_and_late_dropout_set_every_dropout_layer(mini_root, tmp_path):
    class Rates(Callback):
        def __init__(self):
            self.rates = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.rates.append((trainer.current_epoch, trainer.global_step, pl_module.net[3].p))

    adaptive, rates = AdaptiveDropout(initial=0.1, final=0.5, epochs=2), Rates()
    fit(PixelClassifier(dropout=0.9), PatchData(mini_root, batch_size=2, train_count=2, val_count=1), tmp_path,
        [adaptive, rates], max_epochs=4, limit_val_batches=0)
    assert [round(p, 6) for _, _, p in rates.rates] == [0.1, 0.3, 0.5, 0.5]
    late, rates = LateDropout(p=0.8, start_step=3), Rates()
    fit(PixelClassifier(dropout=0.9), PatchData(mini_root, batch_size=1, train_count=5, val_count=1), tmp_path,
        [late, rates], limit_val_batches=0)
    assert [p for _, _, p in rates.rates] == [0.0, 0.0, 0.0, 0.8, 0.8]
    assert late.manifest_summary() == {"p": 0.8, "dropout_layers": 1, "drop_path_layers": 0}


def test_bf16_mixed_precision_on_cpu(mini_root, tmp_path):
    class Dtype(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            with torch.autocast("cpu", dtype=torch.bfloat16):  # what Lightning's plugin enters for the step
                self.dtype = pl_module(batch["image"]).dtype

    module, dtype = PixelClassifier(), Dtype()
    trainer = fit(module, PatchData(mini_root, batch_size=2, train_count=4, val_count=1), tmp_path, [dtype],
                  precision="bf16-mixed")
    assert str(trainer.precision) == "bf16-mixed" and dtype.dtype == torch.bfloat16
    assert module.net[0].weight.dtype == torch.float32 and torch.isfinite(trainer.callback_metrics["val/loss"])
