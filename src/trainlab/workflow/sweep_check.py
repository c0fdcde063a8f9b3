"""Refuse a sweep whose jobs cannot all be composed, before any job starts.

Hydra composes each job's config only when the launcher reaches that job, so a bad value in
a sweep (``optimizer=adam,nadam`` with no ``optimizer/nadam.yaml``) would stop the sweep in
the middle, after hours of training, and with the joblib launcher take the running jobs
down with it. :class:`CheckSweep` (a Hydra callback, registered in ``configs/hydra/default.yaml``)
composes, when the sweep starts, one job per swept value (each value with the first value
of every other swept key: 1 + sum(values - 1) compositions, not their product) and stops
the command with one line per value that does not compose.
"""

from __future__ import annotations

import logging
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def probe_jobs(overrides: list[str], config_loader: Any = None) -> list[list[str]]:
    """Job override lists that together use every value of every swept key once.

    The first job takes the first value of every key; each further job changes one swept
    key to one of its other values. Non-discrete sweeps (``interval(...)``) are left as given.
    ``config_loader`` (Hydra's) is needed to expand ``glob(...)`` sweeps over config groups.
    """
    values: dict[str, list[str]] = {}
    for override in OverridesParser.create(config_loader=config_loader).parse_overrides(overrides):
        key = override.get_key_element()
        if override.is_sweep_override() and override.is_discrete_sweep():
            values[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            values[key] = [override.input_line]
    first = [options[0] for options in values.values()]
    jobs = [first]
    for index, options in enumerate(values.values()):
        for option in options[1:]:
            jobs.append(first[:index] + [option] + first[index + 1:])
    return jobs


class CheckSweep(Callback):
    """Hydra callback: before a multirun launches, check that every swept value composes.

    Hydra turns exceptions raised by callbacks into warnings, so a sweep that cannot compose is
    stopped with :class:`SystemExit` (exit status 2) and a message listing the values that do
    not compose and why; no job has run.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        loader = GlobalHydra.instance().config_loader()
        task = [str(o) for o in config.hydra.overrides.task]
        problems = []
        jobs = probe_jobs(task, loader)
        for job in jobs:
            try:
                loader.load_sweep_config(config, job)
            except Exception as error:  # Hydra raises several kinds; all mean "cannot compose"
                changed = [o for o in job if o not in jobs[0]] or [o for o in job if o not in task]
                problems.append(f"  {' '.join(changed) or ' '.join(job)}: {str(error).splitlines()[0]}")
        if problems:
            log.error("the sweep did not start: these values cannot be composed (fix or drop them):\n%s",
                      "\n".join(problems))
            raise SystemExit(2)
