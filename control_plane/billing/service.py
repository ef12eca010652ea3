"""Billing: closing a period into invoices, issuing them with the payment provider, and what
advertisers owe.

A close is two steps, each safe to repeat:

1. **Close** (`close`), one transaction: the cycle, one draft invoice per advertiser org and
   currency with a line per campaign and period, and the venues' statement lines
   (`revenue.accrue`). It bills every billable play that started before the period's end, was
   stored at or below the watermark read now (the highest committed `seq`), and no earlier close
   billed. Closes go in order, so an earlier one billed exactly the plays started before *its*
   end and stored at or below *its* watermark: the plays of this period (and of any gap before
   it) are all new, and an older play is new only if it was stored after the previous close —
   a late delivery, billed here on a line naming its own period. So every billable play lands
   on exactly one line. The same period again finds its cycle and bills nothing more; two
   closes at once cannot both write (one lock, then the cycle's unique start).
2. **Issue** (`issue`): each draft invoice goes to the provider step by step — customer,
   invoice, its items, finalize, send — every step with an idempotency key derived from what it
   writes, and each id stored the moment it is known, so a retry after a crash or an outage
   skips what is done and repeats the rest without creating anything twice. The invoice is
   `open` (visible, payable) only when all its steps are done.

Rounding and remainders: `rating.py` and `revenue/allocation.py`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.billing import closing, invoices
from control_plane.billing.closing import CloseResult, close, due_period, period_of
from control_plane.billing.invoices import (
    apply_invoice_event,
    funding_charge,
    get_invoice,
    invoice_read,
    lines_of,
    list_invoices,
    mark_paid,
    reader_org,
)
from control_plane.billing.issuing import ISSUE_JOB, issue, issue_or_retry
from control_plane.billing.models import BillingCycle
from control_plane.billing.reconciliation import Reconciliation, cycles_in, reconciliation, trace
from control_plane.revenue import payouts
from control_plane.revenue import service as revenue_service

__all__ = ["ISSUE_JOB", "CloseResult", "Reconciliation", "apply_invoice_event",
           "billed_until", "close", "closed_cycle", "cycles_in", "cycles_within", "due_period",
           "funding_charge", "get_invoice", "invoice_read", "issue", "issue_or_retry",
           "lines_of", "list_invoices", "mark_paid", "period_of", "reader_org",
           "reconciliation", "trace"]

# what the domains below billing ask of it (`control_plane.upcalls`)
billed_until = revenue_service.billed_until.provide(closing.billed_until)
payouts.funding_charge.provide(invoices.funding_charge)


@revenue_service.cycles_within.provide
def cycles_within(*, session: Session, start_ms: int, end_ms: int) -> list[str]:
    """The ids of the cycles whose period lies within [start, end)."""
    return list(session.scalars(select(BillingCycle.id).where(
        BillingCycle.start_ms >= start_ms, BillingCycle.end_ms <= end_ms)))


@payouts.closed_cycle.provide
def closed_cycle(*, session: Session, start_ms: int, end_ms: int) -> tuple[str, int] | None:
    """The cycle of exactly this period, as (id, end ms), if one was closed."""
    found = session.scalar(select(BillingCycle).where(BillingCycle.start_ms == start_ms,
                                                      BillingCycle.end_ms == end_ms))
    return (found.id, found.end_ms) if found is not None else None
