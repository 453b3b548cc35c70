"""Canonical hashing: the cache key of a step and the content id of a version."""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["canonical_json", "fingerprint", "sha256_bytes", "sha256_file"]

_CHUNK = 8 << 20


def canonical_json(value: Any) -> str:
    """Serialise ``value`` so that equal values give equal strings (sorted keys, no spaces).

    >>> canonical_json({"b": 1, "a": [1, 2]})
    '{"a":[1,2],"b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(*parts: Any) -> str:
    """The sha256 hex digest of the canonical JSON of ``parts``.

    >>> fingerprint("read.csv", {"path": "a.csv"}) == fingerprint("read.csv", {"path": "a.csv"})
    True
    """
    return hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()


def sha256_bytes(data: bytes) -> str:
    """The sha256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(fs: Any, path: str) -> str:
    """Hash a file through an fsspec filesystem in 8 MiB chunks (bounded memory)."""
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
