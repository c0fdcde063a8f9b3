"""Optimizers and learning-rate schedules from config, for any task.

Optimizers and schedules are torch's own (``torch.optim``, ``torch.optim.lr_scheduler``);
this module only maps config names to them, builds parameter groups, fills in lengths the
config leaves to the trainer (``T_max``, ``total_steps``, ...), and chains an optional
linear warmup in front of a schedule with ``SequentialLR``.

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
    interval: null | epoch | step  # unit of the schedule's lengths; null: the schedule's own
                                   # (step for onecycle and cyclic, epoch for the others)
    warmup: 0                      # linear warmup length
    warmup_interval: null          # unit of ``warmup``: epoch | step; null: same as interval
    warmup_start_factor: 0.1       # warmup starts at this fraction of the base LR
    eta_min_factor: null           # cosine schedules: eta_min = factor x optimizer lr (wins over eta_min)
    ...                            # the torch scheduler's own keywords (T_max, eta_min, ...)

Stepping unit: the schedule is stepped once per ``interval``. When ``interval`` is ``epoch``
but the warmup is in steps, the whole schedule is stepped per optimizer step and its epoch
lengths (``T_max``, ``T_0``, ``step_size``, ``milestones``, ``total_iters``) are multiplied
by the steps per epoch. Lengths left ``null`` are derived from the run's length:
``T_max`` and ``total_iters`` span the run after warmup, ``total_steps`` (one-cycle) is the
trainer's ``estimated_stepping_batches``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
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

# Schedules that are stepped per optimizer step by nature (Smith 2017, 2018).
PER_STEP_SCHEDULES = {"onecycle", "cyclic"}
# Keywords that are lengths in ``interval`` units, per schedule.
_LENGTH_KEYS = {"T_max", "T_0", "step_size", "milestones", "total_iters", "total_steps", "step_size_up",
                "step_size_down"}

_OPTIMIZER_META = {"name", "no_decay_norm_and_bias", "encoder_lr_mult", "encoder_prefix"}
_SCHEDULER_META = {"name", "interval", "warmup", "warmup_interval", "warmup_start_factor", "eta_min_factor",
                   "monitor", "frequency"}
_INTERVALS = ("epoch", "step")


class ConfigError(ValueError):
    """A config value the engine cannot use; the message names the key and lists the valid choices."""


@dataclass(frozen=True)
class RunLength:
    """How long a run is, for schedules whose lengths are left to the trainer.

    Attributes:
        steps_per_epoch: Optimizer steps per epoch (batches / gradient accumulation, rounded up).
        max_epochs: Epochs of the run.
        total_steps: Optimizer steps of the run (``steps_per_epoch * max_epochs`` unless
            ``max_steps`` caps it).
    """

    steps_per_epoch: int
    max_epochs: int
    total_steps: int

    def total(self, unit: str) -> int:
        """The run's length in ``unit`` (``"epoch"`` or ``"step"``)."""
        return self.total_steps if unit == "step" else self.max_epochs


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
    ``param_groups_weight_decay``; Loshchilov & Hutter 2019, "Decoupled Weight Decay
    Regularization", apply decay to weights only), and parameters whose name starts with
    ``encoder_prefix`` get ``lr * encoder_lr_mult`` (discriminative fine-tuning, Howard &
    Ruder 2018).

    Returns:
        Non-empty groups, each with ``params``, ``lr``, ``weight_decay`` and a ``name``
        (``main``, ``main_no_decay``, ``encoder``, ``encoder_no_decay``).
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

    Sources: SGD with momentum (Polyak 1964; Nesterov momentum as in Sutskever et al.
    2013), Adam (Kingma & Ba 2015), AdamW (Loshchilov & Hutter 2019) — torch's own classes.

    Raises:
        ConfigError: unknown ``optimizer.name`` (valid names listed) or a keyword the torch
            optimizer does not take.
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


def schedule_unit(config: Mapping[str, Any] | None) -> tuple[str, str]:
    """``(interval, warmup_interval)`` of a scheduler config, defaults filled in.

    Raises:
        ConfigError: an interval other than ``epoch`` or ``step``.
    """
    config = dict(config or {})
    name = str(config.get("name", "none")).lower()
    interval = config.get("interval") or ("step" if name in PER_STEP_SCHEDULES else "epoch")
    warmup_interval = config.get("warmup_interval") or interval
    for key, value in (("interval", interval), ("warmup_interval", warmup_interval)):
        if value not in _INTERVALS:
            raise ConfigError(f"scheduler.{key} must be 'epoch' or 'step', got {value!r}")
    return interval, warmup_interval


def needs_run_length(config: Mapping[str, Any] | None) -> bool:
    """Whether :func:`build_scheduler` needs a :class:`RunLength` for this config (a length
    left ``null``, a one-cycle without ``total_steps``, or units to convert)."""
    config = dict(config or {})
    name = str(config.get("name", "none")).lower()
    if name not in SCHEDULERS or SCHEDULERS[name] is None:
        return False
    interval, warmup_interval = schedule_unit(config)
    if interval != warmup_interval and int(config.get("warmup", 0) or 0) > 0:
        return True
    derived = {"cosine": "T_max", "poly": "total_iters", "onecycle": "total_steps"}.get(name)
    if name == "onecycle" and config.get("epochs") and config.get("steps_per_epoch"):
        return False
    return derived is not None and config.get(derived) is None


def _per_group(value: Any, optimizer: torch.optim.Optimizer, base_lr: float) -> list[float]:
    """A scalar LR scaled per group by ``group lr / base lr`` (keeps the encoder multiplier);
    a list is taken as is; ``None`` gives each group's own LR."""
    if value is None:
        return [float(group["lr"]) for group in optimizer.param_groups]
    if isinstance(value, (list, tuple)):
        return [float(v) for v in value]
    return [float(value) * float(group["lr"]) / base_lr for group in optimizer.param_groups]


def build_scheduler(optimizer: torch.optim.Optimizer, config: Mapping[str, Any] | None,
                    run: RunLength | None = None) -> dict[str, Any] | None:
    """Build the LR schedule named by ``config["name"]``, with optional linear warmup.

    Sources: cosine annealing and warm restarts, Loshchilov & Hutter 2017 (SGDR, ICLR);
    cyclic LR (triangular policy), Smith 2017 (WACV); one-cycle, Smith & Topin 2018
    ("Super-Convergence"); linear warmup, Goyal et al. 2017 ("Accurate, Large Minibatch
    SGD", Sec. 2.2); step/multistep decay, He et al. 2016; polynomial decay, Chen et al.
    2018 (DeepLab). The curves are torch's schedulers.

    Args:
        optimizer: The optimizer whose group LRs are scheduled; its current group LRs are
            the base LRs.
        config: The ``scheduler`` section (see module docstring); ``None`` or
            ``name: none`` for a constant LR.
        run: The run's length; needed when :func:`needs_run_length` says so.

    Returns:
        A Lightning ``lr_scheduler`` config dict (``scheduler``, ``interval``,
        ``frequency``, plus ``resolved``: the keywords given to torch after defaults and unit
        conversion, for the run manifest), or ``None`` for ``name: none``.

    Raises:
        ConfigError: unknown ``scheduler.name`` (valid names listed), unknown interval, a
            warmup on a schedule with its own warm-up phase, a length that needs ``run`` when
            none is given, or a keyword the torch scheduler does not take.
    """
    if not config:
        return None
    config = dict(config)
    name = str(config.get("name", "none")).lower()
    if name not in SCHEDULERS:
        raise ConfigError(f"unknown scheduler.name {name!r}; valid: {', '.join(SCHEDULERS)}")
    scheduler_class = SCHEDULERS[name]
    if scheduler_class is None:
        return None
    interval, warmup_interval = schedule_unit(config)
    warmup = int(config.get("warmup", 0) or 0)
    if warmup < 0:
        raise ConfigError(f"scheduler.warmup must be >= 0, got {warmup}")
    if warmup and name in PER_STEP_SCHEDULES:
        raise ConfigError(f"scheduler {name!r} has its own warm-up phase (pct_start / step_size_up); "
                          "set scheduler.warmup=0")
    if needs_run_length(config) and run is None:
        raise ConfigError(f"scheduler {name!r}: this config derives a length from the run "
                          "(steps per epoch, epochs); pass the run length or give the length explicitly")
    unit = "step" if warmup and warmup_interval == "step" else interval
    scale = run.steps_per_epoch if (unit == "step" and interval == "epoch") else 1
    warmup_steps = warmup * (run.steps_per_epoch if (unit == "step" and warmup_interval == "epoch") else 1)

    kwargs = _schedule_keywords(name, scheduler_class, config)
    for key in list(kwargs):
        if key in _LENGTH_KEYS and scale != 1:
            kwargs[key] = [int(v) * scale for v in kwargs[key]] if key == "milestones" else int(kwargs[key]) * scale
    if "milestones" in kwargs:
        kwargs["milestones"] = list(kwargs["milestones"])
    base_lr = float(optimizer.defaults["lr"])
    factor = config.get("eta_min_factor")
    if factor is not None and "eta_min" in _keywords(scheduler_class):
        kwargs["eta_min"] = float(factor) * base_lr  # the factor, when set, wins over an absolute eta_min
    remaining = (run.total(unit) - warmup_steps) if run is not None else None
    if name == "cosine" and "T_max" not in kwargs:
        kwargs["T_max"] = max(1, remaining)
    if name == "poly" and "total_iters" not in kwargs:
        kwargs["total_iters"] = max(1, remaining)
    if name == "onecycle":
        kwargs["max_lr"] = _per_group(kwargs.get("max_lr"), optimizer, base_lr)
        if "total_steps" not in kwargs and not ("epochs" in kwargs and "steps_per_epoch" in kwargs):
            kwargs["total_steps"] = max(1, remaining)
    if name == "cyclic":
        if "max_lr" not in kwargs:
            raise ConfigError("scheduler 'cyclic' needs scheduler.max_lr (the peak LR of the triangle)")
        kwargs["base_lr"] = _per_group(kwargs.get("base_lr"), optimizer, base_lr)
        kwargs["max_lr"] = _per_group(kwargs["max_lr"], optimizer, base_lr)
    try:
        scheduler = scheduler_class(optimizer, **kwargs)
    except TypeError as error:
        raise ConfigError(f"scheduler {name!r}: {error}") from error
    if warmup_steps > 0:
        start = float(config.get("warmup_start_factor", 0.1))
        if not 0.0 < start <= 1.0:
            raise ConfigError(f"scheduler.warmup_start_factor must be in (0, 1], got {start}")
        ramp = lr_scheduler.LinearLR(optimizer, start_factor=start, end_factor=1.0, total_iters=warmup_steps)
        scheduler = lr_scheduler.SequentialLR(optimizer, [ramp, scheduler], milestones=[warmup_steps])
    resolved = {"name": name, "interval": unit, "warmup_steps_or_epochs": warmup_steps,
                **{k: v for k, v in kwargs.items() if isinstance(v, (int, float, str, bool, list))}}
    if run is not None:
        resolved["run"] = asdict(run)
    return {"scheduler": scheduler, "interval": unit, "frequency": int(config.get("frequency", 1)),
            "resolved": resolved}


def _keywords(scheduler_class: type) -> set[str]:
    parameters = list(inspect.signature(scheduler_class.__init__).parameters)
    return set(parameters) - {"self", "optimizer", "last_epoch", "verbose"}


def _schedule_keywords(name: str, scheduler_class: type, config: Mapping[str, Any]) -> dict[str, Any]:
    """The torch keywords of ``config`` for this schedule (``null`` values left to torch's
    defaults). Keys of the other schedules are ignored, so an experiment that tunes one
    schedule still composes with ``scheduler=<another>``; a key no schedule knows is a typo.

    Raises:
        ConfigError: a key that no schedule takes (this schedule's keys listed).
    """
    own = _keywords(scheduler_class)
    known = set().union(*(_keywords(c) for c in SCHEDULERS.values() if c is not None)) | _SCHEDULER_META
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConfigError(f"unknown scheduler option(s) {', '.join(unknown)}; the {name!r} schedule takes: "
                          f"{', '.join(sorted(own | _SCHEDULER_META - {'monitor'}))}")
    return {k: v for k, v in config.items() if k in own and v is not None}


def run_length_from_trainer(trainer: Any) -> RunLength:
    """The :class:`RunLength` of a Lightning trainer's fit (loads the train dataloader).

    Uses ``trainer.estimated_stepping_batches`` (Lightning docs, "LightningModule.configure_optimizers",
    the one-cycle example) and ``trainer.num_training_batches``.

    Raises:
        ConfigError: the run has no finite length (``max_epochs=-1`` and no ``max_steps``).
    """
    total = trainer.estimated_stepping_batches
    if not math.isfinite(total):
        raise ConfigError("the schedule needs a finite run: set trainer.max_epochs or trainer.max_steps")
    batches = trainer.num_training_batches
    steps_per_epoch = max(1, math.ceil(batches / trainer.accumulate_grad_batches)) if math.isfinite(batches) else int(total)
    max_epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else math.ceil(total / steps_per_epoch)
    return RunLength(steps_per_epoch=int(steps_per_epoch), max_epochs=int(max_epochs), total_steps=int(total))


def iter_learning_rates(optimizer: torch.optim.Optimizer) -> Iterable[tuple[str, float]]:
    """``(group name, current lr)`` for each parameter group."""
    for index, group in enumerate(optimizer.param_groups):
        yield group.get("name", f"group{index}"), float(group["lr"])
