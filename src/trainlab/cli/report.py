"""``trainlab report <outputs dir> [-o report.html] [--metric <column>] [--samples N]``.

Writes one static, self-contained HTML page (every figure and image embedded) for the runs
below a folder: a single run, a sweep or a search. The page holds the runs table, the
ablation table, training curves, learning-rate schedules, the images each run provides
(training history, drawn predictions, forecasts, sample grids) and the manifest facts
(:mod:`trainlab.workflow.report`). The file is written atomically; its path is printed.
Exit status: 0, or 2 for a missing folder, no run or an unreadable file (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROG = "trainlab report"


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(prog=PROG, description="One self-contained HTML page for a run, a sweep or a search.")
    parser.add_argument("root", type=Path, help="folder of runs, e.g. outputs/<exp_name>/multirun_<time> or a run folder")
    parser.add_argument("-o", "--output", type=Path, default=None, help="HTML file to write (default: <root>/report.html)")
    parser.add_argument("--metric", default=None,
                        help="column the ablation table compares (default: the runs' optimized_metric, e.g. val/hmean)")
    parser.add_argument("--samples", type=int, default=8, metavar="N",
                        help="most images embedded per run (default: 8)")
    parser.add_argument("--title", default=None, help="page title (default: trainlab report: <folder name>)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    args = build_parser().parse_args(argv)
    from trainlab.workflow.report import write_report

    output = args.output or args.root / "report.html"
    try:
        path = write_report(args.root, output, metric=args.metric, samples=args.samples, title=args.title)
    except (FileNotFoundError, ValueError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
