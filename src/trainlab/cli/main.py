"""The ``trainlab`` command: dispatches ``trainlab <command> [args]`` to one module per command.

Hydra-driven commands (``train``, ``eval``, ``predict``, ``export``, ``tune``, ``plot-lr``, ``lr-find``,
``batch-size-find``) receive the remaining arguments as
Hydra overrides (``key=value``, ``-m`` for multirun, ``--cfg job`` to print the config).
Alias spellings of keys are rewritten first (:mod:`trainlab.cli.aliases`).
Plain commands (``score``, ``average``, ``collect``, ``ablate``, ``tasks``, ``kfold``, ``report``, ``data``) parse their own ``--flags`` with argparse. Command modules are
imported only when run, so ``trainlab score`` never imports torch.
"""

from __future__ import annotations

import importlib
import os
import sys

from trainlab.cli.aliases import canonical_overrides

# command -> (module, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("trainlab.cli.train", "main", "train a model from config (Hydra overrides, -m for sweeps)"),
    "eval": ("trainlab.cli.evaluate", "main", "evaluate a checkpoint: metrics JSON and per-image CSV"),
    "predict": ("trainlab.cli.predict", "main", "run a checkpoint on images: ICDAR res_*.txt, JSON, drawings"),
    "export": ("trainlab.cli.export", "main", "export a checkpoint's network to ONNX, checked against ONNX Runtime"),
    "score": ("trainlab.cli.score", "main", "score ICDAR result files against ground truth (no model)"),
    "plot-lr": ("trainlab.cli.plot_lr", "main", "draw the configured LR schedule as a PNG, without training"),
    "lr-find": ("trainlab.cli.lr_find", "main", "LR range test on the configured run: suggestion, PNG, JSON"),
    "batch-size-find": ("trainlab.cli.batch_size_find", "main", "largest batch size that trains: JSON"),
    "average": ("trainlab.cli.average", "main", "average checkpoints (files, or the last K epochs of a run)"),
    "tune": ("trainlab.cli.tune", "main", "hyper-parameter search with Optuna (resumable, prunes bad trials)"),
    "collect": ("trainlab.cli.collect", "main", "collect every run below a folder into one CSV table"),
    "ablate": ("trainlab.cli.ablate", "main", "comparison table (mean ± std over seeds) and plots from collected runs"),
    "tasks": ("trainlab.cli.tasks", "main", "list the installed tasks with their experiments"),
    "kfold": ("trainlab.cli.kfold", "main", "k-fold training: a run per fold, out-of-fold choices, fold ensemble"),
    "report": ("trainlab.cli.report", "main", "one self-contained HTML page for a run, a sweep or a search"),
    "data": ("trainlab.cli.data", "main", "text detection data tools: convert annotation formats, check a data set"),
}


HYDRA_COMMANDS = {"train", "eval", "predict", "export", "tune", "plot-lr", "lr-find", "batch-size-find"}

# Set for Hydra commands and inherited by the processes Lightning's DDP launcher starts: they
# re-run this program with the overrides only (see _command_of).
COMMAND_ENV = "TRAINLAB_COMMAND"


def quote_override_values(args: list[str]) -> list[str]:
    """Quote override values that contain ``=``, which Hydra's grammar rejects unquoted.

    Checkpoint names such as ``best-epoch=09-val_hmean=0.9651.ckpt`` then work as
    ``ckpt_path=.../best-epoch=09-val_hmean=0.9651.ckpt`` without shell gymnastics; in a list
    (``ckpt_path=[a,b]``, an ensemble) each element is quoted on its own, so the value stays a
    list. Flags (``-m``, ``--cfg``) and values or elements already quoted are left alone.
    """

    def quote(value: str) -> str:
        if "=" not in value or value[:1] in {"'", '"'}:
            return value
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    quoted = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and not arg.startswith("-") and "=" in value:
            if value.startswith("[") and value.endswith("]"):
                value = "[" + ",".join(quote(item) for item in value[1:-1].split(",")) + "]"
            else:
                value = quote(value)
            arg = f"{key}={value}"
        quoted.append(arg)
    return quoted


def _command_of(argv: list[str]) -> tuple[str, list[str]]:
    """``(command, its arguments)``. A DDP worker process started by Lightning (``LOCAL_RANK``
    set, > 0) gets the overrides without the command name; the command comes from
    :data:`COMMAND_ENV`, inherited from the launching process."""
    inherited = os.environ.get(COMMAND_ENV)
    if argv[0] not in COMMANDS and inherited in HYDRA_COMMANDS and os.environ.get("LOCAL_RANK", "0") != "0":
        return inherited, argv
    return argv[0], argv[1:]


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: trainlab <command> [args]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "Run 'trainlab <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``trainlab`` console script.

    Args:
        argv: Arguments after the program name; defaults to ``sys.argv[1:]``.

    Raises:
        SystemExit: code 2 for an unknown or missing command, else the command's own code.
    """
    program = sys.argv[0]
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage())
        raise SystemExit(0 if argv else 2)
    name, rest = _command_of(argv)
    if name not in COMMANDS:
        print(f"trainlab: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        raise SystemExit(2)
    module_name, function_name, _ = COMMANDS[name]
    function = getattr(importlib.import_module(module_name), function_name)
    if name in HYDRA_COMMANDS:
        rest = quote_override_values(canonical_overrides(name, rest))
        os.environ[COMMAND_ENV] = name
        # Hydra reads sys.argv[1:]; Lightning's DDP launcher re-runs sys.argv[0] (a real file) with them.
        sys.argv = [program, *rest]
    else:
        # argparse reads sys.argv; present the command as its own program.
        sys.argv = [f"trainlab {name}", *rest]
    result = function(rest)
    if isinstance(result, int):
        raise SystemExit(result)
