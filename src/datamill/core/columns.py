"""Reserved column names and the roles a column can play in a dataset."""

from __future__ import annotations

from typing import Literal

__all__ = ["ID", "META", "PAGE", "PROVENANCE", "RESERVED", "ROLES", "SOURCE", "TEXT", "Role"]

ID = "id"
TEXT = "text"
SOURCE = "source"
PAGE = "page"
META = "meta"
RESERVED = (ID, TEXT, SOURCE, PAGE, META)
# Where a row came from, not what it says: left out of inferred schemas and drift tests.
PROVENANCE = (ID, SOURCE, PAGE, META)

Role = Literal["id", "text", "label", "group", "time", "weight", "source", "feature"]
ROLES: tuple[Role, ...] = ("id", "text", "label", "group", "time", "weight", "source", "feature")
