"""Experiment trackers: MLflow and Weights & Biases through Lightning's own loggers.

``logger=mlflow`` (:class:`MLflowRunLogger`, Lightning's ``MLFlowLogger``) and ``logger=wandb``
(Lightning's ``WandbLogger``, offline by default) receive what Lightning logs (per-step and
per-epoch metrics, the module's hyper-parameters); the training recipe adds, through the two
functions here, the run's resolved config as parameters (:func:`log_config`) and, at the end,
the manifest, the history plot and the best checkpoint as MLflow artifacts
(:func:`log_run_files`). Both need ``pip install -e ".[tracking]"``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger, MLFlowLogger
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)

#: Tags every trainlab MLflow run carries (read back by ``trainlab collect --project``).
RUN_DIR_TAG, OVERRIDES_TAG, TASK_TAG = "trainlab.run_dir", "trainlab.overrides", "trainlab.task"


class MLflowRunLogger(MLFlowLogger):
    """Lightning's ``MLFlowLogger`` with trainlab's run tags; a parameter is logged once.

    Args:
        experiment_name: MLflow experiment (created when missing); the config's default is the
            run's ``exp_name``.
        tracking_uri: ``http://host:port`` of a tracking server, or a local store such as
            ``sqlite:///outputs/mlflow.db`` (the config's default, beside the run folders).
        tags: Run tags (``{"study": "architecture_comparison"}``); values are stringified.
        run_dir: The run folder, stored as tag ``trainlab.run_dir``.
        overrides: The run's command-line overrides, stored as a JSON list in tag ``trainlab.overrides``.
        task: The task name, stored as tag ``trainlab.task``.
        **kwargs: Any other argument of ``MLFlowLogger`` (``run_name``, ``artifact_location``,
            ``log_model``, ``prefix``, ``run_id``, ``synchronous``). ``artifact_location`` (where a
            new experiment keeps its files) holds for local stores only; with an ``http(s)://``
            server the server decides.

    MLflow refuses to change a logged parameter's value; the run's config is logged first
    (:func:`log_config`), so a module hyper-parameter of the same flattened name that
    Lightning logs later is skipped rather than failing the run.

    Raises:
        ModuleNotFoundError: mlflow is not installed (``pip install -e ".[tracking]"``).
    """

    def __init__(self, experiment_name: str = "default", tracking_uri: str | None = None,
                 tags: Mapping[str, Any] | None = None, run_dir: str | None = None,
                 overrides: Sequence[str] | None = None, task: str | None = None, **kwargs: Any):
        all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        for key, value in ((RUN_DIR_TAG, run_dir), (OVERRIDES_TAG, json.dumps([str(o) for o in overrides or ()])),
                           (TASK_TAG, task)):
            if value:
                all_tags[key] = str(value)
        if str(tracking_uri or "").startswith(("http://", "https://")):
            kwargs["artifact_location"] = None  # a server chooses where its artifacts go
        super().__init__(experiment_name=experiment_name, tracking_uri=tracking_uri, tags=all_tags, **kwargs)
        self._logged_params: set[str] = set()

    @rank_zero_only
    def log_hyperparams(self, params: Any) -> None:
        """Log parameters (nested dicts flattened with ``/``, values cut to 250 characters by
        Lightning); names already logged in this run are skipped."""
        from lightning.fabric.utilities.logger import _convert_params, _flatten_dict

        flat = _flatten_dict(_convert_params(params))
        new = {k: v for k, v in flat.items() if k not in self._logged_params}
        self._logged_params.update(new)
        if new:
            super().log_hyperparams(new)


def _trackers(loggers: Iterable[Logger]) -> list[Logger]:
    from lightning.pytorch.loggers import WandbLogger

    return [lg for lg in loggers if isinstance(lg, (MLFlowLogger, WandbLogger))]


@rank_zero_only
def log_config(loggers: Iterable[Logger], config: Mapping[str, Any]) -> None:
    """Log the resolved run config as parameters to the MLflow and W&B loggers among ``loggers``.

    Args:
        loggers: The run's loggers; others (CSV, TensorBoard) are left alone.
        config: The resolved config as a plain nested dict (MLflow: flattened ``a/b/c`` names;
            W&B: the nested run config).
    """
    for logger in _trackers(loggers):
        logger.log_hyperparams(dict(config))


@rank_zero_only
def log_run_files(loggers: Iterable[Logger], output_dir: str | Path, record: Mapping[str, Any]) -> None:
    """Upload ``manifest.json``, ``training_history.png`` and the best checkpoint to every MLflow logger's run.

    Args:
        loggers: The run's loggers (only MLflow ones receive files).
        output_dir: The run folder.
        record: The manifest record (``best.path``: the best checkpoint, relative to the run folder or absolute).

    Files go to the run's artifact root (``checkpoints/`` for the checkpoint); a missing file is
    skipped. An upload error is logged as a warning: the run's own results are on disk already.
    """
    output_dir = Path(output_dir)
    files: list[tuple[Path, str | None]] = [(output_dir / "manifest.json", None),
                                            (output_dir / "training_history.png", None)]
    best = (record.get("best") or {}).get("path")
    if best:
        files.append((output_dir / best if not Path(best).is_absolute() else Path(best), "checkpoints"))
    for logger in loggers:
        if not isinstance(logger, MLFlowLogger) or logger.run_id is None:
            continue
        for path, folder in files:
            if not path.is_file():
                continue
            try:
                logger.experiment.log_artifact(logger.run_id, str(path), folder)
            except Exception as error:  # an upload must not turn a finished run into a failed one
                log.warning("MLflow: could not upload %s to run %s: %s", path, logger.run_id, error)
