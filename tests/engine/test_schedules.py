"""LR schedules: every curve against its closed form, warmup, units, derived lengths, Lightning stepping."""

from __future__ import annotations

import math

import pytest

from tests.engine.tiny_task import PatchData, PixelClassifier, fit
from trainlab.engine.optim import ConfigError, RunLength
from trainlab.engine.schedule_preview import simulate_schedule, steps_per_epoch

LR = 1e-2
ADAM = {"name": "adam", "lr": LR}


def curve(scheduler: dict, steps_per_epoch: int = 1, epochs: int = 20, optimizer: dict = ADAM) -> list[float]:
    run = RunLength(steps_per_epoch=steps_per_epoch, max_epochs=epochs, total_steps=steps_per_epoch * epochs)
    return simulate_schedule(optimizer, scheduler, run)["main"].tolist()


def assert_curve(actual: list[float], expected: list[float]) -> None:
    assert len(actual) == len(expected)
    for index, (a, e) in enumerate(zip(actual, expected)):
        assert a == pytest.approx(e, rel=1e-6, abs=1e-12), f"step {index}: {a} != {e}"


def cosine(t: float, period: float, high: float, low: float) -> float:
    return low + (high - low) * (1 + math.cos(math.pi * t / period)) / 2


def test_cosine_closed_form():
    assert_curve(curve({"name": "cosine", "T_max": 20, "eta_min": 1e-4}),
                 [cosine(t, 20, LR, 1e-4) for t in range(20)])


def test_cosine_restarts_closed_form_with_eta_min_factor():
    """SGDR: T_0 = 4, T_mult = 2 -> cycles of 4, 8, 16 epochs; eta_min = 1 % of the LR."""
    actual = curve({"name": "cosine_restarts", "T_0": 4, "T_mult": 2, "eta_min_factor": 0.01}, epochs=28)
    expected = []
    for epoch in range(28):
        start, length = 0, 4
        while epoch >= start + length:
            start, length = start + length, length * 2
        expected.append(cosine(epoch - start, length, LR, 0.01 * LR))
    assert_curve(actual, expected)
    assert actual[4] == pytest.approx(LR) and actual[12] == pytest.approx(LR)  # the restarts


def test_step_and_multistep_closed_form():
    assert_curve(curve({"name": "step", "step_size": 3, "gamma": 0.5}, epochs=10),
                 [LR * 0.5 ** (t // 3) for t in range(10)])
    assert_curve(curve({"name": "multistep", "milestones": [2, 5], "gamma": 0.1}, epochs=8),
                 [LR * 0.1 ** sum(t >= m for m in (2, 5)) for t in range(8)])


def test_poly_derives_its_length_from_the_run():
    actual = curve({"name": "poly", "power": 0.9, "total_iters": None}, epochs=10)
    assert_curve(actual, [LR * (1 - t / 10) ** 0.9 for t in range(10)])


def test_onecycle_is_per_step_and_spans_the_run():
    """Smith & Topin 2018 as torch implements it (cos annealing, two phases)."""
    spe, epochs = 5, 4
    total = spe * epochs
    actual = curve({"name": "onecycle", "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4}, spe, epochs)
    initial, final = LR / 25.0, LR / 25.0 / 1e4
    up = 0.3 * total - 1
    expected = []
    for t in range(total):
        if t <= up:
            expected.append(initial + (LR - initial) * (1 - math.cos(math.pi * t / up)) / 2)
        else:
            expected.append(final + (LR - final) * (1 + math.cos(math.pi * (t - up) / (total - 1 - up))) / 2)
    assert_curve(actual, expected)
    assert max(actual) == pytest.approx(LR) and actual[-1] == pytest.approx(final)


def test_cyclic_triangular_closed_form():
    """Smith 2017, eq. in Sec. 3.1: lr = base + (max - base) * max(0, 1 - |t / step_size - 2 cycle + 1|)."""
    actual = curve({"name": "cyclic", "max_lr": 0.05, "step_size_up": 3, "mode": "triangular",
                    "cycle_momentum": False}, epochs=14)
    expected = []
    for t in range(14):
        cycle = math.floor(1 + t / 6)
        x = abs(t / 3 - 2 * cycle + 1)
        expected.append(LR + (0.05 - LR) * max(0.0, 1 - x))
    assert_curve(actual, expected)


@pytest.mark.parametrize("start", [0.1, 0.25])
def test_warmup_starts_at_the_configured_fraction_then_follows_the_schedule(start):
    actual = curve({"name": "cosine", "T_max": 8, "eta_min": 0.0, "warmup": 2, "warmup_start_factor": start}, epochs=10)
    assert actual[0] == pytest.approx(start * LR)
    assert actual[1] == pytest.approx(start * LR + (1 - start) * LR / 2)
    assert_curve(actual[2:], [cosine(t, 8, LR, 0.0) for t in range(8)])


def test_warmup_in_steps_makes_an_epoch_schedule_per_step():
    """3 warmup steps, then a 2-epoch step decay counted in steps (4 steps per epoch)."""
    actual = curve({"name": "step", "interval": "epoch", "step_size": 2, "gamma": 0.1, "warmup": 3,
                    "warmup_interval": "step", "warmup_start_factor": 0.4}, steps_per_epoch=4, epochs=6)
    assert actual[:3] == pytest.approx([0.4 * LR, 0.6 * LR, 0.8 * LR])
    assert_curve(actual[3:], [LR * 0.1 ** (t // 8) for t in range(21)])


def test_warmup_in_epochs_of_a_per_step_schedule():
    actual = curve({"name": "cosine", "interval": "step", "T_max": None, "eta_min": 0.0, "warmup": 1,
                    "warmup_interval": "epoch", "warmup_start_factor": 0.5}, steps_per_epoch=4, epochs=3)
    assert actual[:4] == pytest.approx([0.5 * LR, 0.625 * LR, 0.75 * LR, 0.875 * LR])
    assert_curve(actual[4:], [cosine(t, 8, LR, 0.0) for t in range(8)])  # T_max: the 8 steps left


def test_scalar_peak_lrs_keep_the_encoder_multiplier():
    optimizer = {"name": "sgd", "lr": LR, "encoder_lr_mult": 0.1}
    run = RunLength(steps_per_epoch=10, max_epochs=1, total_steps=10)
    frame = simulate_schedule(optimizer, {"name": "onecycle", "max_lr": 0.05}, run)
    assert frame["main"].max() == pytest.approx(0.05) and frame["encoder"].max() == pytest.approx(0.005)


def test_clear_config_errors():
    with pytest.raises(ConfigError, match="unknown scheduler.name 'cosinus'; valid: none, cosine, cosine_restarts"):
        curve({"name": "cosinus"})
    with pytest.raises(ConfigError, match="unknown scheduler option.*T_maxx.*the 'cosine' schedule takes: .*T_max"):
        curve({"name": "cosine", "T_maxx": 3})
    with pytest.raises(ConfigError, match="its own warm-up phase"):
        curve({"name": "onecycle", "warmup": 2})
    with pytest.raises(ConfigError, match="needs scheduler.max_lr"):
        curve({"name": "cyclic"})
    with pytest.raises(ConfigError, match="interval must be 'epoch' or 'step'"):
        curve({"name": "cosine", "interval": "batch"})
    # A key of another schedule (left by an experiment) is ignored, not an error.
    assert len(curve({"name": "step", "step_size": 5, "T_max": 7}, epochs=3)) == 3


def test_steps_per_epoch_counts_like_lightning():
    assert steps_per_epoch(10, accumulate_grad_batches=3) == 4
    assert steps_per_epoch(10, limit_train_batches=4) == 4 and steps_per_epoch(10, limit_train_batches=0.5) == 5
    with pytest.raises(ValueError, match="no batch"):
        steps_per_epoch(0)


def test_lightning_steps_a_onecycle_per_step_with_the_derived_length(mini_root, tmp_path):
    """A real fit: total_steps comes from the trainer, the LR moves every optimizer step and
    equals the preview curve (5 steps per epoch x 2 epochs, accumulation 2)."""
    from lightning.pytorch.callbacks import Callback

    class Record(Callback):
        lrs: list[float] = []

        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            self.lrs.append(optimizer.param_groups[0]["lr"])

    scheduler = {"name": "onecycle", "pct_start": 0.3}
    module = PixelClassifier(optimizer=ADAM, scheduler=scheduler)
    record = Record()
    fit(module, PatchData(mini_root, batch_size=1, train_count=10, val_count=1), tmp_path, [record], max_epochs=2,
        accumulate_grad_batches=2, limit_val_batches=0)
    assert module.schedule_record["total_steps"] == 10 and module.schedule_record["interval"] == "step"
    assert_curve(record.lrs, curve(scheduler, steps_per_epoch=5, epochs=2))
