"""``trainlab collect <outputs dir> [-o results.csv]``: one row per run, from the run manifests;
``trainlab collect --project <experiment> [--tag key=value | --tag word] [--tracking-uri URI]``:
the same table from the runs of an MLflow experiment (:func:`trainlab.workflow.collect.collect_mlflow`).

Walks the folder for ``manifest.json`` files (sweeps, single runs and search trials alike)
and writes a CSV (atomically; ``run_dir`` relative to the CSV's folder) with one row per run: status (finished / failed with its
error / pruned / interrupted / running), the run's overrides as columns, final, best and
last metrics, epochs, wall time and parameter count (:mod:`trainlab.workflow.collect`).
Prints a one-line summary. Exit status: 0, or 2 for a missing folder, no run or an
unreadable file (one line on stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PROG = "trainlab collect"


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(prog=PROG, description="Collect every run below a folder into one CSV table.")
    parser.add_argument("root", type=Path, nargs="?", default=None,
                        help="folder of runs, e.g. outputs/<exp_name> or a sweep folder (not with --project)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="CSV to write (default: <root>/results.csv; with --project: results.csv)")
    parser.add_argument("--project", default=None, metavar="EXPERIMENT",
                        help="read the runs of this MLflow experiment instead of manifests")
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE|WORD",
                        help="with --project: keep runs with this tag (key=value) or a tag named or valued WORD; "
                             "repeatable, all must match")
    parser.add_argument("--tracking-uri", default=None, metavar="URI",
                        help="with --project: MLflow server (http://host:5000) or store "
                             "(default: $MLFLOW_TRACKING_URI, else sqlite:///outputs/mlflow.db)")
    parser.add_argument("--stale-after", type=float, default=None, metavar="SECONDS",
                        help="a 'running' run whose heartbeat is older than this is reported as interrupted "
                             "(default: 3600)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    args = build_parser().parse_args(argv)
    from trainlab.engine.io import atomic_write_text
    from trainlab.workflow.collect import collect
    from trainlab.workflow.liveness import STALE_AFTER

    if (args.root is None) == (args.project is None):
        print(f"{PROG}: give a folder of runs or --project <MLflow experiment> (one of them)", file=sys.stderr)
        return 2
    try:
        if args.project is not None:
            from trainlab.workflow.collect import collect_mlflow

            uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///outputs/mlflow.db"
            runs = collect_mlflow(args.project, args.tag, uri)
        else:
            runs = collect(args.root, STALE_AFTER if args.stale_after is None else args.stale_after)
    except (FileNotFoundError, ValueError, ModuleNotFoundError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    output = args.output or (args.root / "results.csv" if args.root is not None else Path("results.csv"))
    # Run folders relative to the CSV, so that the CSV and the runs can move together.
    runs["run_dir"] = [path if path is None else os.path.relpath(path, Path(output).resolve().parent)
                       for path in runs["run_dir"]]
    atomic_write_text(output, runs.to_csv(index=False))
    counts = ", ".join(f"{n} {status}" for status, n in runs["status"].value_counts().items())
    print(f"{len(runs)} runs ({counts}) -> {output}")
    return 0
