"""LightningModule for plate detection: RetinaNet with anchors fitted to the training boxes,
COCO mAP on validation, decision parameters tuned on validation after training.

The run, in order: ``setup("fit")`` fits the anchor sizes and aspect ratios to the training
boxes (k-means, :mod:`~trainlab.tasks.plate_detection.anchors`) unless the config gives them;
training minimises torchvision's RetinaNet loss (sigmoid focal loss for classification, the
configured box loss for regression); every validation post-processes with the current
parameters and logs ``val/map`` (COCO mAP@[.5:.95], the optimised metric), ``val/map_50``,
``val/map_75``, ``val/mar_100`` and precision/recall/F1 at the confidence threshold;
:meth:`PlateDetectionModule.after_fit` chooses the NMS IoU (by val mAP) and the confidence
threshold (by val F1) and stores them, with the anchors, in the checkpoint.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from trainlab.engine.module import TrainlabModule
from trainlab.tasks.plate_detection.anchors import fit_anchors
from trainlab.tasks.plate_detection.data.dataset import collate
from trainlab.tasks.plate_detection.metrics import evaluate, per_image_rows, threshold_grid, tune_postprocess
from trainlab.tasks.plate_detection.model import build_retinanet, set_anchors
from trainlab.tasks.plate_detection.postprocess import Detections, PostprocessConfig, confident, postprocess

log = logging.getLogger(__name__)

LOGGED = ("map", "map_50", "map_75", "mar_100", "precision", "recall", "f1")
ANCHOR_KEYS = ("fit", "sizes_per_level", "num_ratios", "sizes", "aspect_ratios", "seed")
TUNE_KEYS = ("enabled", "nms_thresholds", "confidence_thresholds")


def placeholder_sizes(levels: int, per_level: int) -> list[list[float]]:
    """torchvision's RetinaNet size rule ``32 * 2 ** (level + k / per_level)``, used until the anchors are fitted."""
    return [[round(32 * 2 ** (level + k / per_level), 1) for k in range(per_level)] for level in range(levels)]


class PlateDetectionModule(TrainlabModule):
    """Licence-plate (or any box) detector.

    Args:
        class_names: Object classes in label order (configs pass ``${data.class_names}``).
        image_size: Long side of the network input, pixels (``${data.image_size}``).
        encoder: ``source`` (``timm``, ``ppocr``, ``craft_vgg``) and its options, see
            :func:`~trainlab.tasks.plate_detection.model.build_encoder`.
        fpn: ``strides`` and ``channels`` of the feature pyramid.
        head: RetinaNet head options (``box_loss``, ``fg_iou_thresh``, ``bg_iou_thresh``,
            ``topk_candidates``, ``prior_probability``).
        anchors: ``fit`` (fit to the training boxes at the start of training), ``sizes_per_level``,
            ``num_ratios``, ``seed``; or explicit ``sizes`` (per level) and ``aspect_ratios`` (``h / w``).
        postprocess: ``confidence_threshold``, ``nms_threshold``, ``score_floor``, ``max_detections``.
        tune_postprocess: ``enabled``, ``nms_thresholds`` (list) and ``confidence_thresholds``
            (list, or ``[start, stop, step]`` given as a mapping) searched on validation after training.
        draw_detections: How many validation and test images to draw with their detections.
        channels_last, grad_checkpointing, compile, feature_dropout, optimizer, scheduler: the
            engine's options (:class:`~trainlab.engine.module.TrainlabModule`).

    Batches: see :class:`~trainlab.tasks.plate_detection.data.dataset.BoxDataset` and its ``collate``.

    Raises:
        ValueError: unknown config keys (valid ones listed), inconsistent anchors.
    """

    def __init__(self, class_names: Sequence[str] = ("plate",), image_size: int = 640,
                 encoder: Mapping[str, Any] | None = None, fpn: Mapping[str, Any] | None = None,
                 head: Mapping[str, Any] | None = None, anchors: Mapping[str, Any] | None = None,
                 postprocess: Mapping[str, Any] | None = None, tune_postprocess: Mapping[str, Any] | None = None,
                 draw_detections: int = 12, channels_last: bool = False, grad_checkpointing: bool = False,
                 compile: Mapping[str, Any] | bool | None = None, feature_dropout: float = 0.0,
                 optimizer: Mapping[str, Any] | None = None, scheduler: Mapping[str, Any] | None = None):
        super().__init__(optimizer=optimizer, scheduler=scheduler, channels_last=channels_last,
                         grad_checkpointing=grad_checkpointing, compile=compile, feature_dropout=feature_dropout)
        self.save_hyperparameters()
        self.class_names = list(class_names)
        self.image_size = int(image_size)
        self.anchor_config = _checked("model.anchors", anchors, ANCHOR_KEYS)
        self.tune_config = _checked("model.tune_postprocess", tune_postprocess, TUNE_KEYS)
        strides = list((fpn or {}).get("strides", (8, 16, 32)))
        sizes = self.anchor_config.get("sizes")
        ratios = self.anchor_config.get("aspect_ratios")
        per_level = int(self.anchor_config.get("sizes_per_level", 3))
        num_ratios = int(self.anchor_config.get("num_ratios", 2))
        if (sizes is None) != (ratios is None):
            raise ValueError("model.anchors: give both sizes and aspect_ratios, or neither (to fit them)")
        if sizes is None:
            sizes = placeholder_sizes(len(strides), per_level)
            ratios = list(np.geomspace(0.25, 0.5, num_ratios).round(3)) if num_ratios > 1 else [0.35]
        self.postprocess = PostprocessConfig.from_mapping(postprocess)
        self.net = build_retinanet(dict(encoder or {"source": "timm", "model_name": "resnet18"}), len(self.class_names),
                                   self.image_size, sizes, ratios, fpn=fpn, head=head,
                                   score_floor=self.postprocess.score_floor)
        self.anchors = {"sizes": [list(map(float, s)) for s in sizes], "aspect_ratios": list(map(float, ratios)),
                        "source": "config" if self.anchor_config.get("sizes") is not None else "placeholder"}
        self.draw_count = int(draw_detections)
        self.draw_dir: Path | None = None
        self._outputs: dict[str, list[tuple[str, Detections, Detections]]] = {"val": [], "test": []}
        self._drawings: dict[str, list[tuple[str, np.ndarray, Detections, Detections]]] = {"val": [], "test": []}
        self.last_eval: dict[str, list[tuple[str, Detections, Detections]]] = {}

    # Engine hooks --------------------------------------------------------------------
    def option_targets(self):
        """``(network, encoder)`` for the engine's model options: the encoder sits in the backbone."""
        return self.net, self.net.backbone.encoder

    def manifest_summary(self) -> dict[str, Any]:
        """The engine's facts plus the anchors in use (fitted on train, with their coverage)."""
        return {**super().manifest_summary(), "anchors": dict(self.anchors)}

    @staticmethod
    def hparams_for_loading(hparams: dict[str, Any]) -> dict[str, Any]:
        """Rebuild without loading pretrained weights (the checkpoint holds them)."""
        hparams = TrainlabModule.hparams_for_loading(hparams)
        encoder = dict(hparams.get("encoder") or {})
        if encoder.get("source", "timm") != "ppocr":  # ppocr: the graph comes with its weights, overwritten anyway
            encoder.update({key: None for key in ("pretrained", "checkpoint") if key in encoder})
        hparams["encoder"] = encoder
        return hparams

    def setup(self, stage: str) -> None:
        """Fit the anchors to the training boxes before training (when ``anchors.fit`` and none are given).

        Raises:
            TypeError: the datamodule cannot list its training boxes (``train_box_shapes``).
        """
        if stage != "fit" or not self.anchor_config.get("fit", True) or self.anchors["source"] != "placeholder":
            return
        datamodule = self.trainer.datamodule
        if not hasattr(datamodule, "train_box_shapes"):
            raise TypeError(f"anchor fitting needs the datamodule's train_box_shapes(); {type(datamodule).__name__} has none")
        shapes = datamodule.train_box_shapes()
        levels = len(self.anchors["sizes"])
        fit = fit_anchors(shapes, levels=levels, sizes_per_level=len(self.anchors["sizes"][0]),
                          num_ratios=len(self.anchors["aspect_ratios"]), seed=int(self.anchor_config.get("seed", 0)))
        set_anchors(self.net, fit.sizes, fit.aspect_ratios)
        self.anchors = {"sizes": [list(s) for s in fit.sizes], "aspect_ratios": list(fit.aspect_ratios),
                        "source": "k-means on the training boxes", **{k: v for k, v in fit.to_dict().items()
                                                                      if k not in ("sizes", "aspect_ratios")}}
        log.info("anchors fitted to %d training boxes: sizes %s, aspect ratios %s (mean best IoU %.3f; "
                 "torchvision's defaults %.3f)", fit.boxes, fit.sizes, fit.aspect_ratios, fit.mean_best_iou,
                 fit.default_mean_best_iou)

    # Forward ---------------------------------------------------------------------------
    def forward(self, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]] | None = None) -> Any:
        """Training mode: the loss dict (``classification``, ``bbox_regression``); eval mode: per image
        ``boxes`` ``(N, 4)`` float32 xyxy input pixels, ``scores`` ``(N,)``, ``labels`` ``(N,)`` int64,
        before post-processing. Images: ``(3, H, W)`` float32 RGB in ``[0, 1]``."""
        return self.net(images, targets)

    @torch.no_grad()
    def detect_raw(self, images: list[torch.Tensor], scales: Sequence[float]) -> list[Detections]:
        """Raw detections (no NMS) in original-image pixels (input boxes divided by each image's ``scale``)."""
        was_training = self.net.training
        self.net.eval()
        outputs = self.net(images)
        self.net.train(was_training)
        return [{"boxes": o["boxes"].float().cpu() / float(s), "scores": o["scores"].float().cpu(),
                 "labels": o["labels"].cpu()} for o, s in zip(outputs, scales)]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        losses = self.net(batch["image"], batch["target"])
        loss = sum(losses.values())
        size = len(batch["image"])
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=size)
        return loss

    # Evaluation ------------------------------------------------------------------------
    def _eval_step(self, stage: str, batch: dict[str, Any]) -> None:
        raw = self.detect_raw(batch["image"], batch["scale"])
        for i, (name, detections, target, scale) in enumerate(zip(batch["name"], raw, batch["target"], batch["scale"])):
            truth = {"boxes": target["boxes"].float().cpu() / float(scale), "labels": target["labels"].cpu()}
            self._outputs[stage].append((name, detections, truth))
            if stage == "test" and len(self._drawings[stage]) < self.draw_count:
                image = (batch["image"][i].permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
                self._drawings[stage].append((name, image, detections, truth, float(scale)))

    def _eval_epoch_end(self, stage: str) -> None:
        outputs, self._outputs[stage] = self._outputs[stage], []
        if not outputs:
            return
        self.last_eval[stage] = outputs
        metrics = evaluate([o[1] for o in outputs], [o[2] for o in outputs], self.postprocess)
        for key in LOGGED:
            self.log(f"{stage}/{key}", float(metrics[key]), prog_bar=key in ("map", "map_50"))
        if stage == "test" and self.draw_dir is not None:
            self.draw(self.draw_dir / "test", stage)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step("val", batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step("test", batch)

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def draw(self, folder: Path, stage: str) -> int:
        """Write the kept images of ``stage`` with ground truth (green) and detections at the
        confidence threshold (red, with scores) as ``<folder>/<name>.jpg``; returns how many."""
        from trainlab.tasks.plate_detection.inference import draw_boxes, write_image

        drawings, self._drawings[stage] = self._drawings[stage], []
        for name, image, raw, truth, scale in drawings:
            kept = confident(postprocess(raw, self.postprocess), self.postprocess)
            canvas = draw_boxes(image, truth["boxes"].numpy() * scale, kept["boxes"].numpy() * scale,
                                kept["scores"].numpy())
            write_image(Path(folder) / f"{name.replace('/', '_')}.jpg", canvas)
        return len(drawings)

    # Checkpoint ------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["trainlab"]["postprocess"] = self.postprocess.to_dict()
        checkpoint["trainlab"]["anchors"] = dict(self.anchors)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        record = checkpoint.get("trainlab", {})
        if record.get("postprocess"):
            self.postprocess = PostprocessConfig.from_mapping(record["postprocess"])
            self.net.score_thresh = self.postprocess.score_floor
        if record.get("anchors"):
            set_anchors(self.net, record["anchors"]["sizes"], record["anchors"]["aspect_ratios"])
            self.anchors = dict(record["anchors"])

    def postprocess_record(self) -> dict[str, Any]:
        """The decision parameters in use (tuned on validation, or overridden)."""
        return self.postprocess.to_dict()

    def override_postprocess(self, overrides: Mapping[str, Any]) -> None:
        """Replace decision parameters (``+postprocess.confidence_threshold=0.4``...).

        Raises:
            ValueError: an unknown key (valid ones listed) or a value out of range.
        """
        self.postprocess = self.postprocess.with_values(**dict(overrides))
        self.net.score_thresh = self.postprocess.score_floor

    # After training --------------------------------------------------------------------
    def run_split(self, datamodule: L.LightningDataModule, split: str) -> tuple[list[str], list[Detections], list[Detections]]:
        """``(names, raw detections, ground truth)`` of a whole split, original pixels, no augmentation."""
        dataset = datamodule.eval_dataset(split) if hasattr(datamodule, "eval_dataset") else datamodule.dataset(split)
        names, raw, truth = [], [], []
        for batch in DataLoader(dataset, batch_size=getattr(datamodule, "eval_batch_size", 8), collate_fn=collate):
            images = [image.to(self.device) for image in batch["image"]]
            raw.extend(self.detect_raw(images, batch["scale"]))
            names.extend(batch["name"])
            truth.extend({"boxes": t["boxes"].float() / float(s), "labels": t["labels"]}
                         for t, s in zip(batch["target"], batch["scale"]))
        return names, raw, truth

    def after_fit(self, datamodule: L.LightningDataModule) -> dict[str, Any]:
        """Choose the NMS IoU (by val mAP@[.5:.95]) and the confidence threshold (by val F1) on the
        validation split; draw validation detections into ``<run>/detections/val``.

        Returns:
            ``{"postprocess": chosen, "nms_map": ..., "confidence_f1": ..., "val_before": ...,
            "val_after": ...}``, or ``{}`` when tuning is off or there is no validation image.
        """
        if self._trainer is not None:
            self.draw_dir = Path(self.trainer.default_root_dir) / "detections"
        if not self.tune_config.get("enabled", True) or len(datamodule.dataset("val")) == 0:
            return {}
        names, raw, truth = self.run_split(datamodule, "val")
        nms = self.tune_config.get("nms_thresholds", [0.3, 0.4, 0.5, 0.6, 0.7])
        confidence = self.tune_config.get("confidence_thresholds", threshold_grid(0.05, 0.95, 0.05))
        if isinstance(confidence, Mapping):
            confidence = threshold_grid(confidence["start"], confidence["stop"], confidence["step"])
        chosen, record = tune_postprocess(raw, truth, self.postprocess, nms, confidence)
        log.info("post-processing tuned on %d validation images: nms %.2f, confidence %.2f (val mAP %.4f -> %.4f, "
                 "F1 %.4f -> %.4f)", len(names), chosen.nms_threshold, chosen.confidence_threshold,
                 record["val_before"]["map"], record["val_after"]["map"], record["val_before"]["f1"],
                 record["val_after"]["f1"])
        self.postprocess = chosen
        if self.draw_dir is not None and self.draw_count:
            dataset = datamodule.eval_dataset("val") if hasattr(datamodule, "eval_dataset") else datamodule.dataset("val")
            self._drawings["val"] = []
            for index in range(min(self.draw_count, len(dataset))):
                item = dataset[index]
                image = (item["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                self._drawings["val"].append((names[index], image, raw[index], truth[index], item["scale"]))
            self.draw(self.draw_dir / "val", "val")
        return {"postprocess": chosen.to_dict(), **record}

    # Reports ---------------------------------------------------------------------------
    def write_evaluation(self, output_dir: Path, split: str, metrics: Mapping[str, float]) -> dict[str, Any]:
        """``per_image.csv`` and drawn detections (``detections/``) in ``output_dir``; returns the split's
        metrics (COCO mAP, mAR@100, precision/recall/F1 and counts at the threshold), the decision
        parameters and the anchors."""
        from trainlab.tasks.plate_detection.inference import write_csv

        outputs = self.last_eval.get("test", [])
        names, raw, truth = [o[0] for o in outputs], [o[1] for o in outputs], [o[2] for o in outputs]
        write_csv(Path(output_dir) / "per_image.csv", per_image_rows(names, raw, truth, self.postprocess))
        self.draw(Path(output_dir) / "detections", "test")
        result = evaluate(raw, truth, self.postprocess) if outputs else {}
        return {**{k: float(v) for k, v in result.items()}, "images": len(outputs),
                "postprocess": self.postprocess_record(), "anchors": dict(self.anchors)}

    def write_predictions(self, inputs: str | os.PathLike, output_dir: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        """Detect plates in an image or a folder (:func:`~.inference.predict_images`).

        Writes ``detections.csv``, ``detections_coco.json`` and, with ``draw`` (default true),
        ``vis/<name>.jpg``; with ``read_plates`` (default false) each box's text read by
        RapidOCR's recogniser goes into the CSV (:mod:`~.alpr`).

        Raises:
            FileNotFoundError: no image at ``inputs``; ValueError: an unknown option.
        """
        from trainlab.tasks.plate_detection.inference import predict_images

        options = dict(options)
        unknown = sorted(set(options) - {"draw", "read_plates", "batch_size"})
        if unknown:
            raise ValueError(f"unknown predict option(s) {', '.join(unknown)}; plate detection takes: draw, read_plates, "
                             "batch_size")
        return predict_images(self, inputs, Path(output_dir), draw=bool(options.get("draw", True)),
                              read_plates=bool(options.get("read_plates", False)),
                              batch_size=int(options.get("batch_size", 4)))


def _checked(section: str, values: Mapping[str, Any] | None, valid: Sequence[str]) -> dict[str, Any]:
    values = dict(values or {})
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"unknown {section} key(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    return values

