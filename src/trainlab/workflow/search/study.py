"""Open (or create) the Optuna study of a search, and recover the trials of dead processes.

- Storage: ``search.storage`` is any SQLAlchemy URL (``postgresql://user@host/db``,
  ``mysql://...``, ``sqlite:///path``); by default ``sqlite:///<search folder>/study.db``.
  Several ``trainlab tune`` processes, on one machine or many, given the same URL and
  ``search.study_name`` work on one study (``load_if_exists=True``).
- Heartbeats: trials beat every ``search.heartbeat_interval`` seconds; a RUNNING trial whose
  heartbeat is older than ``search.grace_period`` is failed by the next worker to start a
  trial and retried up to ``search.max_retry`` times (Optuna's
  ``RetryHeartbeatStaleTrialCallback``), whatever machine it ran on.
- A dead local process: when a search starts, a RUNNING trial whose recorded ``host`` is this
  machine and whose ``pid`` is gone is failed at once and enqueued again with the same
  parameters (:func:`recover_dead_trials`); the retry resumes from the dead trial's
  ``last.ckpt`` when there is one.
- Sampler: ``search.sampler.name`` (``tpe`` default, ``random``, ``qmc``, ``gp``...; the other
  keys are the sampler's arguments). Pruner: ``search.pruner.name`` (``median`` default,
  ``percentile``, ``successive_halving``, ``hyperband``, ``none``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from trainlab.workflow.liveness import process_alive

log = logging.getLogger(__name__)

SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "qmc": optuna.samplers.QMCSampler,
    "gp": optuna.samplers.GPSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
}
PRUNERS = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "none": optuna.pruners.NopPruner,
}
#: Trial states that count towards ``search.n_trials``.
DONE = (TrialState.COMPLETE, TrialState.PRUNED)


def _build(table: Mapping[str, type], config: Mapping[str, Any] | None, what: str, default: str) -> Any:
    options = dict(config or {})
    name = str(options.pop("name", default))
    if name not in table:
        raise ValueError(f"search.{what}.name: unknown {what} {name!r}; choose one of {', '.join(table)}")
    try:
        return table[name](**options)
    except TypeError as error:
        raise ValueError(f"search.{what}: {error} (the keys besides 'name' are {table[name].__name__}'s arguments)") from None


def make_sampler(config: Mapping[str, Any] | None) -> optuna.samplers.BaseSampler:
    """The sampler named by ``config["name"]`` (default ``tpe``), built with the other keys.

    Raises:
        ValueError: unknown name or argument (the message lists the valid names).
    """
    return _build(SAMPLERS, config, "sampler", "tpe")


def make_pruner(config: Mapping[str, Any] | None) -> optuna.pruners.BasePruner:
    """The pruner named by ``config["name"]`` (default ``median``), built with the other keys.

    Raises:
        ValueError: unknown name or argument (the message lists the valid names).
    """
    return _build(PRUNERS, config, "pruner", "median")


def storage_url(storage: str | None, search_dir: str | Path) -> str:
    """``storage`` if given, else an SQLite file ``study.db`` in the search folder (absolute path)."""
    if storage:
        return str(storage)
    path = Path(search_dir).resolve() / "study.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def optuna_direction(direction: Any) -> str:
    """Optuna's name of an optimisation direction: ``max``/``maximize`` -> ``maximize``,
    ``min``/``minimize`` -> ``minimize`` (experiments write ``optimized_direction: max|min``).

    Raises:
        ValueError: any other value.
    """
    value = str(direction).lower()
    names = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
    if value not in names:
        raise ValueError(f"search.direction (the experiment's optimized_direction) must be max or min, got {direction!r}")
    return names[value]


def open_study(search: Mapping[str, Any], search_dir: str | Path) -> optuna.Study:
    """Create the study ``search.study_name`` in its storage, or load it to continue.

    Args:
        search: The ``search`` config section (``study_name``, ``direction``, ``storage``,
            ``sampler``, ``pruner``, ``heartbeat_interval``, ``grace_period``, ``max_retry``).
        search_dir: The search folder (holds the default SQLite file).

    Raises:
        ValueError: the stored study optimises in the other direction, or a bad sampler or
            pruner setting.
    """
    url = storage_url(search.get("storage"), search_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=search.get("max_retry", 1))
    storage = RDBStorage(url, heartbeat_interval=search.get("heartbeat_interval") or None,
                         grace_period=search.get("grace_period") or None, heartbeat_stale_trial_callback=retry)
    direction = optuna_direction(search.get("direction", "maximize"))
    study = optuna.create_study(study_name=str(search["study_name"]), storage=storage, direction=direction,
                                sampler=make_sampler(search.get("sampler")), pruner=make_pruner(search.get("pruner")),
                                load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise ValueError(f"study {study.study_name!r} in {url} was created to {study.direction.name.lower()}, but "
                         f"search.direction={direction}; use another search.study_name or the stored direction")
    return study


def recover_dead_trials(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose process on this machine is gone, and enqueue each again.

    The retry carries the same parameters and ``user_attrs["retry_of"]`` = the dead trial's
    number, so that it can resume from the dead trial's checkpoint.

    Returns:
        The numbers of the trials failed.
    """
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if "pid" not in attrs or process_alive({"pid": attrs["pid"], "host": attrs.get("host"), "heartbeat": None}):
            continue
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number}, skip_if_exists=False)
        log.warning("trial %d: its process %s on %s is gone; marked failed and queued again with the same parameters",
                    trial.number, attrs["pid"], attrs.get("host"))
        recovered.append(trial.number)
    return recovered


def retried_trial(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial | None:
    """The latest earlier trial that trial ``number`` retries (after a dead process or a stale heartbeat), if any."""
    trials = study.get_trials(deepcopy=False)
    trial = trials[number]
    earlier = trial.user_attrs.get("retry_of")
    if earlier is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            history = RetryHeartbeatStaleTrialCallback.retry_history(trial)
        earlier = history[-1] if history else None
    return trials[earlier] if earlier is not None and earlier < len(trials) else None


def done_count(study: optuna.Study) -> int:
    """Trials that completed or were pruned (they count towards ``search.n_trials``)."""
    return len(study.get_trials(deepcopy=False, states=DONE))
