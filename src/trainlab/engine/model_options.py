"""Model-level switches any task can turn on: gradient checkpointing, channels-last, ``torch.compile``,
and setting dropout / DropPath rates.

A task's LightningModule calls these on its network (or part of it) from its config; none
changes the ``state_dict`` keys, so checkpoints load whatever the switches were.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from trainlab.engine.optim import ConfigError

log = logging.getLogger(__name__)


def enable_grad_checkpointing(module: nn.Module, enable: bool = True) -> list[str]:
    """Turn on activation (gradient) checkpointing in every timm model inside ``module``.

    Source: Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost": activations
    of checkpointed blocks are recomputed in the backward pass instead of stored. The
    mechanism is timm's ``set_grad_checkpointing`` (``torch.utils.checkpoint`` per stage;
    for ``features_only`` wrappers, per module of the feature list).

    Args:
        module: Any module; its outermost sub-modules that have ``set_grad_checkpointing``
            are switched (a module and its own children are not switched twice).
        enable: On or off.

    Returns:
        Names of the switched sub-modules (``""`` for ``module`` itself).

    Raises:
        ConfigError: no sub-module supports it, or the model refuses it (the message names
            the model class).
    """
    switched: list[str] = []
    for name, child in module.named_modules():
        if not hasattr(child, "set_grad_checkpointing") or any(name.startswith(f"{s}.") or s == "" for s in switched):
            continue
        try:
            child.set_grad_checkpointing(enable)
        except (AssertionError, NotImplementedError, RuntimeError) as error:
            raise ConfigError(f"{type(child).__name__} does not support gradient checkpointing: {error}") from error
        switched.append(name)
    if not switched:
        raise ConfigError(f"gradient checkpointing: no timm model with set_grad_checkpointing() inside "
                          f"{type(module).__name__}; choose a timm encoder (e.g. resnet, convnext) or turn it off")
    return switched


def to_channels_last(module: nn.Module) -> nn.Module:
    """Convert 4-D parameters and buffers of ``module`` to channels-last memory format, in place.

    Source: PyTorch tutorial "Channels Last Memory Format"; faster convolutions on CPU and on
    tensor-core GPUs. Inputs should be made channels-last too (``x.contiguous(memory_format=torch.channels_last)``).

    Returns:
        ``module`` itself.
    """
    return module.to(memory_format=torch.channels_last)


def compile_module(module: nn.Module, options: Mapping[str, Any] | bool | None) -> bool:
    """Compile ``module``'s forward in place with ``torch.compile`` (``nn.Module.compile``).

    The module object and its ``state_dict`` keys stay the same (no ``_orig_mod.`` prefix),
    so checkpoints of compiled and eager runs are interchangeable. Compilation itself
    happens lazily at the first call.

    Args:
        module: The module to compile.
        options: ``False``/``None``/``{"enabled": false}`` to leave it; ``True`` or a dict
            with ``enabled: true`` and any ``torch.compile`` keyword (``mode``,
            ``backend``, ``dynamic``, ``fullgraph``).

    Returns:
        Whether the module was compiled.

    Raises:
        ConfigError: an option ``torch.compile`` does not take.
    """
    if options is None or options is False:
        return False
    kwargs: dict[str, Any] = {}
    if options is not True:
        kwargs = dict(options)
        if not kwargs.pop("enabled", False):
            return False
    allowed = {"mode", "backend", "dynamic", "fullgraph", "options", "disable"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ConfigError(f"compile: unknown option(s) {', '.join(unknown)}; valid: enabled, {', '.join(sorted(allowed))}")
    module.compile(**{k: v for k, v in kwargs.items() if v is not None})
    return True


def dropout_modules(module: nn.Module) -> list[nn.Module]:
    """Every dropout layer of ``module``: ``nn.Dropout``, ``Dropout1d/2d/3d``, ``AlphaDropout``."""
    return [m for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


def drop_path_modules(module: nn.Module) -> list[nn.Module]:
    """Every stochastic-depth layer of ``module`` (timm ``DropPath`` and anything with a float ``drop_prob``)."""
    return [m for m in module.modules() if isinstance(getattr(m, "drop_prob", None), float)]


def set_dropout(module: nn.Module, p: float, drop_path_profile: Mapping[nn.Module, float] | None = None,
                drop_path_scale: float | None = None) -> int:
    """Set the drop probability of every dropout layer, and optionally scale DropPath rates.

    Args:
        module: The model.
        p: New ``p`` of every dropout layer, in ``[0, 1)``.
        drop_path_profile: Each DropPath layer's configured rate (timm sets them rising with
            depth, Huang et al. 2016); with ``drop_path_scale`` each becomes
            ``rate * drop_path_scale``, keeping the depth profile.
        drop_path_scale: Multiplier of the DropPath profile, or ``None`` to leave DropPath.

    Returns:
        Number of layers changed.

    Raises:
        ValueError: ``p`` outside ``[0, 1)``.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout p must be in [0, 1), got {p}")
    layers = dropout_modules(module)
    for layer in layers:
        layer.p = float(p)
    changed = len(layers)
    if drop_path_profile and drop_path_scale is not None:
        for layer, rate in drop_path_profile.items():
            layer.drop_prob = float(min(rate * drop_path_scale, 0.999))
        changed += len(drop_path_profile)
    return changed
