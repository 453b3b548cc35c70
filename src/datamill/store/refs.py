"""Dataset references: ``name``, ``name@N``, ``name@latest``, ``name@<hash prefix>``, ``@<hash>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from datamill.core.errors import ConfigError

__all__ = ["NAME_PATTERN", "Ref", "parse_ref"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,199}$")
_HEX = re.compile(r"^[0-9a-f]{4,64}$")


@dataclass(frozen=True)
class Ref:
    """A parsed reference. Exactly one of ``seq``/``prefix`` is set, or neither for latest."""

    name: str | None
    seq: int | None = None
    prefix: str | None = None

    def __str__(self) -> str:
        tail = str(self.seq) if self.seq is not None else (self.prefix or "latest")
        return f"{self.name or ''}@{tail}"


def check_name(name: str) -> str:
    """Raise `ConfigError` for a dataset name that cannot be used in a ref."""
    if not NAME_PATTERN.match(name) or "@" in name:
        raise ConfigError(
            f"dataset name {name!r} is not valid: use letters, digits, '_', '.', '-' or '/', "
            "starting with a letter or digit (at most 200 characters)."
        )
    return name


def parse_ref(text: str) -> Ref:
    """Parse a dataset reference.

    >>> parse_ref("spam@3")
    Ref(name='spam', seq=3, prefix=None)
    >>> parse_ref("spam@a1b2c3d")
    Ref(name='spam', seq=None, prefix='a1b2c3d')
    >>> parse_ref("spam")
    Ref(name='spam', seq=None, prefix=None)
    >>> parse_ref("@20250101")  # no name: digits are a hash prefix, not a sequence number
    Ref(name=None, seq=None, prefix='20250101')
    """
    name, at, tail = text.strip().partition("@")
    if not at or tail in ("", "latest"):
        if not name:
            raise ConfigError(f"empty dataset reference {text!r}; write `name`, `name@N` or `@hash`.")
        return Ref(check_name(name))
    if tail.isdigit() and len(tail) < 10 and (name or not _HEX.match(tail)):
        if not name:
            raise ConfigError(f"reference {text!r} has a sequence number but no name.")
        return Ref(check_name(name), seq=int(tail))
    if _HEX.match(tail.lower()):
        return Ref(check_name(name) if name else None, prefix=tail.lower())
    raise ConfigError(
        f"cannot read dataset reference {text!r}: after '@' write a version number (`spam@3`), "
        "`latest`, or at least 4 hex digits of a version id (`spam@a1b2`)."
    )
