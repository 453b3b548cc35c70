"""Row accounting: rows in = rows out + dropped (by reason) + quarantined (by reason)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from datamill.core.errors import LedgerError

__all__ = ["EXAMPLES_PER_REASON", "Ledger", "example_row"]

# A run keeps this many dropped rows per reason: enough to see what a rule removed, small enough
# to live in the run record.
EXAMPLES_PER_REASON = 5
_EXAMPLE_TEXT_CHARS = 500


def example_row(row: dict[str, Any]) -> dict[str, Any]:
    """A dropped row as kept in the run record: long strings cut, odd values as text.

    >>> example_row({"id": "a", "text": "x" * 600, "n": 3})["text"][-14:]
    'x… [600 chars]'
    """
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, str):
            out[key] = value if len(value) <= _EXAMPLE_TEXT_CHARS else (
                value[:_EXAMPLE_TEXT_CHARS] + f"… [{len(value)} chars]")
        elif value is None or isinstance(value, bool | int | float):
            out[key] = value
        else:
            text = str(value)
            out[key] = text if len(text) <= 200 else text[:200] + "…"
    return out


@dataclass
class Ledger:
    """The row accounting of one step (or one partition of it).

    A step that splits a row into several (a chunker) counts the extra rows as ``created``; one
    that folds several rows into one (rows to a table) counts the rows folded away as
    ``merged``. ``examples`` keeps a few dropped rows per reason, for reports.

    >>> ledger = Ledger(rows_in=3, rows_out=1, dropped={"too_short": 1}, quarantined={"bad": 1})
    >>> ledger.balanced
    True
    >>> Ledger(rows_in=2, rows_out=5, created=3).balanced
    True
    """

    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    created: int = 0
    merged: int = 0
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        """Whether every row that came in is accounted for."""
        return self.rows_in + self.created == self.rows_out + self.merged + sum(self.dropped.values()) + sum(
            self.quarantined.values()
        )

    def wants_examples(self, reason: str) -> bool:
        """Whether this ledger still keeps dropped rows for ``reason``."""
        return len(self.examples.get(reason, ())) < EXAMPLES_PER_REASON

    def add_examples(self, reason: str, rows: list[dict[str, Any]]) -> None:
        """Keep up to `EXAMPLES_PER_REASON` dropped rows for ``reason``."""
        kept = self.examples.setdefault(reason, [])
        kept.extend(example_row(r) for r in rows[: EXAMPLES_PER_REASON - len(kept)])

    def add_dropped(self, reason: str, count: int) -> None:
        """Count ``count`` rows dropped for ``reason``."""
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    def add_quarantined(self, reason: str, count: int) -> None:
        """Count ``count`` rows quarantined for ``reason``."""
        if count:
            self.quarantined[reason] = self.quarantined.get(reason, 0) + count

    def merge(self, other: Ledger) -> Ledger:
        """Return the sum of two ledgers (partitions of one step)."""
        examples = {k: list(v) for k, v in self.examples.items()}
        for reason, rows in other.examples.items():
            mine = examples.setdefault(reason, [])
            mine.extend(rows[: EXAMPLES_PER_REASON - len(mine)])
        return Ledger(
            rows_in=self.rows_in + other.rows_in,
            rows_out=self.rows_out + other.rows_out,
            dropped=dict(Counter(self.dropped) + Counter(other.dropped)),
            quarantined=dict(Counter(self.quarantined) + Counter(other.quarantined)),
            created=self.created + other.created,
            merged=self.merged + other.merged,
            examples=examples,
        )

    def check(self, step_id: str) -> None:
        """Raise `LedgerError` when rows were lost or invented."""
        if not self.balanced:
            accounted = self.rows_out + self.merged + sum(self.dropped.values()) + sum(self.quarantined.values())
            made = f" + {self.created:,} created" if self.created else ""
            raise LedgerError(
                f"step {step_id!r} does not balance its ledger: {self.rows_in:,} rows in{made}, "
                f"{accounted:,} accounted for (out {self.rows_out:,}, merged {self.merged:,}, "
                f"dropped {self.dropped}, quarantined {self.quarantined}). A step must drop or "
                "quarantine rows through `Outcome`, never discard them; this is a bug in the step."
            )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used in run records and `--json` output."""
        out: dict[str, Any] = {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": dict(sorted(self.dropped.items())),
            "quarantined": dict(sorted(self.quarantined.items())),
        }
        # Only when used, so the records of plain steps stay as they were.
        if self.created:
            out["created"] = self.created
        if self.merged:
            out["merged"] = self.merged
        if self.examples:
            out["examples"] = dict(sorted(self.examples.items()))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ledger:
        """Inverse of `to_dict`."""
        return cls(
            rows_in=int(data.get("rows_in", 0)),
            rows_out=int(data.get("rows_out", 0)),
            dropped={str(k): int(v) for k, v in data.get("dropped", {}).items()},
            quarantined={str(k): int(v) for k, v in data.get("quarantined", {}).items()},
            created=int(data.get("created", 0)),
            merged=int(data.get("merged", 0)),
            examples={str(k): list(v) for k, v in data.get("examples", {}).items()},
        )
