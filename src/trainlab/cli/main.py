"""The ``trainlab`` command: dispatches ``trainlab <command> [args]`` to one module per command.

Hydra-driven commands (``train``, ``eval``, ``predict``) receive the remaining arguments as
Hydra overrides (``key=value``, ``-m`` for multirun, ``--cfg job`` to print the config).
Plain commands (``score``) parse their own ``--flags`` with argparse. Command modules are
imported only when run, so ``trainlab score`` never imports torch.
"""

from __future__ import annotations

import importlib
import sys

# command -> (module, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("trainlab.cli.train", "main", "train a model from config (Hydra overrides, -m for sweeps)"),
    "eval": ("trainlab.cli.evaluate", "main", "evaluate a checkpoint: metrics JSON and per-image CSV"),
    "predict": ("trainlab.cli.predict", "main", "run a checkpoint on images: ICDAR res_*.txt, JSON, drawings"),
    "score": ("trainlab.cli.score", "main", "score ICDAR result files against ground truth (no model)"),
}


HYDRA_COMMANDS = {"train", "eval", "predict"}


def quote_override_values(args: list[str]) -> list[str]:
    """Quote override values that contain ``=``, which Hydra's grammar rejects unquoted.

    Checkpoint names such as ``best-epoch=09-val_hmean=0.9651.ckpt`` then work as
    ``ckpt_path=.../best-epoch=09-val_hmean=0.9651.ckpt`` without shell gymnastics. Flags
    (``-m``, ``--cfg``) and values already quoted are left alone.
    """
    quoted = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and not arg.startswith("-") and "=" in value and value[:1] not in {"'", '"'}:
            arg = f"{key}='" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        quoted.append(arg)
    return quoted


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
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage())
        raise SystemExit(0 if argv else 2)
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"trainlab: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        raise SystemExit(2)
    if name in HYDRA_COMMANDS:
        rest = quote_override_values(rest)
    module_name, function_name, _ = COMMANDS[name]
    function = getattr(importlib.import_module(module_name), function_name)
    # Hydra and argparse both read sys.argv; present the command as its own program.
    sys.argv = [f"trainlab {name}", *rest]
    result = function(rest)
    if isinstance(result, int):
        raise SystemExit(result)
