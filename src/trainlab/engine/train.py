"""The training recipe, top to bottom: seed, data, model, callbacks, loggers, trainer, fit, tune, test.

Reads like lightning-hydra-template's ``train.py``: everything a run does is on this page.
"""

from __future__ import annotations

import logging
import pickle
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, DeviceStatsMonitor, ModelCheckpoint, ProgressBar
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from trainlab.engine.callbacks.progress_log import stdout_is_terminal
from trainlab.engine.callbacks.run_manifest import RunManifest
from trainlab.engine.checkpoint import AtomicCheckpointIO, load_checkpoint
from trainlab.engine.config import instantiate_group, to_plain
from trainlab.engine.io import atomic_write
from trainlab.engine.tracking import log_config, log_run_files

log = logging.getLogger(__name__)


def train(cfg: DictConfig, callbacks: Sequence[Callback] = ()) -> dict[str, Any]:
    """Train, tune on validation, and test one configured run.

    Args:
        cfg: The composed config (root ``train.yaml``): groups ``data``, ``model``,
            ``optimizer``, ``scheduler``, ``trainer``, ``callbacks``, ``logger``,
            ``paths``, and keys ``task``, ``optimized_metric``, ``optimized_direction``,
            ``seed``, ``exp_name``, ``ckpt_path`` (resume),
            ``trust_checkpoint`` (unpickle the resumed checkpoint fully), ``test`` (evaluate
            the best checkpoint on the test split).
        callbacks: Extra Lightning callbacks, run after the configured ones and the manifest
            (e.g. a hyper-parameter search's pruning callback).

    Returns:
        Final metrics: ``val/*`` of the best epoch, ``test/*`` when tested.

    Raises:
        Whatever the run raised, after recording it in ``manifest.json`` as ``failed``
        (or ``interrupted`` for KeyboardInterrupt and SIGTERM).

    MLflow and W&B loggers (``logger=mlflow``, ``logger=wandb``) also receive the resolved
    config as parameters, and MLflow the manifest, history plot and best checkpoint as
    artifacts at the end, whatever the status (:mod:`trainlab.engine.tracking`).
    """
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    manifest = RunManifest(str(output_dir), config=to_plain(cfg), seed=cfg.seed, exp_name=cfg.exp_name)
    manifest.record.update(task=cfg.get("task"), resumed_from=cfg.get("ckpt_path"),
                           optimized={"metric": cfg.get("optimized_metric"), "direction": cfg.get("optimized_direction")})
    manifest.write()
    loggers: list[Logger] = []
    try:
        loggers = instantiate_group(cfg.get("logger"))
        log_config(loggers, manifest.record["config"])
        metrics = _run(cfg, output_dir, manifest, list(callbacks), loggers)
    except (KeyboardInterrupt, SIGTERMException) as stop:
        manifest.finish("interrupted", type(stop).__name__)
        log_run_files(loggers, output_dir, manifest.record)
        raise
    except BaseException as error:
        manifest.finish("failed", "".join(traceback.format_exception_only(type(error), error)).strip())
        log_run_files(loggers, output_dir, manifest.record)
        raise
    manifest.finish("finished")
    log_run_files(loggers, output_dir, manifest.record)
    return metrics


def build_data_and_model(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule]:
    """Instantiate ``cfg.data`` (set up for fit) and ``cfg.model`` with the optimizer and scheduler sections.

    What the datamodule needs from the model (e.g. which training targets) reaches it through
    its config (interpolations such as ``${model.targets}``), not by reconfiguring it here.
    The module records the task and the resolved data config, which every checkpoint then
    carries (``trainlab eval`` rebuilds the data from it).

    Raises:
        Whatever the datamodule or module raise for bad config (their messages name the key).
    """
    log.info("data: %s", cfg.data._target_)
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.setup("fit")
    log.info("model: %s", cfg.model._target_)
    model = hydra.utils.instantiate(cfg.model, optimizer=cfg.optimizer, scheduler=cfg.scheduler, _convert_="all")
    model.run_record = {"task": cfg.get("task"), "data": to_plain(cfg.data),
                        "optimized": {"metric": cfg.get("optimized_metric"), "direction": cfg.get("optimized_direction")}}
    return datamodule, model


def uses_gpu(trainer_cfg: DictConfig) -> bool:
    """Whether a trainer config runs on CUDA GPUs here: ``accelerator`` is ``gpu``/``cuda``, or ``auto``
    with a GPU visible (``torch.cuda.is_available()``)."""
    accelerator = str(trainer_cfg.get("accelerator", "auto")).lower()
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def select_callbacks(callbacks: Sequence[Callback], terminal: bool, gpu: bool, logged: bool) -> list[Callback]:
    """The configured callbacks that fit where the run happens.

    Progress bars (``callbacks.rich_progress_bar``) are kept for a terminal only; elsewhere (CI,
    SLURM, nohup) the engine's :class:`~trainlab.engine.callbacks.progress_log.EpochProgressLog`
    writes one line per epoch to the log instead. Lightning's ``DeviceStatsMonitor``
    (``callbacks.device_stats``: GPU memory and utilisation to the loggers) is kept only when the
    run uses a GPU and has a logger (on CPU it would log host CPU figures; without a logger
    Lightning refuses it).

    Args:
        callbacks: The instantiated callbacks, in order.
        terminal: Standard output is a terminal.
        gpu: The trainer runs on CUDA GPUs (:func:`uses_gpu`).
        logged: The run has at least one logger.

    Returns:
        The callbacks to pass to the trainer, in the same order.
    """
    return [c for c in callbacks
            if not (isinstance(c, ProgressBar) and not terminal)
            and not (isinstance(c, DeviceStatsMonitor) and not (gpu and logged))]


def _run(cfg: DictConfig, output_dir: Path, manifest: RunManifest, extra_callbacks: list[Callback],
         loggers: list[Logger]) -> dict[str, Any]:
    L.seed_everything(cfg.seed, workers=True)
    datamodule, model = build_data_and_model(cfg)
    manifest.update(data=datamodule.fingerprint())

    terminal = stdout_is_terminal()
    callbacks = select_callbacks([*instantiate_group(cfg.get("callbacks")), manifest, *extra_callbacks],
                                 terminal=terminal, gpu=uses_gpu(cfg.trainer), logged=bool(loggers))
    # Off a terminal no progress bar at all (Lightning would add its TQDM bar); the epoch lines replace it.
    no_bar = {} if terminal else {"enable_progress_bar": False}
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()], **no_bar,
        _convert_="all"
    )

    # Resuming restores the full state; the checkpoint is unpickled only with trust_checkpoint=true.
    trust = bool(cfg.get("trust_checkpoint", False))
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=not trust)
    except pickle.UnpicklingError as error:
        if not cfg.get("ckpt_path") or trust:
            raise
        raise RuntimeError(f"{cfg.ckpt_path}: cannot be loaded with weights_only=True ({error}). "
                           "If you trust this file, pass trust_checkpoint=true.") from error
    if trainer.interrupted:
        raise KeyboardInterrupt("training interrupted")

    metrics: dict[str, Any] = {}
    checkpoint = next((c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.monitor), None)
    best_path = checkpoint.best_model_path if checkpoint else ""
    if best_path:
        best = load_checkpoint(best_path)
        model.load_state_dict(best["state_dict"])
        score = checkpoint.best_model_score
        manifest.update(best={"path": str(Path(best_path).relative_to(output_dir)) if Path(best_path).is_relative_to(output_dir) else best_path,
                              "epoch": best.get("epoch"), "monitor": checkpoint.monitor,
                              "score": None if score is None else float(score)})
        metrics[checkpoint.monitor] = None if score is None else float(score)

    tuned = model.after_fit(datamodule)
    if tuned:
        manifest.update(tuned=tuned)
        if best_path and trainer.is_global_zero:
            _store_in_checkpoint(best_path, model)

    if cfg.get("test") and len(datamodule.dataset("test")):
        results = trainer.test(model, datamodule=datamodule, verbose=False)
        metrics.update({k: float(v) for k, v in (results[0] if results else {}).items()})
    manifest.update(final=metrics)
    log.info("final metrics: %s", metrics)
    return metrics


def _store_in_checkpoint(path: str, model: L.LightningModule) -> None:
    """Re-save ``path`` with the module's current checkpoint extras (e.g. tuned thresholds)."""
    checkpoint = load_checkpoint(path)
    model.on_save_checkpoint(checkpoint)
    atomic_write(path, lambda handle: torch.save(checkpoint, handle))
