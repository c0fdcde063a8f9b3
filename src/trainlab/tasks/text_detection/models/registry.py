"""Registry of text-detection architectures, reached by name from ``model.architecture_name``.

Each architecture lives in its own file and registers a builder with
:func:`register_architecture`; :func:`build_detector` is the single door in (the timm
pattern: ``@register_model`` plus ``create_model``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

_ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}
_FAMILY_OF: dict[str, str] = {}


def register_architecture(name: str, family: str = "db") -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering ``builder(**config) -> nn.Module`` under ``name``.

    Args:
        name: The ``model.architecture_name`` value.
        family: Its detector family (targets, loss, post-processing), see
            :mod:`trainlab.tasks.text_detection.family`.

    Raises:
        ValueError: ``name`` is already registered.
    """

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _ARCHITECTURES:
            raise ValueError(f"architecture {name!r} is already registered")
        _ARCHITECTURES[name] = builder
        _FAMILY_OF[name] = family
        return builder

    return decorate


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
        **config: Passed to the architecture's builder (``encoder``, ``neck``, ``head`` dicts).

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    _check(architecture_name)
    return _ARCHITECTURES[architecture_name](**config)


def _import_builtin() -> None:
    # Architectures register themselves on import.
    from trainlab.tasks.text_detection.models import dbnet  # noqa: F401
    from trainlab.tasks.text_detection.models import ppocr_det  # noqa: F401
