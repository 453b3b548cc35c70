"""Row accounting: rows in = rows out + dropped (by reason) + quarantined (by reason)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from datamill.core.errors import LedgerError

__all__ = ["Ledger"]


@dataclass
class Ledger:
    """The row accounting of one step (or one partition of it).

    >>> ledger = Ledger(rows_in=3, rows_out=1, dropped={"too_short": 1}, quarantined={"bad": 1})
    >>> ledger.balanced
    True
    """

    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        """Whether every row that came in is accounted for."""
        return self.rows_in == self.rows_out + sum(self.dropped.values()) + sum(
            self.quarantined.values()
        )

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
        return Ledger(
            rows_in=self.rows_in + other.rows_in,
            rows_out=self.rows_out + other.rows_out,
            dropped=dict(Counter(self.dropped) + Counter(other.dropped)),
            quarantined=dict(Counter(self.quarantined) + Counter(other.quarantined)),
        )

    def check(self, step_id: str) -> None:
        """Raise `LedgerError` when rows were lost or invented."""
        if not self.balanced:
            accounted = self.rows_out + sum(self.dropped.values()) + sum(self.quarantined.values())
            raise LedgerError(
                f"step {step_id!r} does not balance its ledger: {self.rows_in:,} rows in, "
                f"{accounted:,} accounted for (out {self.rows_out:,}, dropped {self.dropped}, "
                f"quarantined {self.quarantined}). A step must drop or quarantine rows through "
                "`Outcome`, never discard them; this is a bug in the step."
            )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used in run records and `--json` output."""
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": dict(sorted(self.dropped.items())),
            "quarantined": dict(sorted(self.quarantined.items())),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ledger:
        """Inverse of `to_dict`."""
        return cls(
            rows_in=int(data.get("rows_in", 0)),
            rows_out=int(data.get("rows_out", 0)),
            dropped={str(k): int(v) for k, v in data.get("dropped", {}).items()},
            quarantined={str(k): int(v) for k, v in data.get("quarantined", {}).items()},
        )
