"""``trainlab tasks [--json]``: the installed tasks, with their experiments and extra commands.

A task is listed when its package is importable (built-in folders of ``trainlab.tasks`` and
plug-ins of the ``trainlab.tasks`` entry-point group); one whose optional packages are missing
says what to install. Experiments are the ``configs/experiment/*.yaml`` files (trainlab's and
each plug-in's ``config_package``) whose ``task:`` names the task.
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from typing import Any

import yaml

PROG = "trainlab tasks"


def experiments_by_task(config_packages: list[str]) -> dict[str, list[str]]:
    """``{task name: [experiment names]}`` from the experiment configs of the given config packages.

    A file that does not parse, or has no ``task:`` key, is listed under ``"?"``.
    """
    found: dict[str, list[str]] = {}
    for package in config_packages:
        try:
            folder = resources.files(package) / "experiment"
        except ModuleNotFoundError:
            continue
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir(), key=lambda p: p.name):
            if not path.name.endswith(".yaml"):
                continue
            try:
                task = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("task", "?")
            except yaml.YAMLError:
                task = "?"
            found.setdefault(str(task), []).append(path.name[: -len(".yaml")])
    return found


def describe_tasks() -> list[dict[str, Any]]:
    """One dict per installed task: name, summary, module, missing packages, install hint, experiments, commands."""
    from trainlab.tasks import available_tasks

    tasks = available_tasks()
    packages = ["trainlab.configs"] + sorted({t.config_package for t in tasks.values() if t.config_package})
    experiments = experiments_by_task(packages)
    rows = []
    for name in sorted(tasks):
        task = tasks[name]
        missing = task.missing()
        rows.append({"name": name, "summary": task.summary, "module": task.module, "missing": missing,
                     "install": task.install_hint() if missing else None,
                     "experiments": experiments.get(name, []), "commands": dict(task.commands)})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the installed tasks; returns the exit status (0)."""
    parser = argparse.ArgumentParser(prog=PROG, description="List the installed tasks with their experiments.")
    parser.add_argument("--json", action="store_true", help="print one JSON array instead of text")
    args = parser.parse_args(argv)
    rows = describe_tasks()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        status = "ready" if not row["missing"] else f"not ready: {row['install']}"
        print(f"{row['name']}  ({status})\n  {row['summary']}")
        print(f"  experiments: {', '.join(row['experiments']) or 'none'}")
        for command, help_ in row["commands"].items():
            print(f"  command: trainlab {command}  ({help_})")
    return 0
