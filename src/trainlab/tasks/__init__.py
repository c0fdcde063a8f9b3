"""The task registry: every installed task, by name.

Built-in tasks are the sub-packages of ``trainlab.tasks`` that define ``TASK`` (a
:class:`~trainlab.engine.task.Task`) in their ``__init__.py``; adding a folder is the whole
registration. Another installed package adds a task through the entry-point group
``trainlab.tasks``, in its ``pyproject.toml``::

    [project.entry-points."trainlab.tasks"]
    my_task = "my_package.my_task:TASK"

Only the ``__init__`` modules are imported here (no torch), so listing tasks is cheap.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from importlib.metadata import entry_points

from trainlab.engine.task import Task

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "trainlab.tasks"


def _builtin() -> dict[str, Task]:
    tasks = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:
            continue
        task = getattr(importlib.import_module(f"{__name__}.{info.name}"), "TASK", None)
        if isinstance(task, Task):
            tasks[task.name] = task
    return tasks


def _from_entry_points() -> dict[str, Task]:
    tasks = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            task = entry.load()
        except Exception as error:  # a broken plug-in must not hide the others
            log.warning("task plug-in %s (%s) could not be loaded: %s", entry.name, entry.value, error)
            continue
        if not isinstance(task, Task):
            log.warning("task plug-in %s (%s) is not a trainlab.engine.task.Task", entry.name, entry.value)
            continue
        tasks[task.name] = task
    return tasks


def available_tasks() -> dict[str, Task]:
    """Every installed task by name: built-in ones, then plug-ins (a plug-in cannot replace a built-in)."""
    tasks = _builtin()
    for name, task in _from_entry_points().items():
        if name in tasks and tasks[name] != task:
            log.warning("task plug-in %r ignored: a built-in task has that name", name)
            continue
        tasks[name] = task
    return tasks


def get_task(name: str) -> Task:
    """The installed task ``name``.

    Raises:
        ValueError: no such task (the message lists the installed ones).
    """
    tasks = available_tasks()
    if name not in tasks:
        raise ValueError(f"unknown task {name!r}; installed: {', '.join(sorted(tasks)) or 'none'} "
                         "(trainlab tasks lists them with their experiments)")
    return tasks[name]


def task_of_module(module_path: str) -> Task | None:
    """The task whose LightningModule is the class ``module_path`` (dotted), if any."""
    return next((t for t in available_tasks().values() if t.module == module_path), None)
