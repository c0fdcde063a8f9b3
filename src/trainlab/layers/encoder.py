"""Backbone encoders from timm: any ``features_only`` model, chosen by name.

Encoders are never copied into trainlab: ``timm.create_model(name, features_only=True)``
is the single door (timm, R. Wightman, https://github.com/huggingface/pytorch-image-models).
The encoder returns the feature maps at strides 4, 8, 16 and 32, the pyramid that the DB
neck (FPN) expects.
"""

from __future__ import annotations

import difflib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import timm
import torch
from torch import nn

PYRAMID_STRIDES = (4, 8, 16, 32)
HUB_PROBE_TIMEOUT_S = 3.0  # seconds to wait for the Hugging Face hub before declaring it unreachable


class EncoderError(RuntimeError):
    """An encoder cannot be built or its weights cannot be loaded (message says what to do)."""


class TimmEncoder(nn.Module):
    """A timm ``features_only`` backbone returning the stride-4/8/16/32 feature maps.

    Args:
        model_name: Any timm model that supports ``features_only=True`` and reaches stride
            32 (e.g. ``resnet18``, ``resnet50``, ``hrnet_w44``, ``convnext_tiny``,
            ``efficientnet_b3``).
        pretrained: Load timm's pretrained weights: timm's normal loading when the
            Hugging Face hub is reachable; otherwise the copy in the local Hugging Face or
            torch-hub cache; otherwise :class:`EncoderError` at once (no download retries).
        checkpoint: Path of a local state dict (``.pth``/``.pt``/``.safetensors``) to load
            into the encoder instead; takes precedence over ``pretrained``.
        drop_path_rate: Stochastic-depth rate, for models that support it.
        with_stride2: Also return the stride-2 feature map first, when the model has one
            (U-Net decoders such as CRAFT's use it; DB necks do not).

    Input: ``(B, 3, H, W)`` float32 images, ``H`` and ``W`` multiples of 32.
    Output: a list of tensors ``(B, C_i, H / s, W / s)`` for ``s`` in :attr:`strides`
    (4, 8, 16, 32, with 2 first when ``with_stride2`` and available); channel counts are
    in :attr:`out_channels`.

    Raises:
        EncoderError: unknown model name, no stride-4..32 features, or weights unavailable.
    """

    def __init__(
        self,
        model_name: str = "resnet18",
        pretrained: bool = False,
        checkpoint: str | None = None,
        drop_path_rate: float | None = None,
        with_stride2: bool = False,
    ):
        super().__init__()
        if not timm.is_model(model_name):
            close = difflib.get_close_matches(model_name, timm.list_models(), n=8, cutoff=0.6)
            raise EncoderError(f"unknown timm model {model_name!r}; similar names: {', '.join(close) or 'none'}")
        kwargs = {}
        if drop_path_rate is not None:
            kwargs["drop_path_rate"] = drop_path_rate
        use_timm_weights = bool(pretrained) and not checkpoint
        if use_timm_weights:
            local = local_pretrained_file(model_name)
            if local:
                kwargs["pretrained_cfg_overlay"] = {"file": local}
        try:
            self.body = timm.create_model(model_name, features_only=True, pretrained=use_timm_weights, **kwargs)
        except Exception as error:  # timm raises assorted errors for offline downloads
            if use_timm_weights:
                raise EncoderError(
                    f"could not load pretrained weights for {model_name!r} ({type(error).__name__}: {error}). "
                    "Without network access, download the weights elsewhere and pass "
                    "model.encoder.checkpoint=<file>, or set model.encoder.pretrained=false."
                ) from error
            raise EncoderError(f"timm could not build {model_name!r} with features_only=True: {error}") from error
        reductions = list(self.body.feature_info.reduction())
        channels = list(self.body.feature_info.channels())
        self.feature_indices = []
        for stride in PYRAMID_STRIDES:
            if stride not in reductions:
                raise EncoderError(
                    f"{model_name!r} has feature strides {reductions}; DB-style necks need {list(PYRAMID_STRIDES)}"
                )
            self.feature_indices.append(len(reductions) - 1 - reductions[::-1].index(stride))
        self.strides = list(PYRAMID_STRIDES)
        if with_stride2 and 2 in reductions:
            self.feature_indices.insert(0, len(reductions) - 1 - reductions[::-1].index(2))
            self.strides.insert(0, 2)
        self.out_channels = [channels[i] for i in self.feature_indices]
        self.model_name = model_name
        if checkpoint:
            self.load_checkpoint(checkpoint)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Load a local state dict into the encoder (``strict=False``; unmatched keys must be few).

        Accepts timm/torchvision classification checkpoints: classifier keys are dropped and
        the ``features_only`` wrapper's key names are matched.

        Raises:
            EncoderError: the file is missing or shares no keys with the encoder.
        """
        path = Path(path)
        if not path.is_file():
            raise EncoderError(f"encoder checkpoint not found: {path}")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model", "module"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
        own = self.body.state_dict()
        matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not matched:
            raise EncoderError(f"{path}: no tensor matches the {self.model_name!r} encoder's keys and shapes")
        self.body.load_state_dict(matched, strict=False)
        self.loaded_keys = len(matched)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        features = self.body(images)
        return [features[i] for i in self.feature_indices]


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether the Hugging Face hub (``$HF_ENDPOINT``) accepts a TCP connection within ``timeout`` seconds.

    False at once when ``HF_HUB_OFFLINE`` is set. Name resolution is left to the system
    resolver (it fails fast on machines without DNS).
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def cached_pretrained_file(model_name: str) -> str | None:
    """Path of timm's default pretrained weights for ``model_name`` in the local caches, or None.

    Looks in the Hugging Face cache (``model.safetensors`` or ``pytorch_model.bin`` of the
    model's ``hf_hub_id``) and in the torch-hub cache (``<hub dir>/checkpoints/<file>`` of
    its ``url``), where ``timm.create_model(pretrained=True)`` stores what it downloads.
    """
    config = timm.models.get_pretrained_cfg(model_name)
    if config is None:
        return None
    if config.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(config.hf_hub_id, filename)
            if isinstance(found, str) and os.path.isfile(found):
                return found
    if config.url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(config.url).path).name
        if path.is_file():
            return str(path)
    return None


def local_pretrained_file(model_name: str) -> str | None:
    """Decide where timm's pretrained weights come from, without waiting on a dead network.

    Returns:
        None when the hub is reachable (timm loads normally, from its cache or the hub);
        the cached file when it is not.

    Raises:
        EncoderError: the hub is unreachable (or ``HF_HUB_OFFLINE`` is set) and no cached copy
            exists; the message says how to proceed offline.
    """
    if hub_reachable():
        return None
    cached = cached_pretrained_file(model_name)
    if cached:
        return cached
    raise EncoderError(
        f"model.encoder.pretrained=true, but the pretrained weights of {model_name!r} are not in the local cache "
        "and the Hugging Face hub is unreachable (or HF_HUB_OFFLINE is set). Download them on a machine with "
        f"network access (timm.create_model({model_name!r}, pretrained=True) fills the cache), or pass "
        "model.encoder.checkpoint=<local .pth/.safetensors file>, or set model.encoder.pretrained=false."
    )
