"""Glucose forecasting from continuous glucose monitoring (CGMacros, native Dexcom or Libre readings).

A transformer encoder over the last 24 h of readings (key-padding masks for missing ones,
time-of-day encoding) predicts the next 12 readings (60 min) as changes from the last one;
persistence, linear extrapolation and ridge regression on lags are scored on the same windows.
``series`` (native-cadence recovery), ``metrics`` (RMSE, MAE, MARD, Clarke error grid) and
``baselines`` are plain NumPy/pandas/scikit-learn, testable without a model.
"""

from trainlab.engine.task import Task

TASK = Task(
    name="forecasting",
    summary="CGM glucose forecasting (transformer with key-padding masks; persistence, linear, ridge baselines); "
            "RMSE, MAE, MARD, Clarke error grid per horizon step",
    module="trainlab.tasks.forecasting.module.ForecastingModule",
    datamodule="trainlab.tasks.forecasting.data.CGMDataModule",
    requires=("sklearn", "torchmetrics"),
    extra="forecasting",
)
