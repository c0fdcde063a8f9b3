"""``ppocr_det``: PaddleOCR's pretrained PP-OCRv4 mobile text detector, fine-tunable in trainlab.

Source: PaddleOCR PP-OCRv4 (``configs/det/PP-OCRv4/PP-OCRv4_mobile_det.yml``: PPLCNetV3
x0.75 backbone, RSE-FPN neck, DB head, Apache-2.0), i.e. DBNet (Liao et al., AAAI 2020)
trained by PaddlePaddle on Chinese and English documents and scenes. The weights come from
the ONNX export that the PyPI package ``rapidocr-onnxruntime`` 1.4.x ships, converted to
torch by :mod:`~trainlab.layers.pretrained_ppocr`.

The network is fixed: its options are ``model.head.freeze_norm``, ``threshold_branch`` and
``k``; other ``model.encoder``, ``model.neck`` and ``model.head`` settings (``head.postprocess``
aside, which the DB family reads) do not apply to it and are ignored with a warning that names
them, so ``model.architecture_name=ppocr_det`` can be switched on from any model config. It
belongs to the DB family. The exported network predicts the probability map only (PaddleOCR
drops the threshold branch from inference models), so by default the DB loss
reduces to its probability-map term; ``configs/model/ppocr_det.yaml`` makes that term the
dice loss PaddleOCR trained the detector with (``prob_loss: dice``). With
``model.head.threshold_branch=true`` a new threshold branch (DBNet's, initialised afresh) reads
the neck's features, and fine-tuning uses the whole DB loss, as PaddleOCR's training model has
it (probability, approximate binary and threshold maps); inference still uses the probability
map alone.

Pre-processing: trainlab feeds RGB images normalised with the ImageNet statistics
(:func:`~trainlab.tasks.text_detection.data.transforms.normalize`); PaddleOCR trained the
detector on BGR images normalised with the same numbers applied in B, G, R order
(``DecodeImage: img_mode BGR`` then ``NormalizeImage``). :class:`PPOCRDet` converts one into
the other exactly (a channel flip and a per-channel affine map) before the network, so the
same data pipeline serves every architecture. PaddleOCR's test-time resize is reproduced by
the resize policy ``mode: min_side_limit`` (see
:func:`~trainlab.tasks.text_detection.data.transforms.target_size`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from trainlab.layers.pretrained_ppocr import converted_ppocr_det, expose_neck_features, paddle_input_affine
from trainlab.tasks.text_detection.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from trainlab.tasks.text_detection.models.db_head import db_branch
from trainlab.tasks.text_detection.models.registry import register_architecture


class PPOCRDet(nn.Module):
    """The converted PP-OCRv4 detector behind trainlab's input convention.

    Args:
        network: The converted detector (:func:`converted_ppocr_det`), taking Paddle-normalised
            BGR images.
        input_mean: Per-channel RGB mean that trainlab's normalisation subtracted (in ``[0, 1]``).
        input_std: Per-channel RGB std that trainlab's normalisation divided by.
        freeze_norm: Keep every batch-norm layer in eval mode, also while training: the
            running statistics stay PaddleOCR's and batches are normalised with them (the
            scale and shift parameters still train). The backbone's and neck's batch-norms
            are already folded into their convolutions; this concerns the three of the DB head
            (a new threshold branch's batch-norms train as usual).
        threshold_branch: Add DBNet's threshold branch on the neck's stride-4 features
            (Liao et al., AAAI 2020, Sec. 3.2-3.3; the layout of PaddleOCR's ``DBHead.thresh``),
            randomly initialised, so that training can use the whole DB loss.
        k: Amplifying factor of the approximate binary map ``1 / (1 + exp(-k (P - T)))`` (50).

    Input: ``(B, 3, H, W)`` float32 RGB images, ``(x / 255 - input_mean) / input_std``;
    ``H`` and ``W`` multiples of 32.
    Output: ``{"prob_map": (B, 1, H, W)}`` float32 text probabilities in ``[0, 1]``; with
    ``threshold_branch``, in training mode also ``thresh_map`` and ``binary_map``, same shape.
    """

    def __init__(self, network: nn.Module, input_mean: Sequence[float] = IMAGENET_MEAN,
                 input_std: Sequence[float] = IMAGENET_STD, freeze_norm: bool = True,
                 threshold_branch: bool = False, k: float = 50.0):
        super().__init__()
        self.network = network
        self.freeze_norm = freeze_norm
        self.k = float(k)
        self.thresh_branch = db_branch(expose_neck_features(network)) if threshold_branch else None
        # Paddle channel k (B, G, R) = RGB channel 2 - k: x_paddle = x_rgb[2 - k] * scale[k] + shift[k].
        scale, shift = paddle_input_affine(input_mean, input_std)
        self.register_buffer("input_scale", scale, persistent=False)
        self.register_buffer("input_shift", shift, persistent=False)
        self._hold_norm()

    def train(self, mode: bool = True) -> PPOCRDet:
        """Set training mode; with ``freeze_norm`` the batch-norm layers stay in eval mode."""
        super().train(mode)
        self._hold_norm()
        return self

    def _hold_norm(self) -> None:
        """Put the batch-norm layers in eval mode when ``freeze_norm`` is on.

        Called by :meth:`train` and again at every training forward: Lightning does not call
        ``train()`` at the start of a fit and restores each submodule's ``training`` flag
        directly after validation, so an override of ``train()`` alone can be bypassed.
        """
        if self.freeze_norm:
            for module in self.network.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.training = False

    def to_paddle_input(self, images: torch.Tensor) -> torch.Tensor:
        """trainlab-normalised RGB ``(B, 3, H, W)`` to Paddle-normalised BGR ``(B, 3, H, W)``, float32."""
        return images.flip(1) * self.input_scale + self.input_shift

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.training:
            self._hold_norm()
        output = self.network(self.to_paddle_input(images))
        if self.thresh_branch is None:
            return {"prob_map": output}
        prob_map, features = output
        if not self.training:
            return {"prob_map": prob_map}
        thresh_map = torch.sigmoid(self.thresh_branch(features))
        return {"prob_map": prob_map, "thresh_map": thresh_map,
                "binary_map": torch.sigmoid(self.k * (prob_map - thresh_map))}


def _settings(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """The keys of a config section that ask for something (``None``/``False`` ask for nothing)."""
    return {k: v for k, v in (section or {}).items() if v is not None and v is not False}


@register_architecture("ppocr_det", family="db", neck_keys=(), head_keys=("freeze_norm", "threshold_branch", "k"))
def build_ppocr_det(encoder: Mapping[str, Any] | None = None, neck: Mapping[str, Any] | None = None,
                    head: Mapping[str, Any] | None = None) -> PPOCRDet:
    """Build the PP-OCRv4 detector with its pretrained weights.

    Args:
        encoder: Must ask for nothing (the PPLCNetV3 backbone is fixed): empty, or keys set
            to ``None``/``False``.
        neck: Empty likewise (RSE-FPN; the registry rejects any key).
        head: ``freeze_norm`` (bool, default true), ``threshold_branch`` (bool, default false)
            and ``k`` (float, 50), see :class:`PPOCRDet` (``postprocess`` never reaches here).

    Raises:
        ValueError: an encoder setting (the network is fixed).
        PPOCRUnavailableError: ``onnx``, ``onnx2torch`` or ``rapidocr-onnxruntime`` is not
            installed (the message says what to install).
    """
    head = dict(head or {})
    freeze_norm = bool(head.pop("freeze_norm", True))
    threshold_branch = bool(head.pop("threshold_branch", False))
    k = head.pop("k", None)
    k = 50.0 if k is None else float(k)
    settings = [f"model.encoder.{key}={value}" for key, value in _settings(encoder).items()]
    if settings:
        raise ValueError(f"ppocr_det is PaddleOCR's fixed PP-OCRv4 network and takes no encoder settings; got "
                         f"{', '.join(settings)} (use model=text_detection/ppocr_det for a config without them)")
    return PPOCRDet(converted_ppocr_det(), freeze_norm=freeze_norm, threshold_branch=threshold_branch, k=k)
