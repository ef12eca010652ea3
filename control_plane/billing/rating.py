"""Rating: from billable plays to invoice lines, exactly, in integer cents.

A billable play is an accepted, eligible proof-of-play record. Its impressions are plays × the
screen's audience multiplier (in thousandths, as stored); its exact cost is impressions × CPM /
1000. Ingestion charges it when it is stored (`reporting/store.py`): a campaign's spend after
any number of its plays is its exact cost so far *rounded down to the cent*, never above its
budget, and each play carries the whole cents it added (0 for most plays of a cheap CPM, 1 for
the one that completes a cent; 0 once the budget is spent: delivered free). So every sum of
plays — an invoice line, an invoice, a cycle, a statement line — is a sum of integers, and all
of them agree to the cent; the remainder below a cent is carried to the campaign's next play,
never lost and never rounded up.

A line shows what the budget left unpaid: `value_cents` is the line's impressions at the CPM
rounded down, and when the campaign's budget is spent, `budget_capped_cents` = value − amount
(what was delivered free). The venues' share of a line is split by `revenue/allocation.py`.
"""

from __future__ import annotations

MICROS_PER_CENT = 1_000_000  # milli-impressions × CPM cents are millionths of a cent


def value_cents(impressions_milli: int, cpm_cents: int) -> int:
    """Impressions at the CPM, rounded down to the cent (no budget)."""
    return impressions_milli * cpm_cents // MICROS_PER_CENT


def budget_capped_cents(*, impressions_milli: int, cpm_cents: int, amount_cents: int,
                        budget_spent: bool) -> int:
    """What a line delivered free because its campaign's budget ran out."""
    if not budget_spent:
        return 0
    return max(0, value_cents(impressions_milli, cpm_cents) - amount_cents)
