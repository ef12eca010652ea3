"""The five measures every rollup keeps, by name: what the write phase adds up and what a
report adds together.

The rollup tables, `campaign_delivery` and the SQL of the write phase list them in the order of
`TOTALS`; `Sums.values()` gives them in that order, to append to a row's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOTALS = ("plays", "billable_plays", "played_ms", "impressions_milli", "spend_cents")


@dataclass(slots=True)
class Sums:
    """Plays, billable plays, milliseconds played, thousandths of an impression and cents of
    spend, added up exactly (integers)."""

    plays: int = 0
    billable_plays: int = 0
    played_ms: int = 0
    impressions_milli: int = 0
    spend_cents: int = 0

    def values(self) -> tuple[int, int, int, int, int]:
        """The measures in the order of `TOTALS`."""
        return (self.plays, self.billable_plays, self.played_ms, self.impressions_milli,
                self.spend_cents)

    def add(self, other: Sums) -> None:
        """Add another group's measures to these."""
        self.plays += other.plays
        self.billable_plays += other.billable_plays
        self.played_ms += other.played_ms
        self.impressions_milli += other.impressions_milli
        self.spend_cents += other.spend_cents

    def copy(self) -> Sums:
        return Sums(self.plays, self.billable_plays, self.played_ms, self.impressions_milli,
                    self.spend_cents)

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> Sums:
        """Measures read from a row of SQL sums (in the order of `TOTALS`; NULL is 0)."""
        plays, billable, played_ms, impressions_milli, spend = row
        return cls(int(plays or 0), int(billable or 0), int(played_ms or 0),
                   int(impressions_milli or 0), int(spend or 0))
