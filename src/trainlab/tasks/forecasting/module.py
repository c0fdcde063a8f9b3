"""LightningModule of CGM glucose forecasting: the transformer, its baselines and the metric table.

Training minimises the mean squared error of the standardised changes from the last reading
over observed targets only (missing targets are masked out of the loss and every metric).
The glucose mean and standard deviation of the training readings and the ridge baseline's
coefficients are fitted on the training split at the start of fitting and kept as buffers, so
every checkpoint carries them and ``trainlab eval`` needs no training data. Validation logs
``val/rmse`` (mg/dL, all steps; the experiment's optimized metric) and RMSE at 30 and 60 min;
the test loop scores the model and the baselines (persistence, linear extrapolation, ridge) on
the same windows (:mod:`.metrics`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainlab.engine.io import atomic_write_json, atomic_write_text
from trainlab.engine.module import TrainlabModule
from trainlab.tasks.forecasting.baselines import RidgeLags, linear_extrapolation, persistence
from trainlab.tasks.forecasting.data import Windows, make_windows
from trainlab.tasks.forecasting.metrics import headline, horizon_metrics, metric_table
from trainlab.tasks.forecasting.model import GlucoseTransformer
from trainlab.tasks.forecasting.plots import plot_attention, plot_forecasts
from trainlab.tasks.forecasting.series import native_readings, read_subject, sensor_column, to_grid

log = logging.getLogger(__name__)

BASELINES = ("persistence", "linear", "ridge")


class ForecastingModule(TrainlabModule):
    """Glucose forecaster: :class:`~.model.GlucoseTransformer` plus the baselines.

    Args:
        sensor: ``dexcom`` or ``libre`` (gives the cadence; configs pass ``${data.sensor}``).
        sequence_length: History in minutes (``${data.sequence_length}``).
        prediction_horizon: Predicted readings (``${data.prediction_horizon}``).
        network: :class:`~.model.GlucoseTransformer` settings (``patch_size``, ``d_model``, ``nhead``,
            ``num_layers``, ``dim_feedforward``, ``dropout``, ``time_of_day``).
        baselines: ``linear_points`` (slots of the extrapolated line), ``ridge_lags``, ``ridge_alpha``.
        report_minutes: Horizons (minutes) of the headline figures, e.g. ``[30, 60]``.
        report_dir: Where the test loop of ``trainlab train`` writes the metric table and plots
            (configs pass the run folder); ``None``: nowhere (``trainlab eval`` writes its own).
        optimizer, scheduler, channels_last, grad_checkpointing, compile, feature_dropout: the
            engine's sections (:class:`~trainlab.engine.module.TrainlabModule`).

    Batches (:class:`~.data.Windows` fields): ``history``/``history_mask`` ``(B, L)``,
    ``target``/``target_mask`` ``(B, H)``, ``minute_of_day``, ``subject``, ``end_time``, ``index`` ``(B,)``.

    Raises:
        ValueError: an unknown sensor, a history not a multiple of the cadence or of the patch size,
            or report minutes that are not horizon steps.
    """

    def __init__(self, sensor: str = "dexcom", sequence_length: int = 1440, prediction_horizon: int = 12,
                 network: Mapping[str, Any] | None = None, baselines: Mapping[str, Any] | None = None,
                 report_minutes: tuple[int, ...] = (30, 60), report_dir: str | None = None,
                 optimizer: Mapping[str, Any] | None = None, scheduler: Mapping[str, Any] | None = None,
                 channels_last: bool = False, grad_checkpointing: bool = False,
                 compile: Mapping[str, Any] | bool | None = None, feature_dropout: float = 0.0):
        super().__init__(optimizer=optimizer, scheduler=scheduler, channels_last=channels_last,
                         grad_checkpointing=grad_checkpointing, compile=compile, feature_dropout=feature_dropout)
        self.save_hyperparameters()
        _, self.cadence = sensor_column(sensor)
        if sequence_length % self.cadence:
            raise ValueError(f"model.sequence_length={sequence_length} is not a multiple of the {sensor} cadence "
                             f"({self.cadence} min)")
        self.sensor = sensor
        self.history_slots = int(sequence_length) // self.cadence
        self.horizon = int(prediction_horizon)
        self.report_minutes = [int(m) for m in report_minutes]
        bad = [m for m in self.report_minutes if m % self.cadence or not 0 < m // self.cadence <= self.horizon]
        if bad:
            raise ValueError(f"model.report_minutes {bad}: not steps of the {self.horizon}-reading horizon at "
                             f"{self.cadence} min per reading")
        self.report_dir = Path(report_dir) if report_dir else None
        self.net = GlucoseTransformer(self.history_slots, self.horizon, **dict(network or {}))
        config = {"linear_points": 3, "ridge_lags": 48, "ridge_alpha": 1.0, **dict(baselines or {})}
        self.linear_points = int(config["linear_points"])
        self.ridge = RidgeLags(int(config["ridge_lags"]), float(config["ridge_alpha"]))
        self.register_buffer("glucose_mean", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("glucose_std", torch.tensor(1.0, dtype=torch.float64))
        self.register_buffer("ridge_coef", torch.zeros(self.horizon, self.ridge.lags, dtype=torch.float64))
        self.register_buffer("ridge_intercept", torch.zeros(self.horizon, dtype=torch.float64))
        self._outputs: dict[str, list[dict[str, torch.Tensor]]] = {"val": [], "test": []}
        self.last_results: dict[str, dict[str, np.ndarray]] = {}

    @staticmethod
    def hparams_for_loading(hparams: dict[str, Any]) -> dict[str, Any]:
        """Rebuilt modules write no training report (``trainlab eval`` writes its own)."""
        hparams = TrainlabModule.hparams_for_loading(hparams)
        hparams["report_dir"] = None
        return hparams

    # Fitted on the training split -----------------------------------------------------------
    def on_fit_start(self) -> None:
        """Fit the standardisation and the ridge baseline on the training split (never val or test)."""
        datamodule = self.trainer.datamodule
        mean, std = datamodule.glucose_stats()
        self.glucose_mean.fill_(mean)
        self.glucose_std.fill_(max(std, 1e-6))
        train = datamodule.dataset("train").windows
        self.ridge.fit(train.history.numpy(), train.history_mask.numpy(), train.target.numpy(), train.target_mask.numpy())
        self.ridge_coef.copy_(torch.from_numpy(self.ridge.coef))
        self.ridge_intercept.copy_(torch.from_numpy(self.ridge.intercept))
        log.info("standardisation from %d training windows: mean %.2f, std %.2f mg/dL", len(train), mean, std)

    def _ridge(self) -> RidgeLags:
        self.ridge.coef = self.ridge_coef.cpu().numpy()
        self.ridge.intercept = self.ridge_intercept.cpu().numpy()
        return self.ridge

    # Forward ----------------------------------------------------------------------------------
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``(B, H)`` float32 standardised change from each window's last reading."""
        return self.net(*self._inputs(batch))

    def _inputs(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        history, observed = batch["history"], batch["history_mask"]
        mean, std = self.glucose_mean.float(), self.glucose_std.float()
        last = history[:, -1:]
        values = torch.where(observed, (history - mean) / std, torch.zeros_like(history))
        change = torch.where(observed, (history - last) / std, torch.zeros_like(history))
        steps = torch.arange(-history.shape[1] + 1, 1, device=history.device) * self.cadence
        minute = (batch["minute_of_day"][:, None] + steps[None, :]).remainder(1440).to(history.dtype)
        return values, change, observed, minute

    def forecast(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``(B, H)`` float32 forecasts in mg/dL."""
        return batch["history"][:, -1:] + self(batch) * self.glucose_std.float()

    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mean squared error of the standardised change over observed targets."""
        goal = (batch["target"] - batch["history"][:, -1:]) / self.glucose_std.float()
        mask = batch["target_mask"].to(goal.dtype)
        return ((self(batch) - goal) ** 2 * mask).sum() / mask.sum().clamp(min=1.0)

    # Loops -------------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch["index"]))
        return loss

    def _eval_step(self, stage: str, batch: dict[str, torch.Tensor]) -> None:
        forecast = self.forecast(batch)
        self.log(f"{stage}/loss", self.loss(batch), on_epoch=True, batch_size=len(batch["index"]))
        self._outputs[stage].append({"forecast": forecast.detach().cpu(), "index": batch["index"].cpu()})

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("val", batch)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("test", batch)

    def _gather(self, stage: str, windows: Windows) -> dict[str, np.ndarray]:
        outputs, self._outputs[stage] = self._outputs[stage], []
        index = torch.cat([o["index"] for o in outputs]).numpy()
        forecast = np.empty((len(windows), self.horizon), dtype=np.float32)
        forecast[index] = torch.cat([o["forecast"] for o in outputs]).numpy()
        return {"model": forecast}

    def _windows(self, stage: str) -> Windows:
        loader = self.trainer.test_dataloaders if stage == "test" else self.trainer.val_dataloaders
        return loader.dataset.windows

    def on_validation_epoch_end(self) -> None:
        if not self._outputs["val"]:
            return
        windows = self._windows("val")
        forecast = self._gather("val", windows)["model"]
        scores = horizon_metrics(forecast, windows.target.numpy(), windows.target_mask.numpy())
        self.log("val/rmse", scores["all"]["rmse"], prog_bar=True)
        self.log("val/mae", scores["all"]["mae"])
        self.log("val/mard", scores["all"]["mard"])
        for minutes in self.report_minutes:
            self.log(f"val/rmse_{minutes}", scores[f"step_{minutes // self.cadence}"]["rmse"])

    def baseline_forecasts(self, windows: Windows) -> dict[str, np.ndarray]:
        """Persistence, linear extrapolation and ridge forecasts ``(N, H)`` mg/dL of ``windows``."""
        history, mask = windows.history.numpy(), windows.history_mask.numpy()
        return {"persistence": persistence(history, mask, self.horizon),
                "linear": linear_extrapolation(history, mask, self.horizon, self.linear_points),
                "ridge": self._ridge().predict(history, mask)}

    def on_test_epoch_end(self) -> None:
        if not self._outputs["test"]:
            return
        windows = self._windows("test")
        forecasts = {**self._gather("test", windows), **self.baseline_forecasts(windows)}
        self.last_results["test"] = {"windows": windows, "forecasts": forecasts}
        scores = {name: horizon_metrics(f, windows.target.numpy(), windows.target_mask.numpy()) for name, f in forecasts.items()}
        for name, per_step in scores.items():
            prefix = "test/" if name == "model" else f"test/{name}_"
            self.log(f"{prefix}rmse", per_step["all"]["rmse"])
            for minutes in self.report_minutes:
                step = per_step[f"step_{minutes // self.cadence}"]
                for metric in ("rmse", "mae", "mard", "clarke_a", "clarke_ab"):
                    self.log(f"{prefix}{metric}_{minutes}", step[metric])

    def on_test_end(self) -> None:
        """In a training run, write the test report into the run folder (``report_dir``)."""
        if self.report_dir is not None and "test" in self.last_results and self.trainer.is_global_zero:
            self.write_evaluation(self.report_dir, "test", {})

    # Reports and predictions -------------------------------------------------------------------
    def write_evaluation(self, output_dir: Path, split: str, metrics: Mapping[str, float]) -> dict[str, Any]:
        """Write the metric table of the model and the baselines on the scored windows:

        - ``metric_table.csv``: every model x subject ("all" and each id) x horizon step (and all
          steps): RMSE, MAE (mg/dL), MARD (%), Clarke A, B, A+B (%), n;
        - ``metric_table.md``: the overall figures at the report minutes (30 and 60 by default);
        - ``forecasts.png`` (four windows: history, truth, forecasts) and ``attention.png`` (the
          last token's attention over the history of the first of them).

        Returns:
            ``{"split", "windows", "subjects", "steps", "<model>_rmse_30", ...}`` (model: ``model``,
            ``persistence``, ``linear``, ``ridge``).
        """
        output_dir = Path(output_dir)
        result = self.last_results["test"]
        windows, forecasts = result["windows"], result["forecasts"]
        steps = [m // self.cadence for m in self.report_minutes]
        table = metric_table(forecasts, windows.target.numpy(), windows.target_mask.numpy(), windows.subject.numpy(),
                             self.cadence)
        atomic_write_text(output_dir / "metric_table.csv", table.to_csv(index=False, float_format="%.4f"))
        figures = headline(table, self.report_minutes)
        atomic_write_text(output_dir / "metric_table.md", markdown_table(figures, self.report_minutes, split,
                                                                         len(windows), np.unique(windows.subject.numpy())))
        self.draw(output_dir, windows, forecasts)
        summary = {"split": split, "windows": len(windows), "subjects": sorted(int(s) for s in np.unique(windows.subject)),
                   "steps": steps, **{f"{name}_{key}": value for name, values in figures.items() for key, value in values.items()}}
        atomic_write_json(output_dir / "metric_summary.json", summary)
        return summary

    def draw(self, output_dir: Path, windows: Windows, forecasts: Mapping[str, np.ndarray],
             picks: list[int] | None = None) -> list[str]:
        """``forecasts.png`` for ``picks`` (default: four windows evenly spread over the split) and
        ``attention.png`` for the first of them; returns the file names."""
        if not len(windows):
            return []
        picks = picks if picks is not None else sorted({int(i) for i in np.linspace(0, len(windows) - 1, 4)})
        titles = [f"subject {int(windows.subject[i])}, {np.datetime64(int(windows.end_time[i]), 'm')}" for i in picks]
        plot_forecasts(output_dir / "forecasts.png", windows.history[picks].numpy(), windows.history_mask[picks].numpy(),
                       windows.target[picks].numpy(), windows.target_mask[picks].numpy(),
                       {k: v[picks] for k, v in forecasts.items()}, self.cadence, titles)
        batch = {k: v.to(self.device) for k, v in windows.select(picks[:1]).items()}
        weights = self.net.last_token_attention(*self._inputs(batch))[0].cpu().numpy()
        plot_attention(output_dir / "attention.png", windows.history[picks[0]].numpy(),
                       windows.history_mask[picks[0]].numpy(), weights, self.net.patch_size, self.cadence,
                       f"last-layer attention of the last token, {titles[0]}")
        return ["forecasts.png", "attention.png"]

    @torch.no_grad()
    def predict_windows(self, windows: Windows, batch_size: int = 1024) -> np.ndarray:
        """``(N, H)`` float32 model forecasts, mg/dL, in window order."""
        was_training = self.training
        self.eval()
        parts = [self.forecast({k: v.to(self.device) for k, v in windows.select(range(i, min(i + batch_size, len(windows)))).items()}).cpu()
                 for i in range(0, len(windows), batch_size)]
        self.train(was_training)
        return torch.cat(parts).numpy() if parts else np.zeros((0, self.horizon), np.float32)

    def write_predictions(self, inputs: str | os.PathLike, output_dir: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        """Forecast from CGM files in the CGMacros layout (``subject, Timestamp, Libre GL, Dexcom GL``):
        one file or a folder of ``*.csv``/``*.csv.gz``.

        Native readings are recovered as in training; a forecast is made at every ``stride``-th
        reading (default: only the last one of each file) whose window passes the training
        framing (history coverage), also past the end of the file. Writes ``forecasts.csv``
        (subject, time of the last reading, step, minutes ahead, forecast time, model and baseline
        forecasts in mg/dL, the reading at that time when the file has one) and, with ``draw``,
        ``forecasts.png`` and ``attention.png`` for up to four forecasts.

        Args:
            inputs: A CSV file or a folder of them.
            output_dir: Where to write.
            options: ``stride`` (int, slots between forecasts; 0: last reading only), ``draw`` (bool).

        Raises:
            FileNotFoundError: no such file, or a folder without CSV files.
            ValueError: an unknown option; SeriesError: a malformed file (file and line named).
        """
        options = dict(options)
        unknown = sorted(set(options) - {"stride", "draw"})
        if unknown:
            raise ValueError(f"unknown predict option(s) {', '.join(unknown)}; this task takes: draw, stride")
        path = Path(inputs).expanduser()
        files = sorted([*path.glob("*.csv"), *path.glob("*.csv.gz")]) if path.is_dir() else [path]
        if not path.exists() or not files:
            raise FileNotFoundError(f"input {path}: no such file, or a folder without .csv/.csv.gz files")
        stride = int(options.get("stride", 0))
        min_observed = float(self.run_record.get("data", {}).get("min_history_observed", 0.5))
        series = []
        for number, file in enumerate(files):
            frame = read_subject(file)
            subject = int(frame["subject"].iloc[0]) if len(frame) and str(frame["subject"].iloc[0]).isdigit() else number
            series.append(to_grid(native_readings(frame, self.sensor), subject, self.sensor))
        windows = make_windows(series, self.history_slots, self.horizon, max(stride, 1), min_observed,
                               future=True, last_only=stride == 0)
        forecasts = {"model": self.predict_windows(windows), **self.baseline_forecasts(windows)} if len(windows) else {}
        header = ["subject", "last_reading_time", "step", "minutes_ahead", "forecast_time", "forecast",
                  *[f"{name}_forecast" for name in BASELINES], "reading"]
        lines = [",".join(header)]
        for i in range(len(windows)):
            end = np.datetime64(int(windows.end_time[i]), "m")
            for h in range(self.horizon):
                reading = f"{windows.target[i, h]:.1f}" if windows.target_mask[i, h] else ""
                lines.append(",".join([str(int(windows.subject[i])), str(end).replace("T", " "), str(h + 1),
                                       str((h + 1) * self.cadence),
                                       str(end + np.timedelta64((h + 1) * self.cadence, "m")).replace("T", " "),
                                       f"{forecasts['model'][i, h]:.2f}",
                                       *(f"{forecasts[n][i, h]:.2f}" for n in BASELINES), reading]))
        output_dir = Path(output_dir)
        atomic_write_text(output_dir / "forecasts.csv", "\n".join(lines) + "\n")
        drawn = self.draw(output_dir, windows, forecasts, picks=list(range(min(4, len(windows))))) \
            if options.get("draw", True) and len(windows) else []
        return {"files": len(files), "forecasts": len(windows), "written": ["forecasts.csv", *drawn],
                "output": str(output_dir)}


def markdown_table(figures: Mapping[str, Mapping[str, float]], minutes: list[int], split: str, windows: int,
                   subjects: np.ndarray) -> str:
    """The headline table: one row per model and horizon, RMSE, MAE, MARD, Clarke A and A+B."""
    lines = [f"Split {split}: {windows} windows of subjects {', '.join(str(int(s)) for s in subjects)}.", "",
             "| model | horizon (min) | RMSE (mg/dL) | MAE (mg/dL) | MARD (%) | Clarke A (%) | Clarke A+B (%) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for m in minutes:
        for name, values in figures.items():
            lines.append(f"| {name} | {m} | {values[f'rmse_{m}']:.2f} | {values[f'mae_{m}']:.2f} | "
                         f"{values[f'mard_{m}']:.2f} | {values[f'clarke_a_{m}']:.2f} | {values[f'clarke_ab_{m}']:.2f} |")
    return "\n".join(lines) + "\n"
