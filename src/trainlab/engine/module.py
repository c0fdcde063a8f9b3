"""The engine's LightningModule base: the module half of the task contract.

A task subclasses :class:`TrainlabModule`, builds its network as ``self.net`` in ``__init__``
and writes ``training_step`` / ``validation_step`` / ``test_step``. From this base it gets,
driven by the same config keys in every task:

- the optimizer and LR schedule (``optimizer`` / ``scheduler`` sections, :mod:`trainlab.engine.optim`);
- the model options (``channels_last``, ``grad_checkpointing``, ``compile``, ``feature_dropout``),
  applied to ``self.net`` (and its ``encoder``, when it has one) by :meth:`configure_model`,
  which Lightning calls before fit, validate, test and predict;
- the checkpoint's record of which class and task to rebuild, and of the data config the run
  used (so ``trainlab eval`` needs nothing but the checkpoint).

The task fills the hooks the task-agnostic commands call: :meth:`after_fit` (decisions made on
validation, e.g. thresholds), :meth:`override_postprocess` (decision parameters given on the
command line), :meth:`write_evaluation` (the report of ``trainlab eval``),
:meth:`write_predictions` (the output of ``trainlab predict``) and the export hooks of
``trainlab export`` (:meth:`export_network`, :meth:`export_example_inputs`,
:meth:`export_signature`, :meth:`export_sidecar`; see :mod:`trainlab.engine.export`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

from trainlab.engine.model_options import compile_module, enable_grad_checkpointing, to_channels_last
from trainlab.engine.optim import (
    ConfigError,
    build_optimizer,
    build_scheduler,
    needs_run_length,
    run_length_from_trainer,
)


class TrainlabModule(L.LightningModule):
    """Base class of every task's LightningModule.

    Args:
        optimizer: The ``optimizer`` config section (see :mod:`trainlab.engine.optim`).
        scheduler: The ``scheduler`` config section, or ``None``.
        channels_last: Convert ``self.net`` and its 4-D inputs to channels-last memory format
            (PyTorch "Channels Last Memory Format"; faster convolutions on CPU and tensor cores).
            Ignored by networks without 4-D inputs.
        grad_checkpointing: Recompute the encoder's activations in the backward pass (Chen et
            al. 2016; timm ``set_grad_checkpointing``): ``self.net.encoder`` when the network
            has one, else ``self.net``.
        compile: ``torch.compile`` ``self.net``: ``false``, ``true``, or ``enabled`` plus
            ``torch.compile`` options (``mode``, ``backend``, ``dynamic``).
        feature_dropout: Dropout on the encoder's outputs while training (``nn.Dropout2d`` on
            4-D feature maps, element-wise dropout on other tensors). For a network with an
            encoder, :meth:`configure_model` adds the layer ``self.feature_dropout`` (inert at
            0), whose rate the dropout-schedule callbacks set.

    Raises (at :meth:`configure_model`):
        ConfigError: ``grad_checkpointing`` on a network without support, bad ``compile``
            options, or ``feature_dropout`` > 0 on a network without an encoder.
    """

    def __init__(self, optimizer: Mapping[str, Any] | None = None, scheduler: Mapping[str, Any] | None = None,
                 channels_last: bool = False, grad_checkpointing: bool = False,
                 compile: Mapping[str, Any] | bool | None = None, feature_dropout: float = 0.0):
        super().__init__()
        self.optimizer_config = dict(optimizer or {"name": "adam", "lr": 1e-3})
        self.scheduler_config = dict(scheduler or {"name": "none"})
        self.channels_last = bool(channels_last)
        self.model_options = {"grad_checkpointing": bool(grad_checkpointing), "compile": compile}
        self.feature_dropout_rate = float(feature_dropout)
        # What the config does not show, for the run manifest (see manifest_summary).
        self.schedule_record: dict[str, Any] = {}
        self.model_options_record: dict[str, Any] = {}
        # The run's task name, resolved data config and optimized metric, written into every checkpoint.
        self.run_record: dict[str, Any] = {}
        # Where the decision parameters in use were chosen ("configured", "validation split",
        # "out-of-fold ..."), written into every checkpoint and every evaluation report.
        self.postprocess_source = "configured"
        self._options_applied = False

    # Model options -------------------------------------------------------------------
    def option_targets(self) -> tuple[nn.Module | None, nn.Module | None]:
        """``(network, encoder)`` the model options apply to: ``self.net`` and its ``encoder``
        attribute by default. Override when a task keeps them elsewhere."""
        net = getattr(self, "net", None)
        return net, getattr(net, "encoder", None) if net is not None else None

    def configure_model(self) -> None:
        """Apply the model options once (Lightning calls this before every fit/validate/test/predict;
        :func:`~trainlab.engine.checkpoint.load_module` calls it for rebuilt modules)."""
        if self._options_applied:
            return
        self._options_applied = True
        net, encoder = self.option_targets()
        if net is None:
            self.model_options_record = {"channels_last": False, "grad_checkpointing": [], "compiled": False}
            return
        if self.channels_last:
            to_channels_last(net)
            net.register_forward_pre_hook(_channels_last_inputs)
        if encoder is not None:
            self.feature_dropout = nn.Dropout2d(self.feature_dropout_rate)
            encoder.register_forward_hook(self._drop_features)
        elif self.feature_dropout_rate > 0:
            raise ConfigError(f"feature_dropout={self.feature_dropout_rate}: {type(net).__name__} has no encoder "
                              "(net.encoder) whose features could be dropped; set it to 0 or use dropout in the network")
        checkpointed: list[str] = []
        if self.model_options["grad_checkpointing"]:
            checkpointed = enable_grad_checkpointing(encoder if encoder is not None else net)
        self.model_options_record = {
            "channels_last": self.channels_last,
            "grad_checkpointing": checkpointed,
            "compiled": compile_module(net, self.model_options["compile"]),
        }

    def _drop_features(self, encoder: nn.Module, inputs: Any, features: Any) -> Any:
        """Forward hook of the encoder: dropout on each output tensor while training."""
        if not self.training or self.feature_dropout.p == 0.0:
            return None
        if isinstance(features, torch.Tensor):
            return self._drop(features)
        return type(features)(self._drop(f) for f in features)

    def _drop(self, tensor: torch.Tensor) -> torch.Tensor:
        if tensor.dim() == 4:
            return self.feature_dropout(tensor)
        return nn.functional.dropout(tensor, self.feature_dropout.p, training=True)

    # Optimizer and schedule -----------------------------------------------------------
    def configure_optimizers(self) -> Any:
        """Optimizer and LR schedule from the config sections (:mod:`trainlab.engine.optim`).

        Lengths the schedule leaves to the run (one-cycle ``total_steps``, cosine ``T_max``
        after warmup, epoch/step conversion) come from the attached trainer's
        ``estimated_stepping_batches`` and ``num_training_batches``.
        """
        optimizer = build_optimizer(self, self.optimizer_config)
        run = None
        if needs_run_length(self.scheduler_config) and self._trainer is not None:
            run = run_length_from_trainer(self._trainer)
        scheduler = build_scheduler(optimizer, self.scheduler_config, run)
        if scheduler is None:
            self.schedule_record = {"name": "none"}
            return optimizer
        self.schedule_record = scheduler.pop("resolved")
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def manifest_summary(self) -> dict[str, Any]:
        """Facts for the run manifest that the config does not show: the schedule as built
        (derived lengths, stepping unit) and the model switches applied."""
        return {"schedule": dict(self.schedule_record), **self.model_options_record}

    # Checkpoint record ----------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        cls = type(self)
        record = checkpoint.setdefault("trainlab", {})
        record["module"] = f"{cls.__module__}.{cls.__qualname__}"
        record.update(self.run_record)
        record["postprocess_source"] = self.postprocess_source

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.postprocess_source = checkpoint.get("trainlab", {}).get("postprocess_source", self.postprocess_source)

    @staticmethod
    def hparams_for_loading(hparams: dict[str, Any]) -> dict[str, Any]:
        """Adjust saved hyper-parameters before rebuilding from a checkpoint: evaluation and
        prediction run eagerly, without recomputation. Tasks extend it (e.g. to skip
        pretrained-weight loading, since the checkpoint holds the weights)."""
        hparams = dict(hparams)
        if "compile" in hparams:
            hparams["compile"] = None
        if "grad_checkpointing" in hparams:
            hparams["grad_checkpointing"] = False
        return hparams

    # Task hooks -----------------------------------------------------------------------
    def after_fit(self, datamodule: L.LightningDataModule) -> dict[str, Any]:
        """Hook run once after ``fit`` with the best weights loaded, before ``test``.

        Tasks override it to choose inference-time parameters on the validation split (never
        on test); the engine then stores the module's checkpoint extras in the best
        checkpoint. Returns what was chosen, for the run manifest.
        """
        return {}

    def validation_samples(self, datamodule: L.LightningDataModule, split: str = "val") -> list[Any]:
        """This model's inference outputs on a split, cached with their ground truth, from which
        :meth:`choose_postprocess` chooses decision parameters. Samples of several models on
        their own held-out folds pool into one list (out-of-fold choice, ``trainlab kfold``).

        Raises:
            NotImplementedError: the task has no decision parameters to choose.
        """
        raise NotImplementedError(f"{type(self).__name__} has no decision parameters chosen on validation")

    def choose_postprocess(self, samples: list[Any]) -> dict[str, Any]:
        """Choose the decision parameters on ``samples`` (:meth:`validation_samples`, one model's or
        pooled), use them from now on, and return what was chosen with the scores before/after.
        The returned ``"postprocess"`` entry is what :meth:`override_postprocess` takes, so that
        the same choice can be given to other models (the folds of ``trainlab kfold``).

        Raises:
            NotImplementedError: as :meth:`validation_samples`.
        """
        raise NotImplementedError(f"{type(self).__name__} has no decision parameters chosen on validation")

    @classmethod
    def ensemble(cls, modules: list[TrainlabModule], weights: list[float] | None = None) -> TrainlabModule:
        """One module that averages the predictions of ``modules`` (``trainlab eval/predict
        ckpt_path=[a,b,...]``), optionally weighted.

        Raises:
            NotImplementedError: the task does not average models.
        """
        raise NotImplementedError(f"{cls.__name__} does not average several checkpoints")

    def configure_tta(self, transforms: list[str] | None) -> None:
        """Average predictions over test-time augmentation transforms (task-defined names).

        Raises:
            NotImplementedError: the task has no test-time augmentation (when ``transforms`` is non-empty).
        """
        if transforms:
            raise NotImplementedError(f"{type(self).__name__} has no test-time augmentation")

    def postprocess_record(self) -> dict[str, Any]:
        """The decision parameters inference uses now (thresholds...), for reports. Default: none."""
        return {}

    def override_postprocess(self, overrides: Mapping[str, Any]) -> None:
        """Replace some decision parameters (``trainlab eval/predict +postprocess.<key>=<value>``).

        Raises:
            ValueError: this task has no decision parameters, or a key it does not know (the
                message lists the valid ones).
        """
        if overrides:
            raise ValueError(f"{type(self).__name__} has no post-processing parameters; got {', '.join(overrides)}")

    def write_evaluation(self, output_dir: Path, split: str, metrics: Mapping[str, float]) -> dict[str, Any]:
        """Write the task's evaluation report after ``trainer.test`` ran on ``split``.

        Args:
            output_dir: The ``trainlab eval`` run folder.
            split: The split that was scored.
            metrics: What the test loop logged (``test/<name>`` -> value).

        Returns:
            The headline figures to print and to store in ``metrics.json`` (plain JSON values).
        """
        return {k.removeprefix("test/"): float(v) for k, v in metrics.items()}

    def write_predictions(self, inputs: str | os.PathLike, output_dir: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        """Run the model on user inputs and write the task's prediction files (``trainlab predict``).

        Args:
            inputs: What the user points at (an image, a folder, a CSV file, a text file...).
            output_dir: The ``trainlab predict`` run folder.
            options: The task's writer options (``trainlab predict +options.<key>=<value>``).

        Returns:
            A summary for the console (counts, files written).

        Raises:
            NotImplementedError: the task writes no predictions.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement write_predictions")

    # Export (trainlab export, :mod:`trainlab.engine.export`) ---------------------------
    def export_network(self) -> nn.Module:
        """The network ``trainlab export`` writes: ``forward(*inputs)`` takes the tensors of one
        :meth:`export_example_inputs` entry and returns a tensor or a tuple of tensors.

        Default: ``self.net``, for tasks whose network is a plain forward of tensors.

        Raises:
            NotImplementedError: the module has no ``net``.
        """
        net = getattr(self, "net", None)
        if not isinstance(net, nn.Module):
            raise NotImplementedError(f"{type(self).__name__} has no network (self.net) that can be exported")
        return net

    def export_example_inputs(self, source: str | os.PathLike | None = None, limit: int = 3) -> list[tuple[torch.Tensor, ...]]:
        """Real inputs of :meth:`export_network`, each a tuple of tensors with a batch dimension of 1:
        the first traces the export, every one is run by PyTorch and ONNX Runtime for the parity check.

        Args:
            source: A file or folder of the task's inputs (e.g. images); ``None``: the task's own
                real examples.
            limit: At most this many inputs.

        Raises:
            NotImplementedError: the task does not say what its network takes, so it cannot be
                exported (the default).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot be exported: its task does not define the network's "
                                  "example inputs (TrainlabModule.export_example_inputs)")

    def export_signature(self) -> dict[str, Any]:
        """Names and dynamic axes of the exported graph: ``{"input_names": [...], "output_names": [...],
        "dynamic_axes": {name: {axis: axis name}}}`` (``torch.onnx.export``'s arguments).
        Default: one input ``input`` and one output ``output``, dynamic in the batch axis."""
        return {"input_names": ["input"], "output_names": ["output"],
                "dynamic_axes": {"input": {0: "batch"}, "output": {0: "batch"}}}

    def export_sidecar(self) -> dict[str, Any]:
        """What inference needs besides the network, written as JSON beside the exported file
        (pre-processing, decision parameters tuned on validation, the runtime class). Default: the
        decision parameters in use (:meth:`postprocess_record`)."""
        return {"postprocess": self.postprocess_record()}


def _channels_last_inputs(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Forward pre-hook: 4-D tensor inputs in channels-last memory format."""
    return tuple(a.contiguous(memory_format=torch.channels_last) if isinstance(a, torch.Tensor) and a.dim() == 4 else a
                 for a in args)
