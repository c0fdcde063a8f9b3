"""``trainlab kfold experiment=<name> [n_folds=5] [any train override] [launcher=parallel n_jobs=2]``.

Trains one run per fold as a sweep (``trainlab train -m data.n_folds=K data.fold=0,...,K-1``,
into ``<output_root>/<exp_name>/kfold<K>_<timestamp>/``; ``resume_sweep=<that folder>``
re-enters it: finished folds are skipped, interrupted ones resume), then chooses the decision
parameters on the pooled out-of-fold predictions and scores every fold and the folds' ensemble
on test (:mod:`trainlab.workflow.kfold`). Add ``ensemble=false`` to skip the ensemble. Prints the
k-fold table; exit status 1 when a fold failed (the others are kept), 2 for a usage error.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

PROG = "trainlab kfold"


def _pop(args: list[str], key: str, default: str | None) -> str | None:
    value = default
    for arg in list(args):
        if arg.startswith(f"{key}="):
            value = arg.split("=", 1)[1]
            args.remove(arg)
    return value


def sweep_folder(overrides: list[str], n_folds: int) -> Path:
    """Where the folds' runs go: ``<paths.output_root>/<exp_name>/kfold<K>_<timestamp>``, from the
    composed config of ``overrides`` (``resume_sweep=<folder>`` gives that folder instead)."""
    from hydra import compose, initialize_config_module

    import trainlab.engine.config  # noqa: F401  (resolvers)

    existing = next((o.split("=", 1)[1] for o in overrides if o.startswith("resume_sweep=")), None)
    if existing:
        return Path(existing)
    with initialize_config_module(config_module="trainlab.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[o for o in overrides if not o.lstrip("+~").startswith("hydra.")])
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return Path(str(cfg.paths.output_root)) / str(cfg.exp_name) / f"kfold{n_folds}_{stamp}"


def main(argv: list[str] | None = None) -> int:
    """Run the folds, then the out-of-fold choice and the summary; returns the exit status."""
    from trainlab.cli.aliases import canonical_overrides

    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in {"-h", "--help"} for a in args):
        print(__doc__)
        return 0
    try:
        n_folds = int(_pop(args, "n_folds", "5"))
        ensemble = _pop(args, "ensemble", "true").lower() in {"1", "true", "yes"}
        if n_folds < 2:
            raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    except ValueError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    args = canonical_overrides("train", [a for a in args if a != "-m"])
    folder = sweep_folder(args, n_folds)
    command = [sys.executable, "-m", "trainlab", "train", "-m", f"data.n_folds={n_folds}",
               f"data.fold={','.join(str(k) for k in range(n_folds))}", *args]
    if not any(a.startswith("resume_sweep=") for a in args):
        command.append(f"hydra.sweep.dir={folder}")
    print(f"{PROG}: {n_folds} folds into {folder}", flush=True)
    sweep = subprocess.run(command)
    from trainlab.workflow.kfold import finish_kfold, kfold_table

    try:
        summary = finish_kfold(folder, ensemble=ensemble)
    except FileNotFoundError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    print(kfold_table(summary), end="")
    print(f"{PROG}: summary in {folder / 'kfold_summary.json'}")
    return 0 if sweep.returncode == 0 else 1
