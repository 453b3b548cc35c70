"""The one exception tree of datamill.

Every message says what failed, where, what it got and what to do. Bad *data* is never an
exception: it becomes a quarantine row (see ``datamill.pipeline.Outcome``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ConfigError",
    "DatamillError",
    "LedgerError",
    "NotFoundError",
    "PipelineError",
    "SchemaError",
    "StoreError",
    "did_you_mean",
]


class DatamillError(Exception):
    """Base class of every error datamill raises on purpose."""

    exit_code = 3


class ConfigError(DatamillError, ValueError):
    """A configuration, spec or command-line value is wrong; the user must change it."""

    exit_code = 2


class SchemaError(DatamillError):
    """Data does not have the columns or types a step needs."""

    exit_code = 2


class NotFoundError(DatamillError, LookupError):
    """A dataset, version, run, step or workspace does not exist."""

    exit_code = 2


class StoreError(DatamillError):
    """The object store or metadata database failed or holds something inconsistent."""


class PipelineError(DatamillError):
    """A pipeline run failed while executing a step."""


class LedgerError(PipelineError):
    """A step's row accounting does not balance: rows were lost or invented."""


def did_you_mean(word: str, choices: Iterable[str], *, quote: str = "'") -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or an empty string.

    >>> did_you_mean("dedup.minhahs", ["dedup.minhash", "read.csv"])
    " Did you mean 'dedup.minhash'?"
    >>> did_you_mean("zzz", ["read.csv"])
    ''
    """
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {quote}{close[0]}{quote}?" if close else ""
