"""Detector families: what kind of maps a detector learns and how they are decoded.

Architectures differ in their networks but share a *family*: DBNet, DBNet++ and the
PP-OCR detector all predict a probability map trained with DB targets and the DB loss and
decoded by DB post-processing (family ``"db"``); CRAFT predicts region and affinity scores
(family ``"craft"``). A :class:`DetectorFamily` bundles the four family-specific pieces —
target builder, loss, post-processing and its threshold grid — so the dataset and the
LightningModule stay family-agnostic.

Config sections stay flat across families (``data.targets``, ``model.loss``,
``model.head.postprocess``, ``model.tune_postprocess``): each family takes the keys it
knows; a key that no family knows is an error (a typo), so switching
``model.architecture_name`` never needs other config edits.
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
    """The keys of a flat config section that ``family`` takes.

    Args:
        family: The detector family.
        options: The section (``data.targets``, ``model.loss`` or ``model.head.postprocess``).
        section: Which one: ``"targets"``, ``"loss"`` or ``"postprocess"``.

    Raises:
        ValueError: a key that no registered family knows (a typo); the message lists the
            keys of ``family``.
    """
    _import_builtin()
    keys_of = {"targets": DetectorFamily.target_keys, "loss": DetectorFamily.loss_keys,
               "postprocess": DetectorFamily.postprocess_keys}[section]
    options = dict(options or {})
    known = set().union(*(keys_of(f) for f in _FAMILIES.values()))
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown {section} option(s) {', '.join(unknown)}; "
                         f"the {family.name} family takes: {', '.join(sorted(keys_of(family)))}")
    own = keys_of(family)
    return {k: v for k, v in options.items() if k in own}


def grid_values(family: DetectorFamily, tune_config: Mapping[str, Any]) -> list[tuple[str, Sequence[Any]]]:
    """``(parameter, values)`` pairs of the family's tuned parameters present in ``tune_config``."""
    return [(key, list(tune_config[key])) for key in family.tune_keys if tune_config.get(key)]


def _import_builtin() -> None:
    # Families register themselves on import.
    from trainlab.tasks.text_detection.families import craft, db  # noqa: F401
