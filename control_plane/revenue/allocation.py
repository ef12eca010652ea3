"""Splitting an invoice line's money between venues and the platform, exactly, in cents.

A line's amount is the sum of what its plays were charged (whole cents, `reporting/store.py`).
Each part of it — one screen's plays under one policy version — earns its venue
`revenue × bps / 10000`, a fraction of a cent in general. The venues' total for the line is the
sum of those exact shares rounded down to the cent (the platform never pays out a fraction it
did not receive), and it is handed out by largest remainder: every part gets its share rounded
down, and the cents left go one each to the parts with the largest fractions dropped (ties: the
larger revenue, then the part's key). So the parts add up to the line's venue total, the
platform keeps the rest, and venue earnings + platform share = the line's amount, always.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BPS = 10_000


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a line: its revenue in cents and the share its venue gets, in bps."""

    key: str
    revenue_cents: int
    bps: int


def split(parts: Sequence[Part]) -> tuple[list[int], int]:
    """Each part's earnings (in the order given) and the platform's share."""
    exact = [p.revenue_cents * p.bps for p in parts]  # in 1/10000 of a cent
    total = sum(exact) // BPS
    earnings = [e // BPS for e in exact]
    left = total - sum(earnings)
    if left:
        order = sorted(range(len(parts)), key=lambda i: (-(exact[i] % BPS),
                                                         -parts[i].revenue_cents,
                                                         parts[i].key))
        for i in order[:left]:
            earnings[i] += 1
    amount = sum(p.revenue_cents for p in parts)
    return earnings, amount - total
