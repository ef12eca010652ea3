"""What revenue does when other domains' things happen (`control_plane.events`).

A refunded or voided invoice takes back the earnings it funded at once: billing's transaction
marks them reversed and records what is owed back (it holds no provider), and this subscriber
reverses it on the transfers that carried it, or leaves it owed for the next payout when the
money has left. Idempotent: what is settled is marked, and each reversal's key is derived from
its transfer and lines.
"""

from __future__ import annotations

from control_plane import events
from control_plane.jobs.queue import JobContext
from control_plane.revenue import payouts


@events.subscribe(events.InvoiceChanged)
def take_back_refunded_earnings(context: JobContext, event: events.InvoiceChanged) -> None:
    """Reverse the paid-out earnings of a refunded or voided invoice."""
    if event.status not in ("refunded", "void") or context.payments is None:
        return
    with context.sessionmaker() as session:
        payouts.settle_reversals(session=session, provider=context.payments)
