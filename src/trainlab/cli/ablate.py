"""``trainlab ablate results.csv [--metric <column>] [--group-by ...] [--format md|csv|latex] [-o out]``.

The metric defaults to the runs' own ``optimized_metric`` (``val/hmean`` for text detection,
``val/rmse`` for forecasting...), and its direction to their ``optimized_direction``.

Turns the table of ``trainlab collect`` into a comparison table: finished runs grouped by the
swept parameters (or ``--group-by``), mean ± std over seeds, sorted best first, best row in
bold (:mod:`trainlab.workflow.ablate`). Also draws two PNGs (``--plots DIR``, default: the
folder of ``-o``, else of the CSV): ``<metric>_vs_parameters.png`` (the metric against each
swept parameter) and ``training_curves.png`` (every run's loss and metric per epoch).
Writes the table to ``-o`` (atomically) or prints it. Exit status: 0, or 2 for a missing
file or an unknown column (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROG = "trainlab ablate"


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    from trainlab.workflow.ablate import FORMATS

    parser = argparse.ArgumentParser(prog=PROG, description="Comparison table and plots from 'trainlab collect' results.")
    parser.add_argument("results", type=Path, help="CSV written by 'trainlab collect'")
    parser.add_argument("--metric", default=None,
                        help="column to compare (default: the runs' optimized_metric, e.g. val/hmean)")
    parser.add_argument("--group-by", nargs="+", default=None, metavar="COLUMN",
                        help="columns that define a group (default: the swept parameters except seed and data.fold)")
    parser.add_argument("--direction", choices=("max", "min"), default=None,
                        help="best is the highest (max) or lowest (min) value (default: the runs' optimized_direction "
                             "for their metric, else min for losses and errors, max otherwise)")
    parser.add_argument("--format", choices=FORMATS, default="md", help="table format (default: md)")
    parser.add_argument("--status", nargs="+", default=["finished"],
                        help="run statuses to include (default: finished)")
    parser.add_argument("-o", "--output", type=Path, default=None, help="file to write (default: print)")
    parser.add_argument("--plots", type=Path, default=None, metavar="DIR",
                        help="folder of the PNGs (default: the folder of -o, else of the results CSV)")
    parser.add_argument("--no-plots", action="store_true", help="write the table only")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    args = build_parser().parse_args(argv)
    import pandas as pd

    from trainlab.engine.io import atomic_write_text
    from trainlab.workflow.ablate import ablation_table, optimized_of, render, swept_parameters
    from trainlab.workflow.plots import plot_metric_vs_parameters, plot_training_curves

    if not args.results.is_file():
        print(f"{PROG}: {args.results}: no such file; write it with 'trainlab collect <outputs dir> -o {args.results}'",
              file=sys.stderr)
        return 2
    runs = pd.read_csv(args.results)
    if args.metric is None:
        args.metric = optimized_of(runs)[0]
        if args.metric is None:
            print(f"{PROG}: {args.results}: the runs declare no common optimized_metric; choose one with --metric",
                  file=sys.stderr)
            return 2
    if "run_dir" in runs:  # relative to the CSV (as 'trainlab collect' writes them)
        runs["run_dir"] = [str(args.results.parent / p) for p in runs["run_dir"].astype(str)]
    try:
        table = ablation_table(runs, args.metric, args.group_by, args.direction, args.status)
    except (KeyError, ValueError) as error:
        print(f"{PROG}: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2
    text = render(table, args.metric, args.format)
    if args.output:
        atomic_write_text(args.output, text)
        print(f"{len(table)} rows -> {args.output}")
    else:
        print(text, end="")
    if args.no_plots:
        return 0
    folder = args.plots or (args.output.parent if args.output else args.results.parent)
    included = runs[runs["status"].isin(args.status) & runs[args.metric].notna()]
    swept = swept_parameters(included)
    from trainlab.workflow.ablate import REPLICATE_COLUMNS

    parameters = args.group_by or [c for c in swept if c not in REPLICATE_COLUMNS]
    slug = args.metric.replace("/", "_")
    written = []
    if parameters:
        written.append(plot_metric_vs_parameters(included, args.metric, parameters, folder / f"{slug}_vs_parameters.png"))
    # History keys: best/val/hmean and last/val/hmean are drawn as val/hmean per epoch.
    history_metric = args.metric.split("/", 1)[1] if args.metric.startswith(("best/", "last/")) else args.metric
    metrics = list(dict.fromkeys(["train/loss", history_metric]))
    labels = parameters + (["seed"] if "seed" in swept and "seed" not in parameters else [])
    written.append(plot_training_curves(included, folder / "training_curves.png", labels, metrics=metrics))
    print("plots: " + ", ".join(str(p) for p in written))
    return 0
