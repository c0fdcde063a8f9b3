"""The task contract: what the engine and the task-agnostic commands expect of a task.

A task is a folder ``trainlab/tasks/<name>/`` (or a module of another installed package)
that provides:

- a :class:`Task` record named ``TASK`` in its ``__init__.py``: its name, its LightningModule
  and datamodule classes (as dotted paths, so that listing tasks imports nothing heavy), the
  Python packages it needs and the ``pip`` extra that installs them;
- a datamodule subclassing :class:`~trainlab.engine.datamodule.TaskDataModule` (splits, ``dataset(split)``,
  ``fingerprint()``, ``batch_size``, loaders);
- a LightningModule subclassing :class:`~trainlab.engine.module.TrainlabModule` (optimizer,
  schedule and model options from the shared config sections; hooks ``after_fit``,
  ``write_evaluation``, ``write_predictions``, ``override_postprocess``);
- its configs: ``configs/data/<task>/``, ``configs/model/<task>/`` and experiments
  (``configs/experiment/<name>.yaml``) that set ``task``, ``optimized_metric`` and
  ``optimized_direction``.

This module imports neither torch nor Lightning, so that a task's ``__init__`` (which holds its
``TASK``) stays cheap to import. Built-in tasks are found by scanning ``trainlab.tasks``; other packages add theirs through
the entry-point group ``trainlab.tasks`` (see :mod:`trainlab.tasks`).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Task:
    """The registration record of a task.

    Attributes:
        name: The task's name, as in experiments' ``task:`` key and ``configs/*/<name>/``.
        summary: One line for ``trainlab tasks``.
        module: Dotted path of its :class:`~trainlab.engine.module.TrainlabModule` subclass.
        datamodule: Dotted path of its :class:`~trainlab.engine.datamodule.TaskDataModule` subclass.
        requires: Import names of the optional packages it needs (checked by :meth:`missing`).
        extra: The ``pip install "trainlab[<extra>]"`` extra that installs them, if any.
        config_package: Importable package holding the task's Hydra configs when they are not
            inside ``trainlab.configs`` (tasks of other packages); added to Hydra's search path.
        commands: Extra commands of the task (name -> one line), for ``trainlab tasks``.
    """

    name: str
    summary: str
    module: str
    datamodule: str
    requires: tuple[str, ...] = ()
    extra: str | None = None
    config_package: str | None = None
    commands: dict[str, str] = field(default_factory=dict)

    def missing(self) -> list[str]:
        """Import names of :attr:`requires` that are not installed."""
        return [name for name in self.requires if importlib.util.find_spec(name) is None]

    def install_hint(self) -> str:
        """What to run to install the missing packages."""
        target = f'pip install -e ".[{self.extra}]"' if self.extra else "pip install " + " ".join(self.missing())
        return f"task {self.name!r} needs {', '.join(self.missing())}: {target}"

    def module_class(self) -> type:
        """The LightningModule class (imports the task).

        Raises:
            ImportError: a package the task needs is missing (the message says what to install).
        """
        return _load_attribute(self.module, self)

    def datamodule_class(self) -> type:
        """The datamodule class (imports the task); raises like :meth:`module_class`."""
        return _load_attribute(self.datamodule, self)


def _load_attribute(dotted: str, task: Task) -> Any:
    module_name, _, attribute = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        if task.missing():
            raise ImportError(task.install_hint()) from error
        raise
    return getattr(module, attribute)
