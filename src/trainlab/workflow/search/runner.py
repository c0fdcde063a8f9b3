"""The search loop of ``trainlab tune``: every trial is a full ``trainlab train`` run.

For each trial the runner samples the space (:mod:`.space`), composes the ``tune`` config
again with the command's overrides plus the sampled ones (so a categorical parameter can
switch a config group), and calls :func:`trainlab.engine.train.train` in this process with
an :class:`~.pruning.OptunaPruning` callback. Each trial writes a normal run folder
``<search folder>/trials/<number>/`` (manifest, checkpoints, logs, ``.hydra/config.yaml``
and ``.hydra/overrides.yaml``), so ``trainlab collect`` reads trials like any run; a pruned
trial's manifest says ``pruned``.

The search stops when ``search.n_trials`` trials of the study are complete or pruned, counting
those of earlier (interrupted) runs of the same command and of other workers sharing the
storage, or after ``search.max_failures`` failed trials in a row. It then writes, in the
search folder: ``trials.csv`` (Optuna's trials table), ``best_params.yaml`` and
``configs/experiment/<study_name>_best.yaml`` (:mod:`.best`).

Several workers: ``search.n_workers=N`` starts N - 1 more ``trainlab tune`` processes on this
machine with the same command (worker ``k`` logs to ``tune_worker<k>.log``), each with
``usable cores // N`` torch threads; workers on other machines run the same command with the
same ``search.storage``. With heartbeats on, a worker does not start a trial that would
exceed ``search.n_trials`` while other workers' trials are running: it waits for them, fails
those whose heartbeat went silent for ``search.grace_period`` seconds (Optuna's
``fail_stale_trials``) and runs their retries.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import yaml
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from trainlab.engine.io import atomic_write_json, atomic_write_text
from trainlab.workflow.resources import threads_per_job
from trainlab.workflow.resume import LAST_CHECKPOINT, read_manifest
from trainlab.workflow.search.best import group_overrides, recipe_overlay, write_best_experiment
from trainlab.workflow.search.pruning import OptunaPruning
from trainlab.workflow.search.space import Param, override, parse_space
from trainlab.workflow.search.study import (
    done_count,
    open_study,
    optuna_direction,
    recover_dead_trials,
    retried_trial,
)

log = logging.getLogger(__name__)


class SearchFailed(RuntimeError):
    """Too many trials in a row failed; the message names the last one's record."""


def _key(override_text: str) -> str:
    return override_text.split("=", 1)[0].lstrip("+~")


def trial_overrides(command: Sequence[str], params: Mapping[str, Any], run_dir: Path,
                    checkpoint: Path | None = None) -> list[str]:
    """Overrides that compose a trial: the command's (minus Hydra's own and the sampled keys),
    the sampled values, the trial's run folder and, for a retried trial, its checkpoint."""
    kept = [o for o in command if not _key(o).startswith("hydra.") and _key(o) not in params]
    sampled = [override(key, value) for key, value in params.items()]
    extra = [override("paths.output_dir", str(run_dir))]
    if checkpoint is not None:
        extra.append(override("ckpt_path", str(checkpoint)))
    return kept + sampled + extra


def _compose(config_name: str, overrides: list[str]) -> tuple[DictConfig, dict[str, Any]]:
    """Compose a config and split off Hydra's node: (config, group choices)."""
    cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    choices = OmegaConf.to_container(cfg.hydra.runtime.choices, resolve=False)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


def _mark(run_dir: Path, status: str, error: str) -> None:
    manifest = read_manifest(run_dir)
    if manifest is not None:
        manifest.update(status=status, error=error)
        atomic_write_json(run_dir / "manifest.json", manifest)


def _best_value(metrics: Mapping[str, Any], run_dir: Path, metric: str, direction: str) -> float:
    """The trial's objective: ``metric`` in the final metrics, else its best epoch in the history."""
    if metrics.get(metric) is not None:
        return float(metrics[metric])
    history = (read_manifest(run_dir) or {}).get("history") or []
    values = [float(h[metric]) for h in history if isinstance(h.get(metric), (int, float))]
    if not values:
        raise ValueError(f"the trial logged no {metric!r} (search.metric); logged: "
                         f"{sorted({k for h in history for k in h})}")
    return max(values) if direction == "maximize" else min(values)


class _TrialLog:
    """Copy the log records of one trial into ``<trial folder>/train.log``."""

    def __init__(self, path: Path):
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))

    def __enter__(self) -> None:
        logging.getLogger().addHandler(self.handler)

    def __exit__(self, *exc_info: object) -> None:
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()


class Search:
    """One ``trainlab tune`` process working on a study.

    Args:
        cfg: The composed ``tune`` config (``search`` section and the training config).
        search_dir: The search folder (Hydra's run folder of ``trainlab tune``).
        command: The command-line overrides (``hydra.overrides.task``).
        config_name: The root config composed for every trial (``tune``).
        base_experiment: The experiment the search runs (``hydra.runtime.choices.experiment``).
        argv: The ``trainlab tune`` arguments as given (with ``--config-dir`` and the like), to
            start the other workers of ``search.n_workers`` with.

    Raises:
        SearchSpaceError, ValueError: a malformed ``search`` section (at construction).
    """

    def __init__(self, cfg: DictConfig, search_dir: Path, command: Sequence[str], config_name: str = "tune",
                 base_experiment: str | None = None, argv: Sequence[str] = ()):
        self.search = OmegaConf.to_container(cfg.search, resolve=True)
        self.space: list[Param] = parse_space(self.search.get("params"))
        self.metric = str(self.search["metric"])
        self.direction = optuna_direction(self.search.get("direction", "maximize"))
        self.n_trials = int(self.search["n_trials"])
        self.n_workers, self.worker = self.search.get("n_workers", 1), self.search.get("worker", 0)
        if not (isinstance(self.n_workers, int) and isinstance(self.worker, int)
                and 0 <= self.worker < self.n_workers):
            raise ValueError(f"search.n_workers must be an integer >= 1 and search.worker one of 0..n_workers-1, "
                             f"got n_workers={self.n_workers!r}, worker={self.worker!r}")
        self.heartbeat_interval = self.search.get("heartbeat_interval") or None
        self.search_dir = Path(search_dir)
        self.command = list(command)
        self.argv = list(argv)
        self.config_name = config_name
        self.base_experiment = base_experiment
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.study = open_study(self.search, self.search_dir)

    # The objective -----------------------------------------------------------------
    def objective(self, trial: optuna.trial.Trial) -> float:
        """Run one trial as a full training; returns its ``search.metric``.

        Raises:
            optuna.TrialPruned: the pruner stopped it.
            Exception: whatever the training raised (the trial is then FAIL).
        """
        from trainlab.engine.train import train

        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("worker", self.worker)
        trial.set_user_attr("sampler_seed", self.study.sampler.seed)
        params = {param.key: param.suggest(trial) for param in self.space}
        run_dir = self.search_dir / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        checkpoint = None
        earlier = retried_trial(self.study, trial.number)
        if earlier is not None and earlier.user_attrs.get("run_dir"):
            candidate = Path(earlier.user_attrs["run_dir"]) / LAST_CHECKPOINT
            checkpoint = candidate if candidate.is_file() else None
            log.info("trial %d retries trial %d%s", trial.number, earlier.number,
                     f", resuming from {checkpoint}" if checkpoint else "")
        overrides = trial_overrides(self.command, params, run_dir, checkpoint)
        cfg, _ = _compose(self.config_name, overrides)
        (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / ".hydra" / "config.yaml", OmegaConf.to_yaml(cfg))
        atomic_write_text(run_dir / ".hydra" / "overrides.yaml", yaml.safe_dump(overrides, sort_keys=False))
        log.info("trial %d: %s", trial.number, " ".join(override(k, v) for k, v in params.items()))
        with _TrialLog(run_dir / "train.log"):
            try:
                metrics = train(cfg, callbacks=[OptunaPruning(trial, self.metric)])
            except optuna.TrialPruned as pruned:
                _mark(run_dir, "pruned", str(pruned))
                log.info("trial %d %s", trial.number, pruned)
                raise
        value = _best_value(metrics, run_dir, self.metric, self.direction)
        log.info("trial %d: %s = %.4f", trial.number, self.metric, value)
        return value

    # The loop ---------------------------------------------------------------------
    def run(self) -> optuna.trial.FrozenTrial | None:
        """Run trials until ``search.n_trials`` are done in the study; write the results.

        Worker 0 of ``search.n_workers`` > 1 starts the other workers first and waits for them
        before it writes the results.

        Returns:
            The best complete trial, or ``None`` when none completed.

        Raises:
            SearchFailed: ``search.max_failures`` trials in a row failed in this process.
        """
        study = self.study
        if not study.get_trials(deepcopy=False):
            for params in self.search.get("enqueue") or []:
                study.enqueue_trial(dict(params))
        recovered = recover_dead_trials(study)
        log.info("study %r: %d of %d trials done%s", study.study_name, done_count(study), self.n_trials,
                 f", {len(recovered)} interrupted trial(s) queued again" if recovered else "")
        if self.n_workers > 1:
            import torch

            torch.set_num_threads(threads_per_job(self.n_workers))
            log.info("worker %d of %d: %d torch threads", self.worker, self.n_workers, torch.get_num_threads())
        workers = self.start_workers() if self.worker == 0 else []
        try:
            self.run_trials()
        finally:
            for number, process in workers:
                if process.wait() != 0:
                    log.warning("worker %d (pid %d) exited with status %d; its log: %s", number, process.pid,
                                process.returncode, self.search_dir / f"tune_worker{number}.log")
        return self.write_results()

    def start_workers(self) -> list[tuple[int, subprocess.Popen]]:
        """Start workers 1 .. ``search.n_workers`` - 1: ``trainlab tune`` with this command's arguments.

        Each logs to ``<search folder>/tune_worker<k>.log`` and leaves ``.hydra/`` to this
        process; their console output goes to this process's.

        Returns:
            ``(worker number, process)`` of each started worker (none for ``n_workers`` = 1).
        """
        own = {"search.n_workers", "search.worker", "hydra.job.name", "hydra.output_subdir"}
        argv = [a for a in self.argv if _key(a) not in own]
        if self.n_workers > 1 and not str(self.search.get("storage") or "").strip():
            log.warning("%d workers share the SQLite file %s; a database server (search.storage=postgresql://...) "
                        "copes better with concurrent writes", self.n_workers, self.search_dir / "study.db")
        workers = []
        for number in range(1, self.n_workers):
            command = [sys.executable, "-m", "trainlab", "tune", *argv, f"search.n_workers={self.n_workers}",
                       f"search.worker={number}", f"hydra.job.name=tune_worker{number}", "hydra.output_subdir=null"]
            workers.append((number, subprocess.Popen(command)))
            log.info("worker %d started (pid %d)", number, workers[-1][1].pid)
        return workers

    def _others_busy(self) -> int:
        """Trials that other processes are running (those that recorded their process)."""
        return sum(1 for t in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
                   if "pid" in t.user_attrs)

    def run_trials(self) -> None:
        """This process's loop: one trial at a time until ``search.n_trials`` are done.

        With heartbeats on, while the trials running elsewhere would complete the count, wait
        (polling every ``min(heartbeat_interval, 5)`` s) and fail those whose heartbeat went
        silent (Optuna's ``fail_stale_trials``; the retry callback queues them again).

        Raises:
            SearchFailed: ``search.max_failures`` trials in a row failed.
        """
        study = self.study
        failures, max_failures = 0, int(self.search.get("max_failures", 3))
        waiting = False
        while (done := done_count(study)) < self.n_trials:
            if self.heartbeat_interval and done + self._others_busy() >= self.n_trials:
                if not waiting:
                    log.info("%d of %d trials done, the others run in other workers: waiting for them",
                             done, self.n_trials)
                waiting = True
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(study)
                time.sleep(min(float(self.heartbeat_interval), 5.0))
                continue
            waiting = False
            mine: list[int] = []

            def objective(trial: optuna.trial.Trial) -> float:
                mine.append(trial.number)
                return self.objective(trial)

            study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=True)
            state = study.get_trials(deepcopy=False)[mine[-1]].state if mine else None
            failures = failures + 1 if state == optuna.trial.TrialState.FAIL else 0
            if failures >= max_failures:
                self.write_results()
                raise SearchFailed(f"{failures} trials in a row failed; the last one's record: "
                                   f"{self.search_dir / 'trials' / f'{mine[-1]:04d}' / 'manifest.json'}")

    def write_results(self) -> optuna.trial.FrozenTrial | None:
        """Write ``trials.csv``, ``best_params.yaml`` and the best experiment config; return the best trial."""
        study = self.study
        atomic_write_text(self.search_dir / "trials.csv", study.trials_dataframe().to_csv(index=False))
        complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                    if t.value is not None and math.isfinite(t.value)]
        if not complete:
            log.warning("no trial completed: no best parameters to write")
            return None
        best = study.best_trial
        name = f"{study.study_name}_best"
        run_dir = Path(best.user_attrs.get("run_dir", self.search_dir / "trials" / f"{best.number:04d}"))
        summary = {"study_name": study.study_name, "trial": best.number, "metric": self.metric,
                   "direction": self.direction, "value": best.value, "params": dict(best.params),
                   "run_dir": str(run_dir), "experiment": name}
        atomic_write_text(self.search_dir / "best_params.yaml", yaml.safe_dump(summary, sort_keys=False))
        overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text(encoding="utf-8"))
        trial_cfg, trial_choices = _compose(self.config_name, [o for o in overrides if _key(o) != "ckpt_path"])
        base_overrides = [f"experiment={self.base_experiment}"] if self.base_experiment else []
        base_cfg, base_choices = _compose("train", base_overrides)
        values = {"exp_name": name, **recipe_overlay(trial_cfg, base_cfg)}
        config_dir = self.search_dir / "configs"
        path = write_best_experiment(
            config_dir / "experiment" / f"{name}.yaml", self.base_experiment,
            group_overrides(trial_choices, base_choices), values,
            f"Best trial {best.number} of the search {study.study_name!r}: {self.metric} = {best.value:.4f} "
            f"({self.direction}),\nwritten by 'trainlab tune'. Run it with:\n"
            f"  trainlab train --config-dir {config_dir.resolve()} experiment={name}")
        log.info("best trial %d: %s = %.4f; run it with: trainlab train --config-dir %s experiment=%s",
                 best.number, self.metric, best.value, config_dir.resolve(), name)
        log.info("written: %s", path)
        return best


def run_search(cfg: DictConfig) -> float | None:
    """Run ``trainlab tune`` with its composed config; returns the best value (``None`` without one).

    The command's arguments (for the workers of ``search.n_workers``) are ``sys.argv[1:]``, as
    the ``trainlab`` dispatcher leaves them.
    """
    hydra_cfg = HydraConfig.get()
    search = Search(cfg, Path(hydra_cfg.runtime.output_dir), list(hydra_cfg.overrides.task),
                    config_name=hydra_cfg.job.config_name, base_experiment=hydra_cfg.runtime.choices.get("experiment"),
                    argv=sys.argv[1:])
    best = search.run()
    return None if best is None else float(best.value)
