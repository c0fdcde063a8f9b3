"""Where runs are written: sweep folders and job folder names (used by ``configs/hydra/default.yaml``).

- :func:`sweep_dir`: a new timestamped sweep folder, or an earlier one to re-enter
  (``resume_sweep=<folder>``).
- :func:`job_dirname`: ``<job number>_<swept overrides>``, e.g.
  ``3_model.encoder.model_name=resnet18,optimizer.lr=0.001``: only the keys the sweep varies
  name the folder (constant overrides are in the job's ``.hydra/overrides.yaml``), made safe
  by :func:`safe_name`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

# Characters that cannot appear in a folder name on Linux, macOS or Windows, and control characters.
_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f]')
MAX_NAME_BYTES = 200
# Overrides that never name a job folder: they do not change what a job computes.
NOT_NAMING = {"exp_name", "resume_sweep", "launcher", "n_jobs", "hydra.launcher.n_jobs", "hydra.sweep.dir"}


def safe_name(text: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """Make ``text`` usable as a single folder name on every common filesystem.

    ``/ \\ : * ? " < > |`` and control characters become ``_``; ``=`` and ``,`` are kept, so
    override names stay readable. A name longer than ``max_bytes`` UTF-8 bytes (filesystems
    allow 255) is cut and ends with ``~`` and an 8-hex-digit SHA-1 of the full text, so
    distinct long names stay distinct.
    """
    name = _UNSAFE.sub("_", str(text)).strip(" .") or "_"
    if len(name.encode("utf-8")) > max_bytes:
        digest = hashlib.sha1(str(text).encode("utf-8")).hexdigest()[:8]
        name = name.encode("utf-8")[: max_bytes - 9].decode("utf-8", errors="ignore") + "~" + digest
    return name


def sweep_dir(existing: str | None, new: str) -> str:
    """The folder of a sweep: ``existing`` when re-entering one (``resume_sweep=<folder>``), else ``new``.

    Raises:
        FileNotFoundError: ``existing`` is given but is not a folder.
    """
    if existing in (None, "", "None", "null"):
        return new
    if not Path(existing).is_dir():
        raise FileNotFoundError(f"resume_sweep={existing}: no such sweep folder; give the folder of an earlier "
                                f"sweep (it holds multirun.yaml), e.g. outputs/<exp_name>/multirun_<timestamp>")
    return str(existing)


def swept_keys(sweep_overrides: Sequence[str]) -> list[str]:
    """Keys of the sweep overrides (``a=1,2``, ``a=range(3)``, ``a=glob(*)``...) among a command's overrides."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([str(o) for o in sweep_overrides])
    return [o.get_key_element() for o in parsed if o.is_sweep_override()]


def job_dirname(sweep_folder: str, num: int, job_overrides: Sequence[str]) -> str:
    """Folder name of sweep job ``num``: its number and the overrides the sweep varies.

    Args:
        sweep_folder: The sweep folder; its ``multirun.yaml`` (written by Hydra before the jobs
            start) holds the sweep's command-line overrides, which tell which keys vary.
        num: The job number (``hydra.job.num``).
        job_overrides: This job's overrides (``hydra.overrides.task``), one value per key.

    Returns:
        ``<num>_<key=value,...>`` through :func:`safe_name`; when ``multirun.yaml`` cannot be
        read, every override of the job except :data:`NOT_NAMING` names the folder.
    """
    try:
        sweep = OmegaConf.load(Path(sweep_folder) / "multirun.yaml").hydra.overrides.task
        varying = set(swept_keys(list(sweep)))
    except Exception:  # no multirun.yaml (a launcher that does not write one): name by every override
        varying = None
    items = []
    for override in job_overrides:
        key = str(override).split("=", 1)[0]
        if key in NOT_NAMING or (varying is not None and key not in varying):
            continue
        items.append(str(override))
    return safe_name(f"{num}_{','.join(items)}")
