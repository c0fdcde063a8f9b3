"""A transformer encoder over CGM readings with key-padding masks for missing ones.

The history is cut into patches of ``patch_size`` consecutive slots, one token each (PatchTST:
Nie et al., "A time series is worth 64 words", ICLR 2023, Sec. 3.1; ``patch_size=1`` makes every
reading a token, which costs ~ (L / P)^2 more attention than 288 readings in 48 patches of 6).
A token holds its slots' standardised readings, their changes from the last reading and their
observed flags (0 where missing: nothing is interpolated), and the time of day of its last slot
as a point on the unit circle, projected to ``d_model`` and added to a learned position
embedding (Vaswani et al., "Attention is all you need", NeurIPS 2017, Sec. 3.5, with learned
positions as in BERT). Patches without any reading are excluded from attention by the
key-padding mask (``torch.nn.TransformerEncoder``'s ``src_key_padding_mask``); with
``patch_size=1`` that is every missing reading. The last token (it holds the last reading,
always observed) is read by a linear head that predicts the ``H`` future changes from
the last reading at once (direct multi-output forecasting; Taieb & Hyndman 2012 compare it with
recursive forecasting), in units of the training readings' standard deviation.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class GlucoseTransformer(nn.Module):
    """Transformer encoder forecaster over patches of readings.

    Args:
        history_slots: ``L`` slots per window (a multiple of ``patch_size``).
        horizon: ``H`` predicted steps.
        patch_size: ``P`` slots per token (``L / P`` tokens).
        d_model, nhead, num_layers, dim_feedforward, dropout: ``nn.TransformerEncoderLayer`` settings
            (pre-norm, GELU).
        time_of_day: Add the time of day of each patch's last slot (sin, cos of 2 pi minute / 1440).

    Shapes (``B`` windows): ``values`` ``(B, L)`` float32 standardised readings (0 where missing),
    ``change`` ``(B, L)`` float32 standardised change from the last reading (0 where missing),
    ``observed`` ``(B, L)`` bool, ``minute_of_day`` ``(B, L)`` float32 minutes -> ``(B, H)``
    float32 standardised changes from the last reading.

    Raises:
        ValueError: ``history_slots`` not a multiple of ``patch_size``.
    """

    def __init__(self, history_slots: int, horizon: int, patch_size: int = 6, d_model: int = 32, nhead: int = 4,
                 num_layers: int = 2, dim_feedforward: int = 64, dropout: float = 0.1, time_of_day: bool = True):
        super().__init__()
        if patch_size < 1 or history_slots % patch_size:
            raise ValueError(f"model.patch_size={patch_size} must divide the history's {history_slots} slots")
        self.history_slots, self.horizon, self.patch_size = int(history_slots), int(horizon), int(patch_size)
        self.time_of_day = bool(time_of_day)
        self.num_tokens = self.history_slots // self.patch_size
        self.embed = nn.Linear(3 * self.patch_size + (2 if self.time_of_day else 0), d_model)
        self.position = nn.Parameter(torch.zeros(1, self.num_tokens, d_model))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.head = nn.Linear(d_model, self.horizon)

    def tokens(self, values: torch.Tensor, change: torch.Tensor, observed: torch.Tensor,
               minute_of_day: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, L/P, d_model)`` token embeddings with positions, and the ``(B, L/P)`` bool padding
        mask (``True``: a patch without any reading)."""
        batch, length = values.shape
        shape = (batch, length // self.patch_size, self.patch_size)
        flags = observed.to(values.dtype)
        features = [values.reshape(shape), change.reshape(shape), flags.reshape(shape)]
        if self.time_of_day:
            angle = minute_of_day.reshape(shape)[..., -1:] * (2 * math.pi / 1440.0)
            features += [torch.sin(angle), torch.cos(angle)]
        tokens = self.embed(torch.cat(features, dim=-1)) + self.position[:, -shape[1]:]
        return tokens, ~observed.reshape(shape).any(dim=-1)

    def forward(self, values: torch.Tensor, change: torch.Tensor, observed: torch.Tensor,
                minute_of_day: torch.Tensor) -> torch.Tensor:
        tokens, padding = self.tokens(values, change, observed, minute_of_day)
        return self.head(self.encoder(tokens, src_key_padding_mask=padding)[:, -1])

    @torch.no_grad()
    def last_token_attention(self, values: torch.Tensor, change: torch.Tensor, observed: torch.Tensor,
                             minute_of_day: torch.Tensor) -> torch.Tensor:
        """``(B, L/P)`` float32: the last layer's attention of the last token over the history's
        patches, averaged over heads (0 on masked patches; each row sums to 1)."""
        x, padding = self.tokens(values, change, observed, minute_of_day)
        layers = list(self.encoder.layers)
        for layer in layers[:-1]:
            x = layer(x, src_key_padding_mask=padding)
        last = layers[-1]
        normed = last.norm1(x)
        _, weights = last.self_attn(normed[:, -1:], normed, normed, key_padding_mask=padding, need_weights=True,
                                    average_attn_weights=True)
        return weights[:, 0]
