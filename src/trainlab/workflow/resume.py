"""What a sweep job does with the folder it is given: run, resume, or skip.

A re-entered sweep (``resume_sweep=<folder>``) hands every job the folder it had before
(folder names are ``<job number>_<overrides>``, so the same command maps each job to the same
folder). :func:`plan_job` reads what is there:

- ``manifest.json`` says ``finished`` -> skip, returning the recorded metric;
- otherwise ``checkpoints/last.ckpt`` exists -> resume the full training state from it;
- otherwise -> train from scratch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"


@dataclass(frozen=True)
class JobPlan:
    """The decision for one job folder.

    Attributes:
        action: ``run`` (fresh), ``resume`` (from ``checkpoint``) or ``skip`` (already finished).
        checkpoint: The ``last.ckpt`` to resume from, for ``resume``.
        manifest: The manifest found in the folder, if any.
    """

    action: Literal["run", "resume", "skip"]
    checkpoint: Path | None = None
    manifest: dict[str, Any] | None = None


def read_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``manifest.json`` as a dict, or ``None`` when absent.

    Raises:
        ValueError: the file exists but is not valid JSON (the message names the file).
    """
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg}); delete the file to run the job afresh") from error


def plan_job(run_dir: str | Path) -> JobPlan:
    """Decide whether the job in ``run_dir`` runs afresh, resumes from ``last.ckpt`` or is skipped."""
    manifest = read_manifest(run_dir)
    if manifest is not None and manifest.get("status") == "finished":
        return JobPlan("skip", manifest=manifest)
    checkpoint = Path(run_dir) / LAST_CHECKPOINT
    if checkpoint.is_file():
        return JobPlan("resume", checkpoint=checkpoint, manifest=manifest)
    return JobPlan("run", manifest=manifest)
