"""Detector families: what kind of maps a detector learns and how they are decoded.

Architectures differ in their networks but share a *family*: DBNet, DBNet++ and the
PP-OCR detector all predict a probability map trained with DB targets and the DB loss and
decoded by DB post-processing (family ``"db"``); CRAFT predicts region and affinity scores
(family ``"craft"``). A :class:`DetectorFamily` bundles the four family-specific pieces —
target builder, loss, post-processing and its threshold grid — so the dataset and the
LightningModule stay family-agnostic.

Each family has its own config sections (``model.targets``, ``model.loss``,
``model.head.postprocess``, ``model.tune_postprocess``), written in its model configs
(``configs/model/text_detection/``): a key the family does not take is an error that lists
the keys it does take, whether it is a typo or another family's key.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from trainlab.tasks.text_detection.types import TextRegion

TargetBuilder = Callable[..., dict[str, np.ndarray]]
Decoder = Callable[[Mapping[str, np.ndarray], tuple[int, int], Any], list[TextRegion]]


@dataclass(frozen=True)
class DetectorFamily:
    """The family-specific pieces of a text detector.

    Attributes:
        name: Family name (``"db"``, ``"craft"``).
        make_targets: ``(polygons, dont_care, transcriptions, height, width, **options)``
            to a dict of ``(height, width)`` float32 target maps; polygons are ``(N, 2)``
            float pixel arrays of the augmented crop.
        loss_class: ``nn.Module`` class; ``loss(outputs, batch)`` returns a dict of scalar
            tensors with the total under ``"loss"``.
        postprocess_config: Dataclass of the decoding parameters (with ``to_dict``).
        decode: ``(maps, original_size, config)`` to regions in original pixels, where
            ``maps`` holds the :attr:`inference_maps` of one image as ``(h, w)`` float32.
        inference_maps: Output keys the decoder needs (e.g. ``("prob_map",)``).
        tune_keys: Post-processing parameters searched on validation.
    """

    name: str
    make_targets: TargetBuilder
    loss_class: type[nn.Module]
    postprocess_config: type
    decode: Decoder
    inference_maps: tuple[str, ...]
    tune_keys: tuple[str, ...]

    def target_keys(self) -> set[str]:
        return _keyword_names(self.make_targets, skip=5)

    def loss_keys(self) -> set[str]:
        return _keyword_names(self.loss_class.__init__, skip=1)

    def postprocess_keys(self) -> set[str]:
        return {f.name for f in dataclasses.fields(self.postprocess_config)}


_FAMILIES: dict[str, DetectorFamily] = {}


def _keyword_names(function: Callable[..., Any], skip: int) -> set[str]:
    parameters = list(inspect.signature(function).parameters.values())[skip:]
    return {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def register_family(family: DetectorFamily) -> DetectorFamily:
    """Register a family under its name.

    Raises:
        ValueError: the name is taken.
    """
    if family.name in _FAMILIES:
        raise ValueError(f"detector family {family.name!r} is already registered")
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> DetectorFamily:
    """The registered family ``name``.

    Raises:
        ValueError: unknown name (valid names listed).
    """
    _import_builtin()
    if name not in _FAMILIES:
        raise ValueError(f"unknown detector family {name!r}; valid: {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]


def select_options(family: DetectorFamily, options: Mapping[str, Any] | None, section: str) -> dict[str, Any]:
    """Check a family config section: every key must be one the family takes.

    Args:
        family: The detector family.
        options: The section (``model.targets``, ``model.loss`` or ``model.head.postprocess``).
        section: Which one: ``"targets"``, ``"loss"`` or ``"postprocess"``.

    Returns:
        The section as a plain dict.

    Raises:
        ValueError: a key the family does not take: a typo, or another family's key (e.g.
            CRAFT's ``region_weight`` on a DBNet); the message lists the family's keys and,
            for another family's key, which config selects that family.
    """
    _import_builtin()
    keys_of = {"targets": DetectorFamily.target_keys, "loss": DetectorFamily.loss_keys,
               "postprocess": DetectorFamily.postprocess_keys}[section]
    options = dict(options or {})
    own = keys_of(family)
    unknown = sorted(set(options) - own)
    if unknown:
        others = sorted({f.name for f in _FAMILIES.values() if f is not family and set(unknown) & keys_of(f)})
        example = {"db": "dbnet"}.get(others[0], others[0]) if others else ""
        hint = f" (keys of the {', '.join(others)} family: choose such a model, e.g. model=text_detection/{example})" \
            if others else ""
        raise ValueError(f"unknown {section} option(s) {', '.join(unknown)} for the {family.name} family{hint}; "
                         f"it takes: {', '.join(sorted(own))}")
    return options


def config_family(postprocess: Mapping[str, Any] | None) -> str | None:
    """The family a ``model.head.postprocess`` section was written for: the one family whose keys
    cover all of it, or ``None`` when none or several do (empty sections, typos, shared keys only)."""
    _import_builtin()
    keys = set(postprocess or {})
    fitting = [name for name, family in _FAMILIES.items() if keys and keys <= family.postprocess_keys()]
    return fitting[0] if len(fitting) == 1 else None


def check_tune_options(family: DetectorFamily, tune_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a ``model.tune_postprocess`` section: ``enabled``, ``every_epoch`` and lists of the
    family's tuned parameters only.

    Raises:
        ValueError: another key (the message lists the valid ones).
    """
    options = dict(tune_config or {})
    valid = {"enabled", "every_epoch", *family.tune_keys}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ValueError(f"unknown tune_postprocess option(s) {', '.join(unknown)} for the {family.name} family; "
                         f"it takes: {', '.join(sorted(valid))}")
    return options


def grid_values(family: DetectorFamily, tune_config: Mapping[str, Any]) -> list[tuple[str, Sequence[Any]]]:
    """``(parameter, values)`` pairs of the family's tuned parameters present in ``tune_config``."""
    return [(key, list(tune_config[key])) for key in family.tune_keys if tune_config.get(key)]


def _import_builtin() -> None:
    # Families register themselves on import.
    from trainlab.tasks.text_detection.families import craft, db  # noqa: F401
