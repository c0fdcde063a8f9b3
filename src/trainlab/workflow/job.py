"""The task of one ``trainlab train`` job, single run or sweep job.

A single run (no ``-m``) just trains. A sweep job (``-m``) also:

1. looks at its folder (:func:`~trainlab.workflow.resume.plan_job`): a finished job is skipped
   and returns its recorded metric; an interrupted one resumes from ``checkpoints/last.ckpt``;
2. takes its share of the machine when jobs run in parallel (``launcher=parallel``): torch
   threads = usable cores // ``n_jobs``; on a machine with several GPUs it holds one GPU for
   its whole run (:class:`~trainlab.workflow.resources.GpuSlot`) and trains on it alone;
3. contains failures: whatever the training raises is recorded as ``failed`` with its error in
   the job's ``manifest.json`` (by :func:`trainlab.engine.train.train`), logged with its
   traceback in the job's ``train.log``, and re-raised as a plain :class:`JobFailed` that
   pickles across process pools. Hydra stores it in the job's result and lets the other
   jobs run; once every job has run, the sweep command exits non-zero.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from trainlab.workflow.resources import GpuSlot, threads_per_job
from trainlab.workflow.resume import plan_job

log = logging.getLogger(__name__)


class JobFailed(RuntimeError):
    """A sweep job failed; the message names the job, its error and its manifest."""


def _metric(metrics: dict[str, Any] | None, name: str | None) -> float | None:
    value = (metrics or {}).get(name) if name else None
    return None if value is None else float(value)


def _concurrent_jobs(hydra_cfg: Any) -> int:
    """Jobs of the running sweep that run at the same time on this machine (joblib's ``n_jobs``, else 1)."""
    launcher = hydra_cfg.launcher
    return int(launcher.get("n_jobs", 1) or 1) if "joblib" in str(launcher.get("_target_", "")) else 1


def run_job(cfg: DictConfig) -> float | None:
    """Train one configured run; in a sweep, resume or skip it and contain its failure.

    Args:
        cfg: The composed ``train`` config of this job.

    Returns:
        The value of ``cfg.optimized_metric`` (the experiment's, e.g. ``val/hmean``) in the run's final
        metrics, or ``None`` when the run did not produce it.

    Raises:
        JobFailed: a sweep job's training raised (single runs re-raise the original error).
        KeyboardInterrupt: the user stopped the run (recorded as ``interrupted``).
    """
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        from trainlab.engine.train import train

        return _metric(train(cfg), cfg.get("optimized_metric"))

    output_dir = Path(cfg.paths.output_dir)
    name = f"job {output_dir.name}"
    plan = plan_job(output_dir)
    if plan.action == "skip":
        log.info("%s: finished in an earlier run of this sweep, skipped", name)
        return _metric(plan.manifest.get("final"), cfg.get("optimized_metric"))
    if plan.action == "resume" and not cfg.get("ckpt_path"):
        log.info("%s: resuming from %s", name, plan.checkpoint)
        with open_dict(cfg):
            cfg.ckpt_path = str(plan.checkpoint)

    from trainlab.engine.train import train  # torch and Lightning: only for jobs that train

    n_jobs = _concurrent_jobs(hydra_cfg)
    with contextlib.ExitStack() as stack:
        if n_jobs > 1:
            _share_machine(cfg, n_jobs, stack, name)
        try:
            metrics = train(cfg)
        except Exception as error:
            log.error("%s failed:\n%s", name, traceback.format_exc())
            message = "".join(traceback.format_exception_only(type(error), error)).strip()
            raise JobFailed(f"{name} failed: {message} (record: {output_dir / 'manifest.json'}); "
                            f"the other jobs of the sweep are not affected") from None
    return _metric(metrics, cfg.get("optimized_metric"))


def _share_machine(cfg: DictConfig, n_jobs: int, stack: contextlib.ExitStack, name: str) -> None:
    """Limit torch threads to this job's share of the cores; on several GPUs, hold one."""
    import torch

    threads = threads_per_job(n_jobs)
    torch.set_num_threads(threads)
    count = torch.cuda.device_count()
    trainer = cfg.get("trainer") or {}
    if count > 1 and str(trainer.get("accelerator", "auto")) in {"auto", "gpu", "cuda"} and \
            str(trainer.get("devices", 1)) in {"1", "auto"}:
        slot = stack.enter_context(GpuSlot(count))
        torch.cuda.set_device(slot.index)
        with open_dict(cfg):
            cfg.trainer.accelerator = "gpu"
            cfg.trainer.devices = [slot.index]
        log.info("%s: %d torch threads, GPU %d of %d", name, threads, slot.index, count)
    else:
        log.info("%s: %d torch threads (%d jobs at a time)", name, threads, n_jobs)
