"""k-fold training for any task: one run per fold, decision parameters chosen on the pooled
out-of-fold predictions, and the folds' ensemble.

``trainlab kfold experiment=<name> n_folds=K`` runs ``trainlab train -m data.n_folds=K
data.fold=0,...,K-1`` (a sweep: parallel with ``launcher=parallel``, resumable with
``resume_sweep=``; a failed fold does not stop the others), then :func:`finish_kfold`:

1. each fold's best checkpoint predicts its own held-out fold (its validation split), which no
   fold model trained on; the task pools these out-of-fold samples and chooses its decision
   parameters once on all of them (``choose_postprocess``: thresholds for text detection),
   never on test;
2. the choice is written into every fold's best checkpoint (``postprocess_source``: out-of-fold);
3. every fold model and the ensemble of all folds (``TrainlabModule.ensemble``, equal weights)
   are scored on the test split with that choice; the ensemble only when the folds share one
   test split (``TaskDataModule.folds_partition_test`` false: folds of the training data, as in
   text detection), not when each fold tests on its own documents (the ToS corpus' folds);
4. ``kfold_summary.json`` and ``kfold_table.md`` in the sweep folder: per fold (validation
   metric, test metrics with the fold's own choice and with the out-of-fold choice), their
   mean ± std, and the ensemble.

The data config decides what a fold is (text detection: grouped folds of the train split,
copies of an image kept together; ToS: the corpus authors' document folds).
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainlab.engine.io import atomic_write, atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


def fold_runs(sweep_dir: str | Path) -> list[tuple[int, Path, dict[str, Any]]]:
    """``(fold, run folder, manifest)`` of every job of a k-fold sweep that has a ``data.fold``, by fold.

    Raises:
        FileNotFoundError: no manifest with a ``data.fold`` under ``sweep_dir``.
    """
    runs = []
    for path in sorted(Path(sweep_dir).rglob("manifest.json")):
        manifest = json.loads(path.read_text(encoding="utf-8"))
        fold = ((manifest.get("config") or {}).get("data") or {}).get("fold")
        if fold is not None:
            runs.append((int(fold), path.parent, manifest))
    if not runs:
        raise FileNotFoundError(f"{sweep_dir}: no fold runs (manifest.json with config.data.fold) below it")
    return sorted(runs, key=lambda run: run[0])


def _test_metrics(model: Any, datamodule: Any) -> dict[str, float]:
    import lightning as L

    trainer = L.Trainer(accelerator="auto", devices=1, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, enable_progress_bar=False)
    trainer.test(model, dataloaders=datamodule.eval_dataloader("test"), verbose=False)
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}


def _store(path: Path, model: Any) -> None:
    """Re-save a checkpoint file with the module's current checkpoint extras (decision parameters)."""
    import torch

    from trainlab.engine.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(path)
    model.on_save_checkpoint(checkpoint)
    atomic_write(path, lambda handle: torch.save(checkpoint, handle))


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """``{"mean", "std", "n"}`` (sample standard deviation; 0 for one value)."""
    values = [float(v) for v in values]
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def finish_kfold(sweep_dir: str | Path, ensemble: bool = True) -> dict[str, Any]:
    """Out-of-fold choice, per-fold and ensemble test scores of a finished k-fold sweep.

    Args:
        sweep_dir: The sweep folder of ``trainlab kfold`` (or of a ``data.fold`` multirun).
        ensemble: Also score the ensemble of all folds' best checkpoints on test.

    Returns:
        The summary written to ``kfold_summary.json`` (see the module docstring).

    Raises:
        FileNotFoundError: no fold runs, or a fold without a best checkpoint (it failed).
    """
    import hydra

    from trainlab.engine.checkpoint import load_module

    sweep_dir = Path(sweep_dir).resolve()
    runs = fold_runs(sweep_dir)
    folds, models, datamodules = [], [], []
    for fold, run_dir, manifest in runs:
        best = (manifest.get("best") or {}).get("path")
        if manifest.get("status") != "finished" or not best:
            raise FileNotFoundError(f"fold {fold} ({run_dir}) did not finish ({manifest.get('status')}: "
                                    f"{manifest.get('error')}); rerun with resume_sweep={sweep_dir}")
        path = run_dir / best
        model = load_module(path).eval()
        datamodule = hydra.utils.instantiate(model.run_record["data"], _convert_="all")
        datamodule.setup("test")
        optimized = model.run_record.get("optimized") or {}
        folds.append({"fold": fold, "run": str(run_dir.relative_to(sweep_dir)), "checkpoint": str(path),
                      "validation": {optimized.get("metric"): (manifest.get("best") or {}).get("score")},
                      "test_own_choice": {k: v for k, v in (manifest.get("final") or {}).items()
                                          if k.startswith("test/")}})
        models.append(model)
        datamodules.append(datamodule)
    summary: dict[str, Any] = {"sweep": str(sweep_dir), "n_folds": len(runs), "folds": folds}
    try:
        pooled = [sample for model, datamodule in zip(models, datamodules)
                  for sample in model.validation_samples(datamodule, "val")]
    except NotImplementedError:
        pooled = None
    if pooled:
        chosen = models[0].choose_postprocess(pooled)
        source = f"out-of-fold: {len(runs)} folds, {len(pooled)} held-out samples pooled"
        for model, entry in zip(models, folds):
            model.override_postprocess(chosen["postprocess"])
            model.postprocess_source = source
            _store(Path(entry["checkpoint"]), model)
        summary["out_of_fold_choice"] = {**chosen, "source": source}
        log.info("decision parameters chosen on %d out-of-fold samples: %s", len(pooled), chosen["postprocess"])
    for model, datamodule, entry in zip(models, datamodules, folds):
        entry["test_out_of_fold_choice"] = _test_metrics(model, datamodule)
    for key in ("test_own_choice", "test_out_of_fold_choice"):
        names = sorted(set.intersection(*(set(f[key]) for f in folds)))
        summary[f"mean_std_{key}"] = {name: mean_std([f[key][name] for f in folds]) for name in names}
    if ensemble and len(models) > 1 and getattr(datamodules[0], "folds_partition_test", False):
        summary["ensemble_skipped"] = ("each fold tests on its own part of the data: every test item was in the "
                                       "training data of the other folds' models")
    elif ensemble and len(models) > 1:
        combined = type(models[0]).ensemble(models)
        summary["ensemble"] = {"checkpoints": [f["checkpoint"] for f in folds], "weights": "equal",
                               "test": _test_metrics(combined, datamodules[0])}
    atomic_write_json(sweep_dir / "kfold_summary.json", summary)
    atomic_write_text(sweep_dir / "kfold_table.md", kfold_table(summary))
    return summary


def kfold_table(summary: Mapping[str, Any]) -> str:
    """A Markdown table of a k-fold summary: one row per fold, mean ± std, and the ensemble."""
    metrics = sorted(summary.get("mean_std_test_out_of_fold_choice") or summary.get("mean_std_test_own_choice") or {})
    header = ["fold", "validation", *[f"{m} (own choice)" for m in metrics], *[f"{m} (out-of-fold)" for m in metrics]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def cells(values: Mapping[str, Any]) -> list[str]:
        return [f"{values[m]:.4f}" if isinstance(values.get(m), float) else "" for m in metrics]

    for fold in summary["folds"]:
        validation = ", ".join(f"{k} {v:.4f}" for k, v in fold["validation"].items() if isinstance(v, float))
        lines.append("| " + " | ".join([str(fold["fold"]), validation, *cells(fold["test_own_choice"]),
                                         *cells(fold.get("test_out_of_fold_choice") or {})]) + " |")

    def spread(key: str) -> list[str]:
        stats = summary.get(key) or {}
        return [f"{stats[m]['mean']:.4f} ± {stats[m]['std']:.4f}" if m in stats else "" for m in metrics]

    lines.append("| " + " | ".join(["mean ± std", "", *spread("mean_std_test_own_choice"),
                                     *spread("mean_std_test_out_of_fold_choice")]) + " |")
    if "ensemble" in summary:
        lines.append("| " + " | ".join([f"ensemble of {summary['n_folds']}", "", *[""] * len(metrics),
                                         *cells(summary["ensemble"]["test"])]) + " |")
    return "\n".join(lines) + "\n"
