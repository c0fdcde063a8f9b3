"""Config helpers: OmegaConf resolvers and instantiation of config groups.

Resolvers (registered on import):

- ``${trainlab_asset:<name>}``: absolute path of a folder shipped inside the package,
  e.g. ``${trainlab_asset:sroie_mini}`` for the embedded receipts.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf


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


def register_resolvers() -> None:
    """Register trainlab's OmegaConf resolvers (idempotent)."""
    if not OmegaConf.has_resolver("trainlab_asset"):
        OmegaConf.register_new_resolver("trainlab_asset", asset_path)


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
