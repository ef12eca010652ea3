"""Reconciliation: what the cycles of a period invoiced, how it was shared between venues and
the platform, and the trace from every line to the plays behind it."""


import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane.billing.exceptions import (
    InvalidPeriod,
)
from control_plane.billing.models import (
    BillingCycle,
    Invoice,
    InvoiceLine,
)
from control_plane.reporting import service as reporting_service
from control_plane.revenue import service as revenue_service
from control_plane.revenue.service import to_ms

log = logging.getLogger(__name__)


# --- reconciliation -----------------------------------------------------------------------

def cycles_in(*, session: Session, start: datetime, end: datetime) -> list[BillingCycle]:
    """The cycles whose period lies within [start, end)."""
    return list(session.scalars(select(BillingCycle).where(
        BillingCycle.start_ms >= to_ms(start), BillingCycle.end_ms <= to_ms(end))
        .order_by(BillingCycle.start_ms)))


@dataclass(frozen=True)
class Reconciliation:
    period_start: datetime
    period_end: datetime
    cycles: int
    currency: str
    invoiced_cents: int
    plays_spend_cents: int  # what the plays behind the lines were charged, summed again
    venue_earnings_cents: int
    platform_cents: int
    difference_cents: int  # invoiced − venue earnings − platform share: always 0


def reconciliation(*, session: Session, start: datetime,
                   end: datetime) -> list[Reconciliation]:
    """Per currency, what the cycles in [start, end) invoiced and how it was shared."""
    if end <= start:
        raise InvalidPeriod("period_end must be after period_start")
    cycles = cycles_in(session=session, start=start, end=end)
    ids = [c.id for c in cycles]
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    if ids:
        for currency, amount, venue, platform in session.execute(
                select(Invoice.currency, func.sum(InvoiceLine.amount_cents),
                       func.sum(InvoiceLine.venue_cents), func.sum(InvoiceLine.platform_cents))
                .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
                .where(Invoice.cycle_id.in_(ids)).group_by(Invoice.currency)):
            sums[currency] = [int(amount or 0), int(venue or 0), int(platform or 0)]
    earned = revenue_service.earnings_by_currency(session=session, cycle_ids=ids)
    traced = _traced_spend(session, ids)
    return [Reconciliation(start, end, len(cycles), currency, amount, traced.get(currency, 0),
                           earned.get(currency, 0), platform,
                           amount - earned.get(currency, 0) - platform)
            for currency, (amount, _venue, platform) in sorted(sums.items())]


def _traced_spend(session: Session, cycle_ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for line, currency in _lines_of_cycles(session, cycle_ids):
        out[currency] += sum(spend for _, _, _, spend in reporting_service.billable.plays_in(
            session=session, window=_window(line)))
    return dict(out)


def _lines_of_cycles(session: Session,
                     cycle_ids: list[str]) -> Iterator[tuple[InvoiceLine, str]]:
    if not cycle_ids:
        return
    yield from session.execute(select(InvoiceLine, Invoice.currency)
                               .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
                               .where(Invoice.cycle_id.in_(cycle_ids))
                               .order_by(Invoice.id, InvoiceLine.position)).all()


def _window(line: InvoiceLine, screen_id: str | None = None) -> reporting_service.Window:
    return reporting_service.Window(line.started_from_ms, line.started_to_ms, line.seq_after,
                                    line.seq_upto, line.campaign_id, screen_id)


def trace(*, session: Session, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """From every invoice line and every statement line of the cycles in [start, end) to
    the plays behind it: one row per (line, play)."""
    ids = [c.id for c in cycles_in(session=session, start=start, end=end)]
    for line, currency in _lines_of_cycles(session, ids):
        for play_id, seq, impressions, spend in reporting_service.billable.plays_in(
                session=session, window=_window(line)):
            yield {"line_type": "invoice_line", "line_id": line.id,
                   "invoice_id": line.invoice_id, "campaign_id": line.campaign_id,
                   "currency": currency, "play_id": play_id, "seq": seq,
                   "impressions": impressions / 1000, "spend_cents": spend}
    for st in revenue_service.statement_lines_of(session=session, cycle_ids=ids):
        window = reporting_service.Window(st.started_from_ms, st.started_to_ms, st.seq_after,
                                          st.seq_upto, st.campaign_id, st.screen_id)
        for play_id, seq, impressions, spend in reporting_service.billable.plays_in(
                session=session, window=window):
            yield {"line_type": "statement_line", "line_id": st.id,
                   "invoice_id": st.invoice_id, "campaign_id": st.campaign_id,
                   "currency": st.currency, "play_id": play_id, "seq": seq,
                   "impressions": impressions / 1000, "spend_cents": spend}

