"""Hydra search-path plugin: the configs of tasks that other installed packages add to trainlab.

A task registered through the ``trainlab.tasks`` entry-point group may name a
``config_package`` (its own ``data/<task>/``, ``model/<task>/`` and ``experiment/`` configs);
when a trainlab command composes its config, that package joins Hydra's search path after
trainlab's own, so ``trainlab train experiment=<its experiment>`` works like a built-in one.
Hydra discovers this class in the ``hydra_plugins`` namespace package (Hydra's plugin docs,
"Config search path plugin"). Other Hydra applications are left alone.
"""

from __future__ import annotations

import logging

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

log = logging.getLogger(__name__)

TRAINLAB_CONFIGS = "pkg://trainlab.configs"


class TrainlabTaskConfigs(SearchPathPlugin):
    """Appends ``pkg://<config_package>`` of every plug-in task to a trainlab config search path."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        # Hydra writes the primary package either way (pkg://trainlab/configs or pkg://trainlab.configs).
        if not any(str(element.path).replace("/", ".") == TRAINLAB_CONFIGS.replace("/", ".")
                   for element in search_path.get_path()):
            return
        try:
            from trainlab.tasks import available_tasks

            tasks = available_tasks()
        except Exception as error:  # a broken plug-in must not stop trainlab's own commands
            log.warning("could not list trainlab tasks for the config search path: %s", error)
            return
        for task in tasks.values():
            if task.config_package:
                search_path.append(provider=f"trainlab-task-{task.name}", path=f"pkg://{task.config_package}")
