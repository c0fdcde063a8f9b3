"""Each detector family's decoding, by family name, without torch: score maps to regions.

The families (:mod:`~trainlab.tasks.text_detection.families`) take their ``decode`` from here, and
the ONNX Runtime path (:mod:`~trainlab.tasks.text_detection.onnx_runtime`), which must not import
torch, looks the decoder up by the family name written in the export's JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from trainlab.tasks.text_detection.postprocess.craft_postprocess import CraftPostprocessConfig, craft_postprocess
from trainlab.tasks.text_detection.postprocess.db_postprocess import DBPostprocessConfig, db_postprocess
from trainlab.tasks.text_detection.types import TextRegion


def db_decode(maps: Mapping[str, np.ndarray], original_size: tuple[int, int],
              config: DBPostprocessConfig) -> list[TextRegion]:
    """DB post-processing (Liao et al., AAAI 2020, Sec. 3.5) of one image's ``prob_map``: ``(h, w)``
    float32 in ``[0, 1]``; regions in pixels of the original ``(H, W)`` image."""
    return db_postprocess(maps["prob_map"], original_size, config)


def craft_decode(maps: Mapping[str, np.ndarray], original_size: tuple[int, int],
                 config: CraftPostprocessConfig) -> list[TextRegion]:
    """CRAFT post-processing (Baek et al., CVPR 2019, Sec. 3.3) of one image's ``region_map`` and
    ``affinity_map``, each ``(h, w)`` float32; regions in pixels of the original ``(H, W)`` image."""
    return craft_postprocess(maps["region_map"], maps["affinity_map"], original_size, config)


DECODERS: dict[str, tuple[type, Callable[..., list[TextRegion]], tuple[str, ...]]] = {
    "db": (DBPostprocessConfig, db_decode, ("prob_map",)),
    "craft": (CraftPostprocessConfig, craft_decode, ("region_map", "affinity_map")),
}
"""Family name -> (post-processing config class, decoder, the score maps it reads)."""


def decoder_for(family: str, postprocess: Mapping[str, Any]) -> tuple[Any, Callable[..., list[TextRegion]], tuple[str, ...]]:
    """``(config, decode, map names)`` of a family, the config built from ``postprocess``.

    Raises:
        ValueError: an unknown family, or a key its config does not take (the message lists both).
    """
    if family not in DECODERS:
        raise ValueError(f"unknown detector family {family!r}; known: {', '.join(DECODERS)}")
    config_class, decode, maps = DECODERS[family]
    try:
        config = config_class(**postprocess)
    except TypeError as error:
        raise ValueError(f"post-processing of the {family} family: {error}") from error
    return config, decode, maps
