"""Open (or create) the Optuna study of a search, and recover the trials of dead processes.

- Storage: ``search.storage`` is any SQLAlchemy URL (``postgresql://user@host/db``,
  ``mysql://...``, ``sqlite:///path``); by default ``sqlite:///<search folder>/study.db``.
  Several ``trainlab tune`` processes, on one machine or many, given the same URL and
  ``search.study_name`` work on one study (``load_if_exists=True``).
- Heartbeats: trials beat every ``search.heartbeat_interval`` seconds; a RUNNING trial whose
  heartbeat is older than ``search.grace_period`` is failed by the next worker to start a
  trial (or one waiting for the last trials, :mod:`.runner`) and retried up to
  ``search.max_retry`` times (Optuna's ``RetryHeartbeatStaleTrialCallback``), whatever
  machine it ran on.
- A dead local process: when a search starts, a RUNNING trial whose recorded ``host`` is this
  machine and whose ``pid`` is gone is failed at once and enqueued again with the same
  parameters (:func:`recover_dead_trials`); the retry resumes from the dead trial's
  ``last.ckpt`` when there is one.
- Sampler: ``search.sampler.name`` (``tpe`` default, ``random``, ``qmc``, ``gp``...; the other
  keys are the sampler's arguments). Pruner: ``search.pruner.name`` (``median`` default,
  ``percentile``, ``successive_halving``, ``hyperband``, ``none``).
- Seeds: every process that works on a study (a resumed search, each of several workers)
  seeds its sampler from ``search.sampler.seed`` and the number of its own first trial
  (:class:`ProcessSeededSampler`), so that no two processes draw the same values.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError

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


def process_seed(seed: int, first_trial: int) -> int:
    """The sampler seed of a process whose first trial in the study is number ``first_trial``.

    Args:
        seed: The search's base seed (``search.sampler.seed``), a non-negative integer.
        first_trial: The number of the first trial the process runs (>= 0).

    Returns:
        A 32-bit seed (0 <= seed < 2**32), the same for the same arguments on every machine.

    Raises:
        ValueError: a negative argument.

    Algorithm: the first 32-bit word of NumPy's ``SeedSequence([seed, first_trial])``, a hash
    that gives unrelated streams to nearby entropy values
    (https://numpy.org/doc/stable/reference/random/bit_generators/generated/numpy.random.SeedSequence.html).
    """
    if seed < 0 or first_trial < 0:
        raise ValueError(f"process_seed needs non-negative integers, got seed={seed}, first_trial={first_trial}")
    return int(np.random.SeedSequence([int(seed), int(first_trial)]).generate_state(1)[0])


class ProcessSeededSampler(optuna.samplers.BaseSampler):
    """The configured sampler, seeded once per process from the base seed and the process's first trial.

    Optuna's samplers restart their random stream from ``seed`` in every process, so a resumed
    search, or a second worker on the same study, would draw the parameters of the first
    trials again (TPE's random start-up trials come from that stream). This sampler builds the
    configured one again when this process's first trial begins (:meth:`before_trial`, called
    by Optuna before any value is sampled) with the seed :func:`process_seed` (``seed``, that
    trial's number). The storage hands out each trial number once, so two processes of one
    study never share a seed; a single process on a fresh study starts at trial 0 and is
    reproducible. Without a base seed the sampler stays unseeded (fresh entropy in every
    process). The QMC sampler keeps the base seed: Optuna requires one seed for all its
    workers, and it indexes its sequence by the trials already in the storage.

    Args:
        config: The ``search.sampler`` section (``name`` and the sampler's arguments, ``seed``
            among them).

    Attributes:
        base_seed: ``config["seed"]`` (``None`` when unseeded).
        seed: The seed this process samples with, set at its first trial (``None`` before it,
            or when unseeded).
        first_trial: The number of this process's first trial, set when it begins.
        sampler: The sampler that samples, rebuilt with ``seed`` at the first trial.

    Raises:
        ValueError: an unknown sampler or argument, or a seed that is not a non-negative integer.
    """

    def __init__(self, config: Mapping[str, Any] | None):
        self.config = dict(config or {})
        base_seed = self.config.get("seed")
        if base_seed is not None and (isinstance(base_seed, bool) or not isinstance(base_seed, int) or base_seed < 0):
            raise ValueError(f"search.sampler.seed must be a non-negative integer or null, got {base_seed!r}")
        self.base_seed: int | None = base_seed
        self.sampler = make_sampler(self.config)
        self.seed: int | None = None
        self.first_trial: int | None = None

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Seed and build the sampler at this process's first trial, then let it prepare the trial."""
        if self.first_trial is None:
            self.first_trial = trial.number
            self.seed = self.base_seed
            if self.base_seed is not None and not isinstance(self.sampler, optuna.samplers.QMCSampler):
                self.seed = process_seed(self.base_seed, trial.number)
                self.sampler = make_sampler({**self.config, "seed": self.seed})
            log.info("sampler %s seeded with %s (search.sampler.seed=%s, first trial of this process: %d)",
                     type(self.sampler).__name__, self.seed, self.base_seed, trial.number)
        self.sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        """The wrapped sampler's relative search space."""
        return self.sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        """The wrapped sampler's relative sample."""
        return self.sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: optuna.distributions.BaseDistribution) -> Any:
        """The wrapped sampler's independent sample."""
        return self.sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        """The wrapped sampler's post-processing."""
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        """Reseed the wrapped sampler from fresh entropy (Optuna does so for ``n_jobs > 1`` threads)."""
        self.sampler.reseed_rng()


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


def shown_url(url: str) -> str:
    """``url`` with its password masked (``***``), for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def check_storage(url: str) -> None:
    """Check that ``url`` is a database URL whose driver is installed, before Optuna connects.

    SQLAlchemy picks the driver from the URL (``postgresql://`` uses psycopg with SQLAlchemy
    2.1, ``postgresql+psycopg2://`` psycopg2, ``mysql://`` mysqlclient).

    Raises:
        ValueError: not an SQLAlchemy URL, an unknown database kind, or its driver is not
            installed (the message names the driver and how to install it).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"search.storage={url!r} is not a database URL; write e.g. "
                         f"postgresql://user:password@host:5432/optuna or sqlite:////abs/path/study.db") from None
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise ValueError(f"search.storage={shown_url(url)}: SQLAlchemy knows no database {parsed.drivername!r}; "
                         f"use postgresql://, mysql:// or sqlite:///") from None
    try:
        dialect.import_dbapi()
    except ImportError as error:
        hint = ("pip install 'trainlab[search]' (psycopg, the driver of postgresql:// URLs)"
                if dialect.driver == "psycopg" else
                "install that driver's Python package, or name an installed driver in the URL (e.g. mysql+pymysql://)")
        raise ValueError(f"search.storage={shown_url(url)}: its database driver {dialect.driver!r} is not installed "
                         f"({error}); {hint}") from None


def open_storage(url: str, attempts: int = 5, **options: Any) -> RDBStorage:
    """Optuna's ``RDBStorage(url, **options)``, tried again when another process creates the tables at the same time.

    Workers started together on an empty database all create Optuna's tables; the losers of
    that race get a "duplicate key" or "already exists" error from the database
    (https://github.com/optuna/optuna/issues/1092). Once the winner is done the tables exist
    and opening succeeds, so a loser waits 0.2, 0.4, ... s and tries again.

    Args:
        url: The SQLAlchemy URL.
        attempts: Tries in all (>= 1).
        options: ``RDBStorage``'s other arguments.

    Raises:
        sqlalchemy.exc.DBAPIError: any other database error, or the race still lost after
            ``attempts`` tries.
    """
    for attempt in range(1, attempts):
        try:
            return RDBStorage(url, **options)
        except DBAPIError as error:
            if not (isinstance(error, IntegrityError) or "already exists" in str(error)):
                raise
            log.info("the tables of %s are being created by another process; trying again", shown_url(url))
            time.sleep(0.2 * attempt)
    return RDBStorage(url, **options)


def open_study(search: Mapping[str, Any], search_dir: str | Path) -> optuna.Study:
    """Create the study ``search.study_name`` in its storage, or load it to continue.

    The study samples with a :class:`ProcessSeededSampler` built from ``search.sampler``.

    Args:
        search: The ``search`` config section (``study_name``, ``direction``, ``storage``,
            ``sampler``, ``pruner``, ``heartbeat_interval`` and ``grace_period`` in seconds,
            ``max_retry``).
        search_dir: The search folder (holds the default SQLite file).

    Raises:
        ValueError: the stored study optimises in the other direction, a bad sampler or
            pruner setting, or a storage URL that is malformed or whose driver is missing.
        sqlalchemy.exc.OperationalError: the database server cannot be reached.
    """
    url = storage_url(search.get("storage"), search_dir)
    check_storage(url)
    sampler, pruner = ProcessSeededSampler(search.get("sampler")), make_pruner(search.get("pruner"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=search.get("max_retry", 1))
    storage = open_storage(url, heartbeat_interval=search.get("heartbeat_interval") or None,
                           grace_period=search.get("grace_period") or None, heartbeat_stale_trial_callback=retry)
    direction = optuna_direction(search.get("direction", "maximize"))
    study = optuna.create_study(study_name=str(search["study_name"]), storage=storage, direction=direction,
                                sampler=sampler, pruner=pruner, load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise ValueError(f"study {study.study_name!r} in {shown_url(url)} was created to "
                         f"{study.direction.name.lower()}, but search.direction={direction}; use another "
                         f"search.study_name or the stored direction")
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
