"""The search space, written in YAML under ``search.params``::

    search:
      params:
        optimizer.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}    # log-float
        optimizer.weight_decay: {type: float, low: 0.0, high: 1.0e-3}         # float (step: optional)
        data.batch_size: {type: int, low: 2, high: 8, step: 2}               # int (log: optional)
        model.encoder.model_name: {type: categorical, choices: [resnet18, mobilenetv3_large_100]}
        optimizer: {type: categorical, choices: [adam, adamw]}               # a config group

Each key is a Hydra override key (a value or a config group). Sampling uses Optuna's
``trial.suggest_float`` / ``suggest_int`` / ``suggest_categorical``
(https://optuna.readthedocs.io/en/stable/reference/generated/optuna.trial.Trial.html).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TYPES = ("float", "int", "categorical")
_FIELDS = {"float": {"type", "low", "high", "log", "step"}, "int": {"type", "low", "high", "log", "step"},
           "categorical": {"type", "choices"}}


class SearchSpaceError(ValueError):
    """A search-space entry is malformed; the message names the ``search.params`` key."""


@dataclass(frozen=True)
class Param:
    """One dimension of the search space.

    Attributes:
        key: Hydra override key (``optimizer.lr``, ``optimizer`` for a group).
        type: ``float``, ``int`` or ``categorical``.
        low, high: Bounds (inclusive) of a numeric parameter.
        log: Sample on a log scale (``low`` > 0).
        step: Discretisation step of a numeric parameter, or ``None``.
        choices: Values of a categorical parameter (str, int, float, bool or None).
    """

    key: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """Sample this parameter in an Optuna trial (or ask an enqueued trial for its fixed value)."""
        if self.type == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return trial.suggest_categorical(self.key, list(self.choices))


def parse_param(key: str, spec: Mapping[str, Any]) -> Param:
    """Validate one ``search.params`` entry.

    Raises:
        SearchSpaceError: unknown type or field, missing bounds or choices, ``low >= high``,
            a log scale with ``low <= 0``, ``log`` together with ``step``, or a choice that is
            not a plain scalar.
    """
    where = f"search.params.{key}"
    if not isinstance(spec, Mapping):
        raise SearchSpaceError(f"{where}: expected a mapping such as {{type: float, low: 1e-4, high: 1e-2, log: true}}, "
                               f"got {spec!r}")
    kind = spec.get("type")
    if kind not in TYPES:
        raise SearchSpaceError(f"{where}.type: {kind!r} is not one of {', '.join(TYPES)}")
    unknown = set(spec) - _FIELDS[kind]
    if unknown:
        raise SearchSpaceError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} for type {kind}; "
                               f"allowed: {', '.join(sorted(_FIELDS[kind]))}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, Sequence) or isinstance(choices, str) or not choices:
            raise SearchSpaceError(f"{where}.choices: give a non-empty list, e.g. [adam, adamw]")
        bad = [c for c in choices if c is not None and not isinstance(c, (str, int, float, bool))]
        if bad:
            raise SearchSpaceError(f"{where}.choices: {bad[0]!r} is not a scalar (str, int, float, bool or null)")
        return Param(key, kind, choices=tuple(choices))
    try:
        low, high = float(spec["low"]), float(spec["high"])
    except KeyError as error:
        raise SearchSpaceError(f"{where}: missing {error.args[0]!r} (a {kind} needs low and high)") from None
    except (TypeError, ValueError):
        raise SearchSpaceError(f"{where}: low and high must be numbers, got {spec.get('low')!r}, {spec.get('high')!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise SearchSpaceError(f"{where}: need low < high, got low={low:g}, high={high:g}")
    log, step = bool(spec.get("log", False)), spec.get("step")
    if log and low <= 0:
        raise SearchSpaceError(f"{where}: a log scale needs low > 0, got {low:g}")
    if log and step is not None:
        raise SearchSpaceError(f"{where}: 'log' and 'step' cannot be combined (Optuna samples either on a log scale or on a grid)")
    if kind == "int" and (low != int(low) or high != int(high)):
        raise SearchSpaceError(f"{where}: int bounds must be integers, got {low:g}, {high:g}")
    return Param(key, kind, low, high, log, None if step is None else float(step))


def parse_space(params: Mapping[str, Any] | None) -> list[Param]:
    """Validate the whole ``search.params`` mapping (see the module docstring).

    Raises:
        SearchSpaceError: the space is empty, or an entry is malformed.
    """
    if not params:
        raise SearchSpaceError("search.params is empty: choose a search (hparams_search=<name>) or list parameters, "
                               "e.g. search.params: {optimizer.lr: {type: float, low: 1e-4, high: 1e-2, log: true}}")
    return [parse_param(str(key), spec) for key, spec in params.items()]


_PLAIN = re.compile(r"^[A-Za-z0-9_.\-+/]+$")


def override(key: str, value: Any) -> str:
    """A Hydra command-line override setting ``key`` to ``value`` exactly.

    Floats are written with full precision (``repr``), booleans and ``None`` as Hydra
    literals, strings quoted unless they are plain names or paths.
    """
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = repr(value)
    else:
        text = str(value)
        if not _PLAIN.match(text) or text.lower() in {"null", "true", "false"}:
            text = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return f"{key}={text}"
