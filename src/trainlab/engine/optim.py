"""Optimizers and learning-rate schedules from config, for any task.

Optimizers and schedules are torch's own (``torch.optim``, ``torch.optim.lr_scheduler``);
this module only maps config names to them, builds parameter groups, and chains an
optional linear warmup in front of a schedule with ``SequentialLR``.

Config (``optimizer`` group)::

    name: adam | adamw | sgd
    lr: 1e-3
    weight_decay: 0.0
    no_decay_norm_and_bias: true   # no weight decay on normalisation weights and biases
    encoder_lr_mult: 1.0           # LR multiplier for parameters under ``encoder_prefix``
    encoder_prefix: net.encoder.
    ...                            # any other keyword of the torch optimizer (betas, momentum, nesterov)

Config (``scheduler`` group)::

    name: none | cosine | cosine_restarts | step | multistep | onecycle | cyclic | poly
    interval: epoch | step         # when the schedule is stepped; its lengths are in that unit
    warmup: 0                      # linear warmup length, in ``interval`` units
    warmup_start_factor: 0.1       # warmup starts at this fraction of the base LR
    ...                            # the torch scheduler's own keywords (T_max, eta_min, ...)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.optim import lr_scheduler

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}

SCHEDULERS: dict[str, type[lr_scheduler.LRScheduler] | None] = {
    "none": None,
    "cosine": lr_scheduler.CosineAnnealingLR,
    "cosine_restarts": lr_scheduler.CosineAnnealingWarmRestarts,
    "step": lr_scheduler.StepLR,
    "multistep": lr_scheduler.MultiStepLR,
    "onecycle": lr_scheduler.OneCycleLR,
    "cyclic": lr_scheduler.CyclicLR,
    "poly": lr_scheduler.PolynomialLR,
}

_OPTIMIZER_META = {"name", "no_decay_norm_and_bias", "encoder_lr_mult", "encoder_prefix"}
_SCHEDULER_META = {"name", "interval", "warmup", "warmup_start_factor", "monitor", "frequency"}


class ConfigError(ValueError):
    """A config value the engine cannot use; the message lists the valid choices."""


def _is_no_decay(name: str, param: nn.Parameter, module_types: Mapping[str, type]) -> bool:
    if param.ndim <= 1 or name.endswith(".bias"):
        return True
    owner = name.rsplit(".", 1)[0]
    return issubclass(module_types.get(owner, object), (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm))


def parameter_groups(model: nn.Module, lr: float, weight_decay: float, no_decay_norm_and_bias: bool = True,
                     encoder_lr_mult: float = 1.0, encoder_prefix: str = "net.encoder.") -> list[dict[str, Any]]:
    """Split trainable parameters into optimizer groups.

    Groups are (encoder or not) x (decayed or not): normalisation weights and biases (all
    1-D parameters) get no weight decay when ``no_decay_norm_and_bias`` (as in timm's
    ``param_groups_weight_decay``), and parameters whose name starts with
    ``encoder_prefix`` get ``lr * encoder_lr_mult``.

    Returns:
        Non-empty groups, each with ``params``, ``lr``, ``weight_decay`` and a ``name``.
    """
    module_types = {name: type(module) for name, module in model.named_modules()}
    groups: dict[tuple[bool, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        in_encoder = encoder_lr_mult != 1.0 and name.startswith(encoder_prefix)
        no_decay = no_decay_norm_and_bias and _is_no_decay(name, param, module_types)
        key = (in_encoder, no_decay)
        if key not in groups:
            groups[key] = {
                "params": [],
                "lr": lr * (encoder_lr_mult if in_encoder else 1.0),
                "weight_decay": 0.0 if no_decay else weight_decay,
                "name": ("encoder" if in_encoder else "main") + ("_no_decay" if no_decay else ""),
            }
        groups[key]["params"].append(param)
    return list(groups.values())


def build_optimizer(model: nn.Module, config: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Build the optimizer named by ``config["name"]`` over ``model``'s parameter groups.

    Raises:
        ConfigError: unknown optimizer name (valid names listed) or bad keyword.
    """
    config = dict(config)
    name = str(config.get("name", "adam")).lower()
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer.name {name!r}; valid: {', '.join(sorted(OPTIMIZERS))}")
    lr = float(config.get("lr", 1e-3))
    weight_decay = float(config.get("weight_decay", 0.0))
    groups = parameter_groups(
        model, lr, weight_decay,
        no_decay_norm_and_bias=bool(config.get("no_decay_norm_and_bias", True)),
        encoder_lr_mult=float(config.get("encoder_lr_mult", 1.0)),
        encoder_prefix=str(config.get("encoder_prefix", "net.encoder.")),
    )
    kwargs = {k: v for k, v in config.items() if k not in _OPTIMIZER_META | {"lr", "weight_decay"}}
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    try:
        return OPTIMIZERS[name](groups, lr=lr, weight_decay=weight_decay, **kwargs)
    except TypeError as error:
        raise ConfigError(f"optimizer {name!r}: {error}") from error


def build_scheduler(optimizer: torch.optim.Optimizer, config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Build the LR schedule named by ``config["name"]``, with optional linear warmup.

    Returns:
        A Lightning ``lr_scheduler`` config dict (``scheduler``, ``interval``,
        ``frequency``), or ``None`` for ``name: none``.

    Raises:
        ConfigError: unknown schedule name (valid names listed), unknown interval, or a
            keyword the torch scheduler does not take.
    """
    if not config:
        return None
    config = dict(config)
    name = str(config.get("name", "none")).lower()
    if name not in SCHEDULERS:
        raise ConfigError(f"unknown scheduler.name {name!r}; valid: {', '.join(SCHEDULERS)}")
    interval = config.get("interval", "epoch")
    if interval not in {"epoch", "step"}:
        raise ConfigError(f"scheduler.interval must be 'epoch' or 'step', got {interval!r}")
    scheduler_class = SCHEDULERS[name]
    if scheduler_class is None:
        return None
    kwargs = {k: v for k, v in config.items() if k not in _SCHEDULER_META}
    for key in ("milestones", "betas"):
        if key in kwargs:
            kwargs[key] = list(kwargs[key])
    try:
        scheduler = scheduler_class(optimizer, **kwargs)
    except TypeError as error:
        raise ConfigError(f"scheduler {name!r}: {error}") from error
    warmup = int(config.get("warmup", 0) or 0)
    if warmup > 0:
        start = float(config.get("warmup_start_factor", 0.1))
        ramp = lr_scheduler.LinearLR(optimizer, start_factor=start, end_factor=1.0, total_iters=warmup)
        scheduler = lr_scheduler.SequentialLR(optimizer, [ramp, scheduler], milestones=[warmup])
    return {"scheduler": scheduler, "interval": interval, "frequency": int(config.get("frequency", 1))}


def iter_learning_rates(optimizer: torch.optim.Optimizer) -> Iterable[tuple[str, float]]:
    """``(group name, current lr)`` for each parameter group."""
    for index, group in enumerate(optimizer.param_groups):
        yield group.get("name", f"group{index}"), float(group["lr"])
