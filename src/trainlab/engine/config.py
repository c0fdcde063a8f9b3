"""Config helpers: OmegaConf resolvers and instantiation of config groups.

Resolvers (registered on import):

- ``${trainlab_asset:<name>}``: absolute path of a folder shipped inside the package,
  e.g. ``${trainlab_asset:sroie_mini}`` for the embedded receipts.
- ``${trainlab_safe_name:<text>}``: ``text`` made safe as one folder name;
- ``${trainlab_metric_slug:<metric>}``: a metric name as it appears in file names
  (``val/hmean`` -> ``val_hmean``);
- ``${trainlab_sweep_dir:<existing or null>,<new>}`` and
  ``${trainlab_job_dirname:<sweep dir>,<job number>,<job overrides>}``: the sweep layout
  (:mod:`trainlab.engine.layout`).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from trainlab.engine.layout import job_dirname, safe_name, sweep_dir


def asset_path(name: str) -> str:
    """Absolute path of ``trainlab/assets/<name>``.

    Raises:
        FileNotFoundError: no such asset (the message lists the shipped ones).
    """
    root = resources.files("trainlab") / "assets"
    path = root / name
    if not path.is_dir():
        shipped = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise FileNotFoundError(f"no asset {name!r} in {root}; shipped: {', '.join(shipped)}")
    return str(path)


def metric_slug(metric: str) -> str:
    """``val/hmean`` -> ``val_hmean``: a logged metric's name as a file-name part."""
    return str(metric).replace("/", "_")


def register_resolvers() -> None:
    """Register trainlab's OmegaConf resolvers (idempotent)."""
    for name, function in (("trainlab_asset", asset_path), ("trainlab_safe_name", safe_name),
                           ("trainlab_metric_slug", metric_slug),
                           ("trainlab_sweep_dir", sweep_dir), ("trainlab_job_dirname", job_dirname)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function)


register_resolvers()


def instantiate_group(config: Mapping[str, Any] | None, **kwargs: Any) -> list[Any]:
    """Instantiate every entry of a dict-of-configs group (``callbacks``, ``logger``).

    Entries that are ``None`` or lack ``_target_`` are skipped, so an experiment can switch
    one off with ``callbacks.early_stopping=null``.
    """
    objects = []
    for name, entry in (config or {}).items():
        if entry is None or not isinstance(entry, (Mapping, DictConfig)) or "_target_" not in entry:
            continue
        objects.append(hydra.utils.instantiate(entry, **kwargs, _convert_="all"))
    return objects


def to_plain(config: DictConfig) -> dict[str, Any]:
    """Resolved plain-dict copy of a config (for manifests and checkpoints)."""
    return OmegaConf.to_container(config, resolve=True, throw_on_missing=False)
