"""Registry of text-detection architectures, reached by name from ``model.architecture_name``.

Each architecture lives in its own file and registers a builder with
:func:`register_architecture`; :func:`build_detector` is the single door in (the timm
pattern: ``@register_model`` plus ``create_model``).

Each architecture declares the ``model.neck`` and ``model.head`` keys it takes; any other key
is an error that lists them (a typo, or another architecture's key, e.g. DBNet++'s
``channel_attention`` on a DBNet), like the family sections (see
:mod:`trainlab.tasks.text_detection.family`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from torch import nn

_ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}
_FAMILY_OF: dict[str, str] = {}
# Declared config keys per section ("neck", "head") and architecture; None: the whole section.
_SECTION_KEYS: dict[str, dict[str, frozenset[str] | None]] = {"neck": {}, "head": {}}


def register_architecture(name: str, family: str = "db", neck_keys: Iterable[str] | None = None,
                          head_keys: Iterable[str] | None = None) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering ``builder(encoder=dict, neck=dict, head=dict) -> nn.Module`` under ``name``.

    Args:
        name: The ``model.architecture_name`` value.
        family: Its detector family (targets, loss, post-processing), see
            :mod:`trainlab.tasks.text_detection.family`.
        neck_keys: The ``model.neck`` keys the builder takes; any other key is an error.
            None passes the section unchecked.
        head_keys: The same for ``model.head`` (``postprocess`` is never passed).

    Raises:
        ValueError: ``name`` is already registered.
    """

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _ARCHITECTURES:
            raise ValueError(f"architecture {name!r} is already registered")
        _ARCHITECTURES[name] = builder
        _FAMILY_OF[name] = family
        _SECTION_KEYS["neck"][name] = None if neck_keys is None else frozenset(neck_keys)
        _SECTION_KEYS["head"][name] = None if head_keys is None else frozenset(head_keys)
        return builder

    return decorate


def select_section(architecture_name: str, section: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check the ``model.<section>`` config of ``architecture_name``: only keys it declares.

    Args:
        architecture_name: A registered architecture.
        section: ``"neck"`` or ``"head"``.
        options: The config section.

    Returns:
        The section as a plain dict.

    Raises:
        ValueError: unknown architecture, or a key it does not declare (the message lists the
            keys it takes).
    """
    _check(architecture_name)
    options = dict(options or {})
    own = _SECTION_KEYS[section][architecture_name]
    if own is None:
        return options
    unknown = sorted(set(options) - own)
    if unknown:
        raise ValueError(f"unknown model.{section} option(s) {', '.join(unknown)} for {architecture_name}; "
                         f"it takes: {', '.join(sorted(own)) or 'none'}")
    return options


def architecture_family(architecture_name: str) -> str:
    """The detector family of a registered architecture.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    _check(architecture_name)
    return _FAMILY_OF[architecture_name]


def _check(architecture_name: str) -> None:
    _import_builtin()
    if architecture_name not in _ARCHITECTURES:
        raise ValueError(
            f"unknown model.architecture_name {architecture_name!r}; valid: {', '.join(sorted(_ARCHITECTURES))}"
        )


def list_architectures() -> list[str]:
    """Registered architecture names, sorted."""
    _import_builtin()
    return sorted(_ARCHITECTURES)


def build_detector(architecture_name: str, **config: Any) -> nn.Module:
    """Build a registered detector.

    Args:
        architecture_name: e.g. ``"dbnet"``.
        **config: Passed to the architecture's builder: ``encoder``, ``neck``, ``head`` dicts;
            ``neck`` and ``head`` are reduced to the keys the architecture declares
            (:func:`select_section`).

    Raises:
        ValueError: unknown name (the message lists the valid ones), or an unknown
            ``neck``/``head`` key.
    """
    _check(architecture_name)
    for section in ("neck", "head"):
        if section in config:
            config[section] = select_section(architecture_name, section, config[section])
    return _ARCHITECTURES[architecture_name](**config)


def _import_builtin() -> None:
    # Architectures register themselves on import.
    from trainlab.tasks.text_detection.models import craft, dbnet, dbnetpp  # noqa: F401
    from trainlab.tasks.text_detection.models import ppocr_det  # noqa: F401
