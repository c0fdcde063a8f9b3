"""``trainlab average``: average checkpoints into one: a uniform soup (SWA-style), or a greedy soup.

Usage::

    trainlab average CKPT CKPT [CKPT ...] -o averaged.ckpt
    trainlab average --run outputs/<exp>/<timestamp> --last K [-o out.ckpt]
    trainlab average --greedy --run outputs/<exp>/<timestamp> [--last K] [--metric val/hmean]

``--greedy`` builds a greedy soup (Wortsman et al. 2022; :mod:`trainlab.workflow.soup`): the
candidates in order of validation score, each kept only when the soup's validation score does
not drop; validation is the first candidate's validation split, judged by its run's optimized
metric. Its output defaults to ``checkpoints/greedy-soup.ckpt`` and its JSON adds the
ingredients, every step's scores and the soup's score.

``--run`` takes the per-epoch checkpoints ``checkpoints/epoch=NN.ckpt`` of the last ``K``
epochs (train with ``callbacks=[default,epoch_checkpoints]`` to keep them) and writes
``checkpoints/averaged-last<K>.ckpt`` unless ``-o`` is given. The result holds the averaged
weights and the last checkpoint's record (module, hyper-parameters, post-processing), loads
with ``trainlab eval ckpt_path=...``, and is written atomically. Prints one JSON object:
``output``, ``inputs``, ``averaged_tensors``. Exit status 2 on a usage or input error (one
line on stderr). See :mod:`trainlab.engine.averaging` for the method.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROG = "trainlab average"


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(prog=PROG, description="Average the weights of checkpoints of one run.")
    parser.add_argument("checkpoints", nargs="*", type=Path, help="checkpoint files to average (two or more)")
    parser.add_argument("--run", type=Path, help="a run folder: average its last K per-epoch checkpoints")
    parser.add_argument("--last", type=int, default=None, help="how many per-epoch checkpoints of --run (K >= 2)")
    parser.add_argument("--greedy", action="store_true",
                        help="greedy soup: keep a candidate only when validation does not drop (Wortsman et al. 2022)")
    parser.add_argument("--metric", default=None,
                        help="--greedy: validation metric to judge by (default: the run's optimized metric)")
    parser.add_argument("-o", "--output", type=Path, help="output checkpoint (required with explicit files)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="unpickle the inputs fully (weights_only=False); only for files you trust")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0, or 2 on an input error)."""
    args = build_parser().parse_args(argv)
    from trainlab.engine.averaging import average_checkpoints, last_epoch_checkpoints, save_checkpoint

    try:
        if args.run is not None:
            if args.checkpoints:
                raise ValueError("give checkpoint files or --run, not both")
            if args.last is None and not args.greedy:
                raise ValueError("--run needs --last K")
            inputs = last_epoch_checkpoints(args.run, args.last or 2, every=args.last is None)
            name = "greedy-soup.ckpt" if args.greedy else f"averaged-last{args.last}.ckpt"
            output = args.output or args.run / "checkpoints" / name
        else:
            if args.output is None:
                raise ValueError("-o/--output is required with checkpoint files")
            inputs, output = list(args.checkpoints), args.output
        if args.greedy:
            from trainlab.workflow.soup import greedy_soup, validation_scorer

            score, metric, direction = validation_scorer(inputs[0], args.metric, trust=args.trust_checkpoint)
            soup = greedy_soup(inputs, score, direction, trust=args.trust_checkpoint)
            save_checkpoint(soup.checkpoint, output)
            print(json.dumps({"output": str(output), "metric": metric, "direction": direction, "score": soup.score,
                              "ingredients": soup.ingredients, "steps": [step.__dict__ for step in soup.steps]}))
            return 0
        averaged = average_checkpoints(inputs, trust=args.trust_checkpoint)
        save_checkpoint(averaged, output)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    floating = sum(1 for value in averaged["state_dict"].values() if value.is_floating_point())
    print(json.dumps({"output": str(output), "inputs": [str(p) for p in inputs], "averaged_tensors": floating}))
    return 0
