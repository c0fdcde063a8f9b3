"""Other spellings of config keys that users' handbooks write, mapped to the canonical ones.

One table, applied to the command line before Hydra reads it (so ``--cfg job``, sweeps and
searches all see the canonical keys, and the run's ``overrides.yaml`` records them):

- ``training.learning_rate=1e-3`` -> ``optimizer.lr=1e-3`` (:data:`KEY_ALIASES`; swept values
  such as ``training.learning_rate=1e-3,5e-4`` keep their list);
- ``+model=architectures/dbnetpp`` -> ``model=architectures/dbnetpp``: a ``+`` on a config group
  that the root config already selects means "choose this option" (Hydra itself refuses it);
  ``model/architectures/<name>`` configs are the handbook's names of ``model/text_detection/<name>``;
- ``trainlab eval data.root=<dir>`` -> ``++data.root=<dir>``: ``eval`` starts from the data
  config stored in the checkpoint, so its own ``data`` node is empty until a key is set.

- ``trainlab predict model=<file.onnx>`` -> ``onnx_model=<file.onnx>`` (:data:`COMMAND_KEY_ALIASES`):
  ``model`` is a config group, which Hydra would look the file up in.

``resume=<checkpoint>`` needs no rewriting: ``train.yaml`` defines ``ckpt_path: ${resume}``.
"""

from __future__ import annotations

# alias key -> canonical key
KEY_ALIASES: dict[str, str] = {
    "training.learning_rate": "optimizer.lr",
}

# Per command: alias key -> canonical key.
COMMAND_KEY_ALIASES: dict[str, dict[str, str]] = {
    "predict": {"model": "onnx_model"},
}

# Config groups the root config of each command selects in its defaults list.
_TRAIN_GROUPS = {"data", "model", "optimizer", "scheduler", "trainer", "callbacks", "logger", "paths", "hydra",
                 "launcher", "experiment"}
ROOT_GROUPS: dict[str, set[str]] = {
    "train": _TRAIN_GROUPS, "plot-lr": _TRAIN_GROUPS, "lr-find": _TRAIN_GROUPS, "batch-size-find": _TRAIN_GROUPS,
    "tune": _TRAIN_GROUPS | {"hparams_search"},
    "eval": {"data", "paths", "hydra"},
    "predict": {"paths", "hydra"},
    "export": {"paths", "hydra"},
}
# Commands whose `data` node starts empty (filled from the checkpoint).
_DATA_FROM_CHECKPOINT = {"eval"}


def canonical_overrides(command: str, args: list[str]) -> list[str]:
    """Rewrite the alias spellings in ``args`` (Hydra overrides of ``command``); others pass unchanged.

    Args:
        command: The trainlab command (``train``, ``eval``...).
        args: Its command-line arguments (overrides and flags such as ``-m``).

    Returns:
        The arguments with canonical keys, in the same order.
    """
    groups = ROOT_GROUPS.get(command, set())
    rewritten = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or arg.startswith("-"):
            rewritten.append(arg)
            continue
        prefix = key[: len(key) - len(key.lstrip("+~"))]
        bare = key[len(prefix):]
        bare = KEY_ALIASES.get(bare, bare)
        bare = COMMAND_KEY_ALIASES.get(command, {}).get(bare, bare)
        if prefix == "+" and bare in groups:
            prefix = ""
        if command in _DATA_FROM_CHECKPOINT and bare.startswith("data.") and not prefix:
            prefix = "++"
        rewritten.append(f"{prefix}{bare}={value}")
    return rewritten
