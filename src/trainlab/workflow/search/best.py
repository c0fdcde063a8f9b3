"""The best trial as a ready-to-run experiment config.

:func:`write_best_experiment` writes ``<search folder>/configs/experiment/<name>.yaml``, a
``# @package _global_`` overlay that ``trainlab train`` runs with::

    trainlab train --config-dir <search folder>/configs experiment=<name>

Its defaults list includes the experiment the search ran (so later fixes to that recipe
apply) plus the config-group choices the trial changed; its body holds every value in which
the trial's config differs from that base: the sampled parameters, the search's own
command-line overrides and what the ``hparams_search`` config set. Composing it therefore
gives the trial's config again (run folder, ``exp_name`` and ``ckpt_path`` aside).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from trainlab.engine.io import atomic_write_text

# Keys of a trial config that describe the search or the run folder, not the recipe
# (``test``: trials skip the test split; the best experiment keeps the training default).
NOT_RECIPE = {"search", "exp_name", "ckpt_path", "resume_sweep", "test"}
NOT_RECIPE_PATHS = {"output_dir"}
# Config groups that are not part of a recipe.
NOT_RECIPE_GROUPS = {"experiment", "hparams_search", "launcher"}


def config_diff(trial: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """Nested mapping of the values of ``trial`` that differ from ``base`` (keys only in ``base`` become ``None``)."""
    diff: dict[str, Any] = {}
    for key, value in trial.items():
        if key not in base:
            diff[key] = value
        elif isinstance(value, Mapping) and isinstance(base[key], Mapping):
            nested = config_diff(value, base[key])
            if nested:
                diff[key] = nested
        elif value != base[key]:
            diff[key] = value
    for key in base:
        if key not in trial:
            diff[key] = None
    return diff


def recipe_overlay(trial: DictConfig | Mapping[str, Any], base: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """:func:`config_diff` of two composed ``train`` configs (unresolved), without search and folder keys."""
    def plain(config: Any) -> dict[str, Any]:
        data = OmegaConf.to_container(config, resolve=False) if isinstance(config, DictConfig) else dict(config)
        data = {k: v for k, v in data.items() if k not in NOT_RECIPE and k != "hydra"}
        data["paths"] = {k: v for k, v in (data.get("paths") or {}).items() if k not in NOT_RECIPE_PATHS}
        return data
    return config_diff(plain(trial), plain(base))


def group_overrides(trial_choices: Mapping[str, Any], base_choices: Mapping[str, Any]) -> dict[str, Any]:
    """Config-group choices of the trial that differ from the base (Hydra's own ``hydra/*`` groups excluded)."""
    return {group: choice for group, choice in trial_choices.items()
            if not group.startswith("hydra") and group not in NOT_RECIPE_GROUPS and base_choices.get(group) != choice}


def write_best_experiment(path: str | Path, base_experiment: str | None, groups: Mapping[str, Any],
                          values: Mapping[str, Any], header: str) -> Path:
    """Write the overlay (see the module docstring) atomically.

    Args:
        path: ``.../configs/experiment/<name>.yaml``.
        base_experiment: The experiment the search ran (``None``: none).
        groups: Group choices to override (``{"optimizer": "adamw"}``).
        values: Nested values to set.
        header: Comment lines put on top (without ``#``).

    Returns:
        The path written.
    """
    defaults: list[Any] = [base_experiment] if base_experiment else []
    defaults += [{f"override /{group}": choice} for group, choice in sorted(groups.items())]
    defaults.append("_self_")
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    body = yaml.safe_dump({"defaults": defaults, **values}, sort_keys=False, default_flow_style=False)
    return atomic_write_text(path, "# @package _global_\n" + comment + body)
