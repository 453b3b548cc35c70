"""Loading a Hugging Face ``tokenizers`` tokenizer: a ``tokenizer.json`` or a model folder holding one.

Nothing is downloaded: a tokenizer is a file on disk (or inside an installed package). Its
sha256 is returned with it, so a step's cache key changes when the tokenizer does.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from datamill.core.errors import ConfigError
from datamill.pipeline.registry import base_dir

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["load_tokenizer", "resolve_tokenizer_path"]


def resolve_tokenizer_path(path_text: str, step: str) -> Path:
    """The ``tokenizer.json`` that ``path_text`` names: the file, or the one in a model folder.

    Relative paths are read against the pipeline's folder.
    """
    path = Path(path_text).expanduser()
    path = path if path.is_absolute() else base_dir() / path
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise ConfigError(
            f"step {step!r}: no tokenizer at {str(path)!r}. Give a `tokenizer.json` file or a model "
            "folder holding one (relative to the pipeline file); nothing is downloaded."
        )
    return path


def load_tokenizer(path_text: str, step: str) -> tuple[Tokenizer, str]:
    """``(tokenizer, sha256 of its file)`` for a ``tokenizer.json`` or a model folder.

    Truncation and padding saved in the file are switched off: they would hide tokens. Loaded
    once per process and file content.

    >>> import tempfile, tokenizers
    >>> folder = tempfile.mkdtemp()
    >>> tokenizers.Tokenizer(tokenizers.models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]")).save(
    ...     folder + "/tokenizer.json")
    >>> load_tokenizer(folder, "llm.tokenize")[0].get_vocab_size()
    2
    """
    path = resolve_tokenizer_path(path_text, step)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"step {step!r}: cannot read the tokenizer {str(path)!r}: {err}.") from err
    digest = hashlib.sha256(data).hexdigest()
    return _parse(data, digest, str(path), step), digest


@lru_cache(maxsize=8)
def _parse(data: bytes, digest: str, path: str, step: str) -> Tokenizer:
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_str(data.decode("utf-8"))
    except Exception as err:  # tokenizers raises its own exception type for a bad file
        raise ConfigError(f"step {step!r}: {path!r} is not a tokenizers JSON file: {err}. Save one with "
                          "`Tokenizer.save(path)` or point at a model folder holding `tokenizer.json`.") from err
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
