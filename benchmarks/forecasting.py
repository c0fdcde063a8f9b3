"""CGM forecasting benchmark: the default run end to end, its metric table, and the data-loading share.

    TRAINLAB_DATA_DIR=../shared/data .venv/bin/python benchmarks/forecasting.py [--threads 2] [--seeds 42]
        [--skip-train --run <run folder>] [-- extra trainlab overrides]

1. Data loading vs training step: the default datamodule's training loader is iterated for
   ``--steps`` batches (time in the loader) and the default model takes a training step on each
   batch (forward, backward, Adam step); the share is loader time / (loader + step) time.
2. For each seed, ``trainlab train experiment=cgm_forecast seed=<s>`` runs in a subprocess with
   ``OMP_NUM_THREADS=--threads``; its wall time is measured and its ``metric_table.md`` (model,
   persistence, linear extrapolation, ridge on the test subjects) printed.
3. With several seeds: mean +- std of the test 30- and 60-minute figures of every model.

Reads the data from ``$TRAINLAB_DATA_DIR/cgm`` (default ``../shared/data/cgm``); the data is
CC BY-NC-SA 4.0 and never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def loading_share(steps: int, threads: int) -> dict[str, float]:
    """Seconds in the training loader and in training steps over ``steps`` batches of the default config."""
    import torch
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate

    torch.set_num_threads(threads)
    with initialize_config_module("trainlab.configs", version_base="1.3"):
        cfg = compose("train", overrides=["experiment=cgm_forecast", "model.report_dir=null", "paths.output_dir=/tmp"])
    datamodule = instantiate(cfg.data, _convert_="all")
    started = time.perf_counter()
    datamodule.setup("fit")
    setup = time.perf_counter() - started
    model = instantiate(cfg.model, optimizer=cfg.optimizer, scheduler=cfg.scheduler, _convert_="all")
    mean, std = datamodule.glucose_stats()
    model.glucose_mean.fill_(mean)
    model.glucose_std.fill_(std)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(cfg.optimizer.lr))
    loader_time = step_time = 0.0
    iterator = iter(datamodule.train_dataloader())
    model.train()
    for _ in range(steps):
        started = time.perf_counter()
        batch = next(iterator)
        loader_time += time.perf_counter() - started
        started = time.perf_counter()
        loss = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step_time += time.perf_counter() - started
    return {"setup_s": setup, "batches": steps, "loader_s": loader_time, "step_s": step_time,
            "loader_share_pct": 100 * loader_time / (loader_time + step_time),
            "train_windows": len(datamodule.dataset("train")), "batch_size": datamodule.batch_size}


def train_run(seed: int, threads: int, extra: list[str]) -> tuple[Path, float]:
    """Run the default experiment; returns its run folder and wall seconds."""
    run_dir = REPO / "outputs" / "benchmark_forecasting" / f"seed{seed}_{time.strftime('%Y%m%d-%H%M%S')}"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "trainlab", "train", "experiment=cgm_forecast", f"seed={seed}",
               f"hydra.run.dir={run_dir}", "callbacks.rich_progress_bar=null", *extra]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    return run_dir, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--steps", type=int, default=30, help="batches timed for the data-loading share")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--run", type=Path, nargs="*", default=[], help="existing run folders to report")
    parser.add_argument("overrides", nargs="*", help="extra trainlab overrides for the runs")
    args = parser.parse_args()

    share = loading_share(args.steps, args.threads)
    print(f"data loading: {share['loader_s']:.3f} s in the loader vs {share['step_s']:.2f} s in {share['batches']} "
          f"training steps of {share['batch_size']} windows: {share['loader_share_pct']:.2f} % "
          f"(windows built once in {share['setup_s']:.1f} s; {share['train_windows']} training windows)")

    runs = [(path, None) for path in args.run]
    if not args.skip_train:
        for seed in args.seeds:
            run_dir, wall = train_run(seed, args.threads, args.overrides)
            runs.append((run_dir, wall))
    summaries = []
    for run_dir, wall in runs:
        manifest = json.loads((run_dir / "manifest.json").read_text())
        summary = json.loads((run_dir / "metric_summary.json").read_text())
        summaries.append(summary)
        wall_text = f"{wall / 60:.1f} min wall" if wall is not None else "wall not measured here"
        print(f"\n{run_dir} (seed {manifest.get('seed')}, {wall_text} with {args.threads} thread(s), "
              f"best epoch {manifest.get('best', {}).get('epoch')}, status {manifest.get('status')})")
        print((run_dir / "metric_table.md").read_text())
    if len(summaries) > 1:
        import numpy as np

        print(f"mean +- std over {len(summaries)} runs (test subjects)")
        keys = [k for k in summaries[0] if k.split("_")[0] in ("model", "persistence", "linear", "ridge")
                and any(k.endswith(f"_{m}") for m in (30, 60)) and ("rmse" in k or "mae" in k or "mard" in k or "clarke" in k)]
        for key in keys:
            values = np.array([s[key] for s in summaries])
            print(f"  {key}: {values.mean():.2f} +- {values.std(ddof=1):.2f}")


if __name__ == "__main__":
    main()
