"""LightningModule of unfair-clause classification: a pretrained transformer encoder and a linear head.

The recipe of sentence classification with BERT (Devlin et al. 2019, Sec. 4.1; for this task
Chalkidis et al. 2022, LexGLUE, Sec. 4): encoder, pooled sentence vector, dropout, linear
head; binary cross-entropy per label for the multi-label set, cross-entropy for the binary
one; AdamW with weight decay 0.01 (not on biases and LayerNorm weights), linear warmup and
decay, from the engine's optimizer and scheduler sections. Per-class decision thresholds
are chosen on the validation split after training (:meth:`UnfairTosModule.after_fit`) and
stored in the checkpoint.
"""

from __future__ import annotations

import csv
import html
import inspect
import io
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainlab.engine.io import atomic_write_json, atomic_write_text
from trainlab.engine.losses import binary_focal_loss, focal_cross_entropy
from trainlab.engine.module import TrainlabModule
from trainlab.engine.optim import ConfigError, build_optimizer, build_scheduler, needs_run_length, run_length_from_trainer
from trainlab.tasks.unfair_tos.corpus import LabelSet, read_lines
from trainlab.tasks.unfair_tos.encoder import load_encoder, load_tokenizer
from trainlab.tasks.unfair_tos.metrics import apply_thresholds, classification_report, tune_thresholds_for_macro_f1

log = logging.getLogger(__name__)

POOLINGS = ("mean", "cls")
LOSSES = ("bce", "focal", "ce")
HEAD_BIASES = ("zero", "prior")


def prior_bias(prior: np.ndarray, multi_label: bool, eps: float = 1e-4) -> torch.Tensor:
    """Head biases whose untrained scores equal the labels' training shares.

    The prior-probability initialisation of Lin et al. 2017 ("Focal Loss for Dense Object
    Detection", Sec. 3.3 and 4.1): with a zero bias every sigmoid starts at 0.5, and with
    rare labels (1 to 13 % of the sentences here) the first part of training does nothing
    but push every score down, which at fine-tuning learning rates (a bias moves about
    ``lr`` per Adam step) takes longer than the run.

    Args:
        prior: ``(K,)`` share of the training items carrying each label.
        multi_label: ``K`` sigmoids (bias ``log(p / (1 - p))``); else a two-class softmax
            (biases ``[0, log(p / (1 - p))]`` of the single label, ``K`` = 1).
        eps: Shares are clipped to ``[eps, 1 - eps]``.

    Returns:
        ``(K,)`` (multi-label) or ``(2,)`` float32 biases.
    """
    p = np.clip(np.asarray(prior, dtype=np.float64).ravel(), eps, 1 - eps)
    logit = torch.tensor(np.log(p / (1 - p)), dtype=torch.float32)
    return logit if multi_label else torch.cat([logit.new_zeros(1), logit[:1]])


class SentenceClassifier(nn.Module):
    """Encoder, pooling, dropout, linear head.

    Args:
        encoder: A ``transformers`` encoder (``AutoModel``) returning ``last_hidden_state``.
        outputs: Logits per sentence.
        pooling: ``mean`` (masked mean of the last layer, the pooling all-MiniLM-L6-v2 was
            trained with; Reimers & Gurevych 2019, Sentence-BERT, Sec. 3) or ``cls`` (the
            ``[CLS]`` vector, BERT's classification input).
        dropout: Dropout rate before the head.

    Shapes: ``input_ids``, ``attention_mask`` ``(B, T)`` int64 -> logits ``(B, outputs)`` float32.
    """

    def __init__(self, encoder: nn.Module, outputs: int, pooling: str = "mean", dropout: float = 0.1):
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"model.pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, outputs)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B, K)`` float32 from token ids ``(B, T)`` int64 and their attention mask ``(B, T)``
        (1 for tokens, 0 for padding): the encoder's last hidden states pooled (masked mean or
        ``[CLS]``), dropout, the linear head."""
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.head(self.dropout(pooled)).float()


def layer_depth(name: str, num_layers: int) -> int:
    """Depth of a parameter for layer-wise LR decay: embeddings 0, transformer layer ``i`` ``i + 1``,
    everything above (head, pooler) ``num_layers + 1``."""
    if ".embeddings." in name:
        return 0
    match = re.search(r"\.layer\.(\d+)\.", name)
    return int(match.group(1)) + 1 if match else num_layers + 1


def layerwise_groups(module: nn.Module, groups: Sequence[Mapping[str, Any]], decay: float,
                     num_layers: int) -> list[dict[str, Any]]:
    """Split optimizer groups by depth, each depth ``d`` at ``lr x decay^(num_layers + 1 - d)``.

    Layer-wise learning-rate decay (Howard & Ruder 2018, ULMFiT, Sec. 3.2 "discriminative
    fine-tuning"; Sun et al. 2019, "How to Fine-Tune BERT for Text Classification?",
    Sec. 5.3): the head keeps the base LR, lower layers get geometrically less.

    Args:
        module: The module whose parameter names give the depths (:func:`layer_depth`).
        groups: Parameter groups as the engine builds them (``params``, ``lr``, ``weight_decay``, ``name``).
        decay: Factor per layer in ``(0, 1]``.
        num_layers: Transformer layers of the encoder.

    Returns:
        New groups, one per (group, depth), named ``<group>_depth<d>``.
    """
    names = {id(p): n for n, p in module.named_parameters()}
    result = []
    for group in groups:
        by_depth: dict[int, list[nn.Parameter]] = {}
        for param in group["params"]:
            by_depth.setdefault(layer_depth(names[id(param)], num_layers), []).append(param)
        for depth, params in sorted(by_depth.items()):
            result.append({**group, "params": params, "lr": group["lr"] * decay ** (num_layers + 1 - depth),
                           "name": f"{group.get('name', 'group')}_depth{depth}"})
    return result


class UnfairTosModule(TrainlabModule):
    """Unfair-clause classifier of ToS sentences (binary or LexGLUE multi-label).

    Args:
        labels: ``lexglue`` (8 categories; one sigmoid per category) or ``binary`` (two-class
            softmax); configs pass ``${data.labels}``.
        encoder: ``name`` (a local Hugging Face folder or ``all-MiniLM-L6-v2`` from its
            package, :func:`~.encoder.resolve_encoder`) and ``pretrained`` (load its weights).
        pooling: ``mean`` or ``cls`` (:class:`SentenceClassifier`).
        dropout: Dropout before the head.
        loss: ``name`` (``bce`` for lexglue, ``ce`` for binary, or ``focal`` for either:
            Lin et al. 2017 through :mod:`trainlab.engine.losses`), ``pos_weight``
            (``null``, ``balanced`` = negatives/positives per class on the training split,
            ``sqrt`` = its square root, or a list), ``focal_alpha``, ``focal_gamma``,
            ``label_smoothing`` (ce only).
        layerwise_lr_decay: LR factor per layer below the head (1: off; :func:`layerwise_groups`).
        head_bias: ``prior`` (the head's biases start at the log-odds of each label's share of
            the training items, :func:`prior_bias`, set when fitting starts) or ``zero``.
        max_sequence_length: Tokens per sentence at prediction time (configs pass the data's).
        tune_thresholds: Choose per-class thresholds on validation after training.
        thresholds: Decision thresholds per label on the score (sigmoid probability, or the
            softmax probability of "unfair"); ``null``: 0.5 each.
        optimizer, scheduler, channels_last, grad_checkpointing, compile, feature_dropout: the
            engine's sections (:class:`~trainlab.engine.module.TrainlabModule`); gradient
            checkpointing and feature dropout are for timm encoders and are refused here.

    Batches: see :class:`~.data.PadCollator`. Logged: ``<stage>/loss``, ``<stage>/macro_f1``,
    ``micro_f1``, ``binary_f1`` and per class ``f1_<name>``, ``precision_<name>``, ``recall_<name>``
    (:func:`~.metrics.classification_report`).

    Raises:
        ConfigError: an unknown pooling, head bias or loss name, a loss that does not fit the label set,
            a bad ``layerwise_lr_decay`` or thresholds of the wrong length.
        EncoderNotFound: the encoder is not installed (the message names the package).
    """

    def __init__(self, labels: str = "lexglue", encoder: Mapping[str, Any] | None = None, pooling: str = "mean",
                 dropout: float = 0.1, loss: Mapping[str, Any] | None = None, layerwise_lr_decay: float = 1.0,
                 head_bias: str = "zero", max_sequence_length: int = 128, tune_thresholds: bool = True,
                 thresholds: Sequence[float] | None = None, optimizer: Mapping[str, Any] | None = None,
                 scheduler: Mapping[str, Any] | None = None, channels_last: bool = False,
                 grad_checkpointing: bool = False, compile: Mapping[str, Any] | bool | None = None,
                 feature_dropout: float = 0.0):
        super().__init__(optimizer=optimizer, scheduler=scheduler, channels_last=channels_last,
                         grad_checkpointing=grad_checkpointing, compile=compile, feature_dropout=feature_dropout)
        self.save_hyperparameters()
        self.label_set = LabelSet(labels)
        self.names = self.label_set.names
        encoder = dict(encoder or {})
        self.encoder_name = str(encoder.get("name", "all-MiniLM-L6-v2"))
        self.loss_config = {"pos_weight": None, "focal_alpha": 0.25, "focal_gamma": 2.0, "label_smoothing": 0.0,
                            **dict(loss or {})}
        self.loss_config["name"] = self.loss_config.get("name") or ("bce" if self.label_set.multi_label else "ce")
        name = self.loss_config["name"]
        allowed = ("bce", "focal") if self.label_set.multi_label else ("ce", "focal")
        if name not in allowed:
            raise ConfigError(f"model.loss.name={name!r} does not fit the {labels} label set; use one of {', '.join(allowed)}")
        if not 0.0 < float(layerwise_lr_decay) <= 1.0:
            raise ConfigError(f"model.layerwise_lr_decay must be in (0, 1], got {layerwise_lr_decay}")
        self.layerwise_lr_decay = float(layerwise_lr_decay)
        if head_bias not in HEAD_BIASES:
            raise ConfigError(f"model.head_bias must be one of {', '.join(HEAD_BIASES)}, got {head_bias!r}")
        self.head_bias = head_bias
        self.max_sequence_length = int(max_sequence_length)
        self.tune_enabled = bool(tune_thresholds)
        self.thresholds = self._check_thresholds(thresholds if thresholds is not None else [0.5] * len(self.names))
        outputs = len(self.names) if self.label_set.multi_label else 2
        self.net = SentenceClassifier(load_encoder(self.encoder_name, bool(encoder.get("pretrained", True))), outputs,
                                      pooling, dropout)
        self.net.train()  # transformers returns its models in eval mode (dropout off); Lightning keeps modes as found
        self.pos_weight: torch.Tensor | None = None
        self._tokenizer: Any = None
        self._outputs: dict[str, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]] = {"val": [], "test": []}
        self.last_scores: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.last_reports: dict[str, dict[str, float]] = {}

    def _check_thresholds(self, values: Sequence[float] | float) -> list[float]:
        values = [float(values)] * len(self.names) if isinstance(values, (int, float)) else [float(v) for v in values]
        if len(values) != len(self.names):
            raise ConfigError(f"{len(values)} thresholds for {len(self.names)} labels ({', '.join(self.names)})")
        return values

    @staticmethod
    def hparams_for_loading(hparams: dict[str, Any]) -> dict[str, Any]:
        """Rebuild without loading pretrained weights: the checkpoint holds them (the encoder's
        folder still gives its configuration and tokenizer)."""
        hparams = TrainlabModule.hparams_for_loading(hparams)
        hparams["encoder"] = {**dict(hparams.get("encoder") or {}), "pretrained": False}
        return hparams

    def option_targets(self) -> tuple[nn.Module | None, nn.Module | None]:
        """The engine's model options see the classifier without an encoder: feature dropout on a
        ``transformers`` output is not supported (the head's ``dropout`` is the option here)."""
        return self.net, None

    @property
    def tokenizer(self) -> Any:
        """The encoder's tokenizer (loaded on first use)."""
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.encoder_name)
        return self._tokenizer

    # Forward, loss, scores ---------------------------------------------------------------
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``(B, K)`` (lexglue) or ``(B, 2)`` (binary), float32, of a padded batch."""
        return self.net(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-label scores ``(B, K)`` in ``[0, 1]``: sigmoid per category, or the softmax probability of unfair."""
        return torch.sigmoid(logits) if self.label_set.multi_label else torch.softmax(logits, dim=1)[:, 1:]

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean loss of a batch; ``labels`` ``(B, K)`` float 0/1."""
        config = self.loss_config
        weight = self.pos_weight.to(logits.device) if self.pos_weight is not None else None
        if self.label_set.multi_label:
            if config["name"] == "focal":
                loss = binary_focal_loss(logits, labels, alpha=config["focal_alpha"], gamma=float(config["focal_gamma"]),
                                         from_logits=True)
                return (loss * (1 + (weight - 1) * labels) if weight is not None else loss).mean()
            return F.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight)
        target = labels[:, 0].long()
        class_weight = torch.cat([weight.new_ones(1), weight]) if weight is not None else None
        if config["name"] == "focal":
            return focal_cross_entropy(logits, target, gamma=float(config["focal_gamma"]), alpha=class_weight,
                                       label_smoothing=float(config["label_smoothing"]))
        return F.cross_entropy(logits, target, weight=class_weight, label_smoothing=float(config["label_smoothing"]))

    def setup(self, stage: str) -> None:
        """With ``head_bias: prior``, set the head's biases from the training data's label shares
        (:meth:`~.data.UnfairTosDataModule.label_prior`) before fitting. Lightning calls this
        before it restores a checkpoint, so a resumed run keeps its trained biases."""
        if stage != "fit" or self.head_bias != "prior":
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "label_prior"):
            raise ConfigError("model.head_bias=prior needs the unfair_tos datamodule (its training label shares)")
        prior = datamodule.label_prior()
        with torch.no_grad():
            self.net.head.bias.copy_(prior_bias(prior, self.label_set.multi_label))
        log.info("head biases from the training label shares: %s", dict(zip(self.names, np.round(prior, 4).tolist())))

    def on_fit_start(self) -> None:
        """Compute ``pos_weight`` from the training split's label counts when configured by name."""
        setting = self.loss_config.get("pos_weight")
        if setting is None:
            self.pos_weight = None
            return
        if isinstance(setting, str):
            labels = self.trainer.datamodule.dataset("train").labels
            positives = labels.sum(axis=0).clip(min=1)
            ratio = (len(labels) - positives) / positives
            if setting not in ("balanced", "sqrt"):
                raise ConfigError(f"model.loss.pos_weight must be null, balanced, sqrt or a list, got {setting!r}")
            self.pos_weight = torch.tensor(ratio if setting == "balanced" else np.sqrt(ratio), dtype=torch.float32)
        else:
            self.pos_weight = torch.tensor(self._check_thresholds(setting), dtype=torch.float32)
        log.info("pos_weight: %s", dict(zip(self.names, self.pos_weight.tolist())))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(self(batch), batch["labels"])
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch["labels"]))
        return loss

    def _eval_step(self, stage: str, batch: dict[str, torch.Tensor]) -> None:
        logits = self(batch)
        self.log(f"{stage}/loss", self.loss(logits, batch["labels"]), on_epoch=True, batch_size=len(batch["labels"]))
        self._outputs[stage].append((batch["index"].cpu(), self.scores(logits).detach().cpu(), batch["labels"].cpu()))

    def _eval_epoch_end(self, stage: str) -> None:
        outputs, self._outputs[stage] = self._outputs[stage], []
        if not outputs:
            return
        index = torch.cat([o[0] for o in outputs]).numpy()
        order = np.argsort(index)
        scores = torch.cat([o[1] for o in outputs]).numpy()[order]
        gold = torch.cat([o[2] for o in outputs]).numpy().astype(np.int64)[order]
        self.last_scores[stage] = (scores, gold)
        report = classification_report(gold, apply_thresholds(scores, self.thresholds), self.names)
        self.last_reports[stage] = report
        for key, value in report.items():
            if not key.startswith("support_"):
                self.log(f"{stage}/{key}", value, prog_bar=key == "macro_f1")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("val", batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("test", batch)

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    @torch.no_grad()
    def predict_scores(self, loader: Any) -> np.ndarray:
        """Scores ``(N, K)`` float32 of a loader's items, in dataset order (items carry ``index``)."""
        was_training = self.training
        self.eval()
        parts, indices = [], []
        for batch in loader:
            batch = {k: v.to(self.device) for k, v in batch.items()}
            parts.append(self.scores(self(batch)).float().cpu())
            indices.append(batch["index"].cpu())
        self.train(was_training)
        if not parts:
            return np.zeros((0, len(self.names)), np.float32)
        order = np.argsort(torch.cat(indices).numpy())
        return torch.cat(parts).numpy()[order]

    # Decisions tuned on validation ---------------------------------------------------------
    def after_fit(self, datamodule: L.LightningDataModule) -> dict[str, Any]:
        """Choose the labels' thresholds on the validation split (never on test): see
        :meth:`choose_postprocess`.

        Returns:
            What :meth:`choose_postprocess` returns, or ``{}`` when tuning is off or the
            validation split is empty.
        """
        if not self.tune_enabled or len(datamodule.dataset("val")) == 0:
            return {}
        chosen = self.choose_postprocess(self.validation_samples(datamodule))
        self.postprocess_source = "validation split"
        return chosen

    def validation_samples(self, datamodule: L.LightningDataModule, split: str = "val") -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(gold (N, K) 0/1, scores (N, K) float32)]`` of a split: one sample per split, so that
        several folds' held-out splits pool into one list."""
        return [(np.asarray(datamodule.dataset(split).labels), self.predict_scores(datamodule.eval_dataloader(split)))]

    def choose_postprocess(self, samples: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
        """Choose the thresholds that maximise macro-F1 over the pooled samples
        (:func:`~trainlab.tasks.unfair_tos.metrics.tune_thresholds_for_macro_f1`, starting from the
        current thresholds, so macro-F1 on these samples never drops).

        Returns:
            ``{"postprocess": {"thresholds": [...]}, "thresholds": {label: t},
            "val_macro_f1_before", "val_macro_f1_after", "sentences": n}``.
        """
        gold = np.concatenate([g for g, _ in samples])
        scores = np.concatenate([s for _, s in samples])
        before = classification_report(gold, apply_thresholds(scores, self.thresholds), self.names)["macro_f1"]
        self.thresholds = tune_thresholds_for_macro_f1(gold, scores, self.names, self.thresholds)
        after = classification_report(gold, apply_thresholds(scores, self.thresholds), self.names)["macro_f1"]
        log.info("thresholds chosen on %d sentences: %s (macro-F1 %.4f -> %.4f)", len(gold),
                 dict(zip(self.names, np.round(self.thresholds, 4))), before, after)
        return {"postprocess": {"thresholds": list(self.thresholds)}, "thresholds": dict(zip(self.names, self.thresholds)),
                "val_macro_f1_before": before, "val_macro_f1_after": after, "sentences": len(gold)}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["trainlab"]["thresholds"] = [float(t) for t in self.thresholds]
        checkpoint["trainlab"]["label_names"] = list(self.names)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        saved = checkpoint.get("trainlab", {}).get("thresholds")
        if saved:
            self.thresholds = self._check_thresholds(saved)

    def postprocess_record(self) -> dict[str, Any]:
        """The decision thresholds in use, per label, and where they were chosen."""
        return {"thresholds": dict(zip(self.names, self.thresholds)), "source": self.postprocess_source}

    def override_postprocess(self, overrides: Mapping[str, Any]) -> None:
        """Replace the thresholds: ``threshold`` (one value for every label) or ``thresholds`` (a list).

        Raises:
            ValueError: another key, or a list of the wrong length.
        """
        unknown = sorted(set(overrides) - {"threshold", "thresholds"})
        if unknown:
            raise ValueError(f"unknown post-processing key(s) {', '.join(unknown)}; this task takes: threshold, thresholds")
        if "thresholds" in overrides:
            self.thresholds = self._check_thresholds(overrides["thresholds"])
        if "threshold" in overrides:
            self.thresholds = self._check_thresholds(float(overrides["threshold"]))

    # Optimizer: the engine's, with optional layer-wise LR decay -----------------------------
    def configure_optimizers(self) -> Any:
        """The engine's optimizer and schedule; with ``layerwise_lr_decay`` < 1 the engine's
        parameter groups are split by depth first (:func:`layerwise_groups`)."""
        if self.layerwise_lr_decay == 1.0:
            return super().configure_optimizers()
        base = build_optimizer(self, self.optimizer_config)
        num_layers = int(self.net.encoder.config.num_hidden_layers)
        accepted = inspect.signature(type(base)).parameters  # AdamW's defaults name a key its constructor refuses
        optimizer = type(base)(layerwise_groups(self, base.param_groups, self.layerwise_lr_decay, num_layers),
                               **{k: v for k, v in base.defaults.items() if k in accepted})
        run = run_length_from_trainer(self._trainer) if needs_run_length(self.scheduler_config) and self._trainer else None
        scheduler = build_scheduler(optimizer, self.scheduler_config, run)
        if scheduler is None:
            self.schedule_record = {"name": "none", "layerwise_lr_decay": self.layerwise_lr_decay}
            return optimizer
        self.schedule_record = {**scheduler.pop("resolved"), "layerwise_lr_decay": self.layerwise_lr_decay}
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    # Reports and predictions -----------------------------------------------------------------
    def write_evaluation(self, output_dir: Path, split: str, metrics: Mapping[str, float]) -> dict[str, Any]:
        """``per_class.csv`` (precision, recall, F1, support per label and fair) and the headline
        figures (micro/macro-F1 LexGLUE-style, binary F1), with the thresholds used."""
        report = self.last_reports["test"]
        rows = [[name, *(f"{report[f'{k}_{name}']:.6f}" for k in ("precision", "recall", "f1")),
                 int(report[f"support_{name}"])] for name in [*self.names, "fair"]]
        atomic_write_text(Path(output_dir) / "per_class.csv", _csv([["label", "precision", "recall", "f1", "support"], *rows]))
        return {**{k: report[k] for k in ("micro_f1", "macro_f1", "binary_f1")}, "labels": self.label_set.name,
                **self.postprocess_record()}

    def classify(self, sentences: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Scores ``(N, K)`` float32 of raw sentences (tokenized here, truncated to ``max_sequence_length``)."""
        self.eval()
        parts = []
        device = self.device
        with torch.no_grad():
            for start in range(0, len(sentences), batch_size):
                batch = self.tokenizer(list(sentences[start:start + batch_size]), truncation=True, padding=True,
                                       max_length=self.max_sequence_length, return_tensors="pt")
                parts.append(self.scores(self({k: v.to(device) for k, v in batch.items()})).float().cpu())
        return torch.cat(parts).numpy() if parts else np.zeros((0, len(self.names)), np.float32)

    def write_predictions(self, inputs: str | os.PathLike, output_dir: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        """Label every sentence of a text file or of a folder's ``*.txt`` files (one sentence per
        non-empty line, the corpus' format).

        Writes per document ``<name>.tsv`` (line, labels, one score column per label, text) and,
        with ``draw`` (default true), ``<name>.html``: the document with its unfair sentences
        marked and their labels shown; and ``summary.json``.

        Args:
            inputs: A ``.txt`` file or a folder of them.
            output_dir: Where to write.
            options: ``draw`` (bool), ``batch_size`` (int).

        Raises:
            FileNotFoundError: no such file, or a folder without ``*.txt``.
            ValueError: an unknown option; CorpusError (a ValueError): a file that is not UTF-8 (file and line named).
        """
        options = dict(options)
        unknown = sorted(set(options) - {"draw", "batch_size"})
        if unknown:
            raise ValueError(f"unknown predict option(s) {', '.join(unknown)}; this task takes: batch_size, draw")
        path = Path(inputs).expanduser()
        files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
        if not path.exists() or not files:
            raise FileNotFoundError(f"input {path}: no such file, or a folder without .txt files")
        output_dir = Path(output_dir)
        summary: dict[str, Any] = {"documents": {}, "labels": list(self.names), "thresholds": list(self.thresholds)}
        for file in files:
            lines = read_lines(file)
            numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
            scores = self.classify([text for _, text in numbered], int(options.get("batch_size", 64)))
            predicted = apply_thresholds(scores, self.thresholds) if len(scores) else np.zeros((0, len(self.names)), int)
            rows = [["line", "labels", *self.names, "text"]]
            for (number, text), score, flags in zip(numbered, scores, predicted):
                rows.append([number, ",".join(n for n, f in zip(self.names, flags) if f),
                             *(f"{s:.4f}" for s in score), text])
            atomic_write_text(output_dir / f"{file.stem}.tsv", _csv(rows, delimiter="\t"))
            if options.get("draw", True):
                atomic_write_text(output_dir / f"{file.stem}.html", _document_view(file.stem, numbered, predicted,
                                                                                    scores, self.names))
            summary["documents"][file.stem] = {"sentences": len(numbered), "unfair": int(predicted.any(axis=1).sum())}
        atomic_write_json(output_dir / "summary.json", summary)
        return {"documents": len(files), "sentences": sum(d["sentences"] for d in summary["documents"].values()),
                "unfair": sum(d["unfair"] for d in summary["documents"].values()), "output": str(output_dir)}


def _csv(rows: Sequence[Sequence[Any]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _document_view(name: str, numbered: Sequence[tuple[int, str]], predicted: np.ndarray, scores: np.ndarray,
                   names: Sequence[str]) -> str:
    """A self-contained HTML page of the document: unfair sentences highlighted, their labels and scores shown."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(name)}</title><style>"
             "body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.5}"
             "p{margin:.3em 0;white-space:pre-wrap}.unfair{background:#ffe0e0;border-left:4px solid #c00;padding-left:.5em}"
             ".tag{font-size:.8em;color:#900;font-weight:bold}.n{color:#999;font-size:.8em}</style></head><body>",
             f"<h1>{html.escape(name)}</h1><p>{int(predicted.any(axis=1).sum())} of {len(numbered)} sentences "
             "marked unfair.</p>"]
    for (number, text), flags, score in zip(numbered, predicted, scores):
        tags = [f"{label} {s:.2f}" for label, f, s in zip(names, flags, score) if f]
        css = " class='unfair'" if tags else ""
        tag = f" <span class='tag'>[{html.escape('; '.join(tags))}]</span>" if tags else ""
        parts.append(f"<p{css}><span class='n'>{number}</span> {html.escape(text)}{tag}</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
