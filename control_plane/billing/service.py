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

import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane import events
from control_plane.billing import rating
from control_plane.billing.exceptions import (
    InvalidPeriod,
    InvoiceNotFound,
    InvoiceState,
    PeriodOverlaps,
)
from control_plane.billing.models import (
    BillingCustomer,
    BillingCycle,
    CycleStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
)
from control_plane.campaigns import service as campaigns_service
from control_plane.db import new_id, utcnow
from control_plane.jobs.queue import JobContext, JobQueue, registry
from control_plane.orgs import service as orgs_service
from control_plane.payments.base import PaymentProvider, idempotency_key
from control_plane.payments.exceptions import ProviderRefused, ProviderUnavailable
from control_plane.reporting import service as reporting_service
from control_plane.reporting.service import BillableGroup
from control_plane.revenue import payouts
from control_plane.revenue import service as revenue_service
from control_plane.revenue.service import AccruedLine, LinePart, Timeline, from_ms, to_ms
from control_plane.settings import Settings

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
ADVISORY_LOCK_KEY = 0x62696C6C  # "bill": one close at a time (PostgreSQL)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


# --- periods ------------------------------------------------------------------------------

def period_of(settings: Settings, instant: datetime) -> tuple[datetime, datetime]:
    """The billing period an instant falls in: its calendar month in UTC, or the run of
    `billing_cycle_days` days (counted from the epoch) it is in."""
    instant = instant.astimezone(UTC)
    if settings.billing_cycle == "days":
        length = timedelta(days=settings.billing_cycle_days)
        start = from_ms(to_ms(instant) // (length // timedelta(milliseconds=1))
                        * (length // timedelta(milliseconds=1)))
        return start, start + length
    start = datetime(instant.year, instant.month, 1, tzinfo=UTC)
    end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _check_period(start: datetime, end: datetime, now: datetime) -> tuple[int, int]:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidPeriod("period_start and period_end need a time zone (RFC 3339)")
    if end <= start:
        raise InvalidPeriod("period_end must be after period_start",
                            details={"period_start": start.isoformat(),
                                     "period_end": end.isoformat()})
    start_ms, end_ms = to_ms(start), to_ms(end)
    if start_ms % HOUR_MS or end_ms % HOUR_MS:
        raise InvalidPeriod("a billing period starts and ends on whole UTC hours")
    if start < EARLIEST or end - start > timedelta(days=366):
        raise InvalidPeriod("a billing period lies after 2000 and lasts at most 366 days")
    if end > now:
        raise InvalidPeriod("the period is not over yet: plays may still be made in it",
                            details={"period_end": end.isoformat(), "now": now.isoformat()})
    return start_ms, end_ms


# --- closing ------------------------------------------------------------------------------

@dataclass
class _Line:
    """An invoice line being made: one campaign's plays of one period."""

    campaign_id: str
    kind: LineKind
    started_from_ms: int
    started_to_ms: int
    seq_after: int
    plays: int = 0
    impressions_milli: int = 0
    amount_cents: int = 0

    def __post_init__(self) -> None:
        self.parts: dict[tuple[str, int], LinePart] = {}

    def add(self, group: BillableGroup, bucket: int, span: tuple[int, int]) -> None:
        """Add a group's plays (`bucket`: its policy version; `span`: their start times)."""
        self.plays += group.plays
        self.impressions_milli += group.impressions_milli
        self.amount_cents += group.spend_cents
        key = (group.screen_id, bucket)
        found = self.parts.get(key)
        if found is None:
            self.parts[key] = LinePart(group.screen_id, group.venue_org_id, bucket, group.plays,
                                       group.impressions_milli, group.spend_cents, *span)
        else:
            self.parts[key] = LinePart(
                found.screen_id, found.venue_org_id, bucket, found.plays + group.plays,
                found.impressions_milli + group.impressions_milli,
                found.revenue_cents + group.spend_cents,
                min(found.started_from_ms, span[0]), max(found.started_to_ms, span[1]))


def _lock(session: Session) -> None:
    """Hold billing's lock for this transaction: closes run one at a time."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    else:  # SQLite: the first write takes the database's write lock until the commit
        session.execute(text("UPDATE billing_cycles SET status = status WHERE 1 = 0"))


def _last_cycle(session: Session) -> BillingCycle | None:
    return session.scalar(select(BillingCycle).order_by(BillingCycle.end_ms.desc()).limit(1))


def _late_period(cycles: list[BillingCycle], hour_ms: int) -> tuple[int, int]:
    """The period a late play's hour belongs to: the closed cycle it lies in, or the span
    between cycles (before the first: from the start of its day's month... its hour's day)."""
    previous_end: int | None = None
    for c in cycles:  # by start, ascending
        if c.start_ms <= hour_ms < c.end_ms:
            return c.start_ms, c.end_ms
        if hour_ms < c.start_ms:
            return (previous_end if previous_end is not None else
                    hour_ms - hour_ms % (24 * HOUR_MS)), c.start_ms
        previous_end = c.end_ms
    return previous_end if previous_end is not None else hour_ms, hour_ms + HOUR_MS


def _lines(session: Session, line: Timeline, start_ms: int, end_ms: int,
           last: BillingCycle | None, watermark: int) -> dict[str, list[_Line]]:
    """The lines of a close, per advertiser org (see the module's docstring)."""
    prior_end = last.end_ms if last is not None else None
    seq_before = last.seq_upto if last is not None else 0
    lines: dict[tuple[str, str, int], _Line] = {}
    orgs: dict[str, str] = {}

    def line_for(group: BillableGroup, kind: LineKind, span: tuple[int, int],
                 seq_after: int) -> _Line:
        key = (group.campaign_id, kind.value, span[0])
        found = lines.get(key)
        if found is None:
            found = lines[key] = _Line(group.campaign_id, kind, span[0], span[1], seq_after)
        orgs[group.campaign_id] = group.advertiser_org_id
        return found

    billable = reporting_service.billable
    for g in billable.by_version(session=session, started_from_ms=start_ms,
                                 started_to_ms=end_ms, seq_upto=watermark,
                                 boundaries=line.boundaries):
        lo, hi = line.interval(g.bucket)
        line_for(g, LineKind.delivery, (start_ms, end_ms), 0).add(
            g, g.bucket, (max(lo, start_ms), min(hi, end_ms)))
    cycles = list(session.scalars(select(BillingCycle).order_by(BillingCycle.start_ms)))
    # plays before the period: in the gap since the previous close (all new), and late ones
    # of periods already closed (new when stored after the previous close's watermark)
    late = billable.by_hour(session=session, started_to_ms=start_ms, seq_after=seq_before,
                            seq_upto=watermark)
    if prior_end is None or prior_end < start_ms:
        gap = billable.by_hour(session=session, started_to_ms=start_ms, seq_after=0,
                               seq_upto=seq_before)
        late += [g for g in gap if prior_end is None or g.bucket * HOUR_MS >= prior_end]
    for g in late:
        hour_ms = g.bucket * HOUR_MS
        in_gap = prior_end is None or hour_ms >= prior_end
        span = (prior_end if prior_end is not None else _late_period(cycles, hour_ms)[0],
                start_ms) if in_gap else _late_period(cycles, hour_ms)
        bucket = line.bucket_at(hour_ms)
        lo, hi = line.interval(bucket)
        target = line_for(g, LineKind.late_delivery, span, 0 if in_gap else seq_before)
        target.started_from_ms = min(target.started_from_ms, hour_ms)
        target.add(g, bucket, (max(lo, hour_ms), min(hi, hour_ms + HOUR_MS)))
    by_org: dict[str, list[_Line]] = defaultdict(list)
    for ln in lines.values():
        by_org[orgs[ln.campaign_id]].append(ln)
    return by_org


@dataclass(frozen=True)
class CloseResult:
    cycle: BillingCycle
    created: bool  # False: the period was closed already (nothing more billed)


def close(*, session: Session, settings: Settings, period_start: datetime,
          period_end: datetime, user_id: str | None = None,
          now: datetime | None = None) -> CloseResult:
    """Close a period: its cycle, draft invoices and statement lines (committed). Issuing them
    with the provider is `issue`'s."""
    now = now or utcnow()
    start_ms, end_ms = _check_period(period_start, period_end, now)
    for _attempt in range(5):
        found = session.scalar(select(BillingCycle).where(BillingCycle.start_ms < end_ms,
                                                          BillingCycle.end_ms > start_ms))
        if found is not None:
            if (found.start_ms, found.end_ms) == (start_ms, end_ms):
                return CloseResult(found, False)
            raise PeriodOverlaps("the period overlaps a closed one", details={
                "closed": {"period_start": found.period_start.isoformat(),
                           "period_end": found.period_end.isoformat()}})
        last = _last_cycle(session)
        if last is not None and start_ms < last.end_ms:
            raise PeriodOverlaps("a later period is closed already: periods close in order",
                                 details={"closed_until": last.period_end.isoformat()})
        # the heavy reading happens before the lock (ingestion keeps writing meanwhile)
        watermark = reporting_service.billable.watermark(session=session)
        line = revenue_service.timeline(session=session, settings=settings)
        by_org = _lines(session, line, start_ms, end_ms, last, watermark)
        session.rollback()
        _lock(session)
        again = _last_cycle(session)
        if (again.id if again else None) != (last.id if last else None):
            session.rollback()  # another close got in between: read again
            continue
        try:
            cycle = _write(session, line, by_org, start_ms, end_ms, period_start, period_end,
                           last, watermark, user_id)
            session.commit()
        except IntegrityError:
            session.rollback()
            continue
        log.info("billing: closed %s – %s: %d invoices", period_start, period_end,
                 len(by_org))
        return CloseResult(cycle, True)
    raise PeriodOverlaps("other closes kept getting in the way; try again")


def _write(session: Session, line: Timeline, by_org: dict[str, list[_Line]], start_ms: int,
           end_ms: int, period_start: datetime, period_end: datetime,
           last: BillingCycle | None, watermark: int, user_id: str | None) -> BillingCycle:
    cycle = BillingCycle(id=new_id("cyc"), period_start=period_start.astimezone(UTC),
                         period_end=period_end.astimezone(UTC), start_ms=start_ms,
                         end_ms=end_ms, seq_after=last.seq_upto if last else 0,
                         seq_upto=watermark, prior_end_ms=last.end_ms if last else None,
                         status=CycleStatus.closing, closed_by=user_id)
    session.add(cycle)
    campaigns = {c.id: c for c in campaigns_service.get_many(
        session=session, campaign_ids={ln.campaign_id for lns in by_org.values()
                                       for ln in lns})}
    spent = reporting_service.delivery(session=session, campaign_ids=campaigns)
    accrued: list[AccruedLine] = []
    rows: list[InvoiceLine] = []
    for org_id, lns in sorted(by_org.items()):
        per_currency: dict[str, list[_Line]] = defaultdict(list)
        for ln in lns:
            campaign = campaigns.get(ln.campaign_id)
            per_currency[campaign.currency if campaign else "EUR"].append(ln)
        for currency, group in sorted(per_currency.items()):
            invoice = Invoice(id=new_id("inv"), cycle_id=cycle.id, org_id=org_id,
                              currency=currency, status=InvoiceStatus.draft,
                              amount_cents=sum(ln.amount_cents for ln in group),
                              plays=sum(ln.plays for ln in group),
                              impressions_milli=sum(ln.impressions_milli for ln in group),
                              provider="")
            session.add(invoice)
            group.sort(key=lambda ln: (ln.kind != LineKind.delivery, ln.started_from_ms,
                                       ln.campaign_id))
            for position, ln in enumerate(group):
                campaign = campaigns.get(ln.campaign_id)
                cpm = campaign.cpm_cents if campaign else 0
                budget = campaign.budget_cents if campaign else 0
                delivered = spent.get(ln.campaign_id)
                row = InvoiceLine(
                    id=new_id("inl"), invoice_id=invoice.id, position=position,
                    campaign_id=ln.campaign_id,
                    campaign_name=campaign.name if campaign else ln.campaign_id,
                    kind=ln.kind, started_from_ms=ln.started_from_ms,
                    started_to_ms=ln.started_to_ms, seq_after=ln.seq_after,
                    seq_upto=watermark, plays=ln.plays, impressions_milli=ln.impressions_milli,
                    cpm_cents=cpm, amount_cents=ln.amount_cents,
                    value_cents=rating.value_cents(ln.impressions_milli, cpm),
                    budget_capped_cents=rating.budget_capped_cents(
                        impressions_milli=ln.impressions_milli, cpm_cents=cpm,
                        amount_cents=ln.amount_cents,
                        budget_spent=delivered is not None
                        and delivered.spend_cents >= budget),
                    venue_cents=0, platform_cents=ln.amount_cents)
                rows.append(row)
                accrued.append(AccruedLine(cycle.id, invoice.id, row.id, ln.campaign_id,
                                           currency, ln.seq_after, watermark,
                                           sorted(ln.parts.values(),
                                                  key=lambda p: (p.screen_id, p.bucket))))
    session.flush()
    venue_totals = revenue_service.accrue(session=session, line=line, lines=accrued)
    for row in rows:
        row.venue_cents = venue_totals.get(row.id, 0)
        row.platform_cents = row.amount_cents - row.venue_cents
    session.add_all(rows)
    return cycle


@revenue_service.billed_until.provide
def billed_until(*, session: Session) -> int | None:
    """The end (ms) of the latest closed period."""
    found = session.scalar(select(func.max(BillingCycle.end_ms)))
    return int(found) if found is not None else None


def due_period(*, session: Session, settings: Settings,
               now: datetime | None = None) -> tuple[datetime, datetime] | None:
    """The period the scheduler should close now, if any: the latest that ended at least
    `billing_close_grace_h` ago and is not closed (nor before a closed one)."""
    now = now or utcnow()
    start, end = period_of(settings, now - timedelta(hours=settings.billing_close_grace_h))
    start, end = period_of(settings, start - timedelta(milliseconds=1))
    if end + timedelta(hours=settings.billing_close_grace_h) > now:
        return None
    until = billed_until(session=session)
    if until is not None and to_ms(start) < until:
        return None
    return start, end


# --- issuing ------------------------------------------------------------------------------

def _customer(session: Session, provider: PaymentProvider, org_id: str) -> str:
    found = session.get(BillingCustomer, (org_id, provider.name))
    if found is not None:
        return found.customer_id
    org = orgs_service.get_org(session=session, org_id=org_id)
    admins = orgs_service.admin_emails(session=session, org_id=org_id)
    name = org.name if org else org_id
    session.commit()  # no transaction is held while the provider is called
    customer_id = provider.create_customer(
        key=idempotency_key("customer", org_id=org_id, provider=provider.name), org_id=org_id,
        name=name, email=admins[0] if admins else None)
    session.add(BillingCustomer(org_id=org_id, provider=provider.name,
                                customer_id=customer_id))
    session.commit()
    return customer_id


def _describe(line: InvoiceLine) -> str:
    what = f"{line.campaign_name}: {line.plays:,} plays, {line.impressions_milli / 1000:,.1f} " \
           f"impressions at {line.cpm_cents / 100:.2f} CPM"
    if line.kind == LineKind.late_delivery:
        what += (f" (late delivery of {from_ms(line.started_from_ms).date()} – "
                 f"{from_ms(line.started_to_ms).date()})")
    if line.budget_capped_cents:
        what += f"; {line.budget_capped_cents / 100:.2f} delivered free over budget"
    return what


def _issue_one(session: Session, settings: Settings, provider: PaymentProvider,
               invoice: Invoice) -> None:
    """Take one draft invoice through the provider's steps (each stored once done)."""
    if invoice.amount_cents == 0:  # nothing to collect: settled at once
        _move(session, invoice, InvoiceStatus.paid)
        invoice.provider, invoice.issued_at, invoice.paid_at = provider.name, utcnow(), utcnow()
        session.commit()
        return
    invoice.provider = provider.name
    session.commit()  # each step's result is stored before the next call
    customer = invoice.provider_customer_id or _customer(session, provider, invoice.org_id)
    invoice.provider_customer_id = customer
    session.commit()
    if invoice.provider_invoice_id is None:
        invoice.provider_invoice_id = provider.create_invoice(
            key=idempotency_key("invoice", invoice=invoice.id, customer=customer,
                                amount=invoice.amount_cents),
            customer_id=customer, currency=invoice.currency,
            description=f"ADSBIN advertising, invoice {invoice.id}",
            days_until_due=settings.invoice_days_until_due,
            metadata={"adsbin_invoice_id": invoice.id, "org_id": invoice.org_id,
                      "cycle_id": invoice.cycle_id})
        session.commit()
    lines = session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
                            .order_by(InvoiceLine.position)).all()
    for line in lines:
        if line.provider_item_id is not None or line.amount_cents == 0:
            continue
        line.provider_item_id = provider.add_invoice_item(
            key=idempotency_key("invoice-item", line=line.id, amount=line.amount_cents,
                                invoice=invoice.provider_invoice_id),
            customer_id=customer, invoice_id=invoice.provider_invoice_id,
            amount_cents=line.amount_cents, currency=invoice.currency,
            description=_describe(line),
            metadata={"adsbin_invoice_line_id": line.id, "campaign_id": line.campaign_id})
        session.commit()
    issued = provider.finalize_invoice(key=idempotency_key("finalize",
                                                           invoice=invoice.provider_invoice_id),
                                       invoice_id=invoice.provider_invoice_id)
    if issued.amount_due_cents != invoice.amount_cents:
        raise ProviderRefused(f"the provider's invoice {issued.provider_invoice_id} is for "
                              f"{issued.amount_due_cents}, ours for {invoice.amount_cents}")
    invoice.number, invoice.hosted_invoice_url = issued.number, issued.hosted_invoice_url
    session.commit()
    provider.send_invoice(key=idempotency_key("send", invoice=invoice.provider_invoice_id),
                          invoice_id=invoice.provider_invoice_id)
    invoice.issued_at = utcnow()
    _move(session, invoice, InvoiceStatus.open)
    session.commit()


def issue(*, session: Session, settings: Settings, provider: PaymentProvider,
          cycle_id: str) -> BillingCycle:
    """Issue a cycle's draft invoices with the provider; the cycle is `closed` once all are.
    `ProviderUnavailable` (the rest is retried later) when the provider cannot be reached."""
    cycle = session.get(BillingCycle, cycle_id)
    if cycle is None:
        raise InvoiceNotFound(f"no billing cycle {cycle_id}")
    drafts = session.scalars(select(Invoice).where(Invoice.cycle_id == cycle_id,
                                                   Invoice.status == InvoiceStatus.draft)
                             .order_by(Invoice.id)).all()
    unavailable: ProviderUnavailable | None = None
    for invoice in drafts:
        try:
            _issue_one(session, settings, provider, invoice)
        except ProviderUnavailable as exc:
            session.rollback()
            invoice.last_error = exc.message
            session.commit()
            unavailable = exc
            break
        except ProviderRefused as exc:
            session.rollback()
            invoice.last_error = exc.message
            session.commit()
            log.error("billing: the provider refused invoice %s: %s", invoice.id, exc.message)
    if unavailable is not None:
        raise unavailable
    left = session.scalar(select(func.count()).select_from(Invoice).where(
        Invoice.cycle_id == cycle_id, Invoice.status == InvoiceStatus.draft))
    if not left and cycle.status != CycleStatus.closed:
        cycle.status, cycle.closed_at = CycleStatus.closed, utcnow()
        session.commit()
    return cycle


# --- invoices -----------------------------------------------------------------------------

def _move(session: Session, invoice: Invoice, to: InvoiceStatus) -> bool:
    """Move an invoice to a status and record the event; whether it moved."""
    if invoice.status == to:
        return False
    previous = invoice.status
    invoice.status, invoice.status_changed_at = to, utcnow()
    if to == InvoiceStatus.paid:
        invoice.paid_at = invoice.paid_at or utcnow()
        revenue_service.invoice_paid(session=session, invoice_id=invoice.id)
    elif to in (InvoiceStatus.refunded, InvoiceStatus.void):
        revenue_service.invoice_reversed(session=session, invoice_id=invoice.id,
                                         reason=f"invoice {invoice.id} {to.value}")
    events.record(session, events.InvoiceChanged(
        invoice_id=invoice.id, org_id=invoice.org_id, status=to.value,
        previous=previous.value, amount_cents=invoice.amount_cents, currency=invoice.currency))
    return True


def get_invoice(*, session: Session, invoice_id: str, org_id: str | None) -> Invoice:
    """An invoice of `org_id` (None: any, for super-admins); `InvoiceNotFound` otherwise."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or (org_id is not None and invoice.org_id != org_id) \
            or (invoice.status == InvoiceStatus.draft and org_id is not None):
        raise InvoiceNotFound("invoice not found")
    return invoice


def lines_of(*, session: Session, invoice_id: str) -> list[InvoiceLine]:
    """An invoice's lines, in order."""
    return list(session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)
                                .order_by(InvoiceLine.position)))


def list_invoices(*, session: Session, org_id: str | None, status: str | None = None,
                  limit: int = 100) -> list[Invoice]:
    """Invoices, newest first: an org's issued ones, or (org_id None) all."""
    query = select(Invoice).order_by(Invoice.created_at.desc(), Invoice.id).limit(limit)
    if org_id is not None:
        query = query.where(Invoice.org_id == org_id, Invoice.status != InvoiceStatus.draft)
    if status is not None:
        query = query.where(Invoice.status == status)
    return list(session.scalars(query))


def mark_paid(*, session: Session, provider: PaymentProvider, invoice_id: str) -> Invoice:
    """Record an offline invoice as paid (a super-admin's word; committed)."""
    invoice = get_invoice(session=session, invoice_id=invoice_id, org_id=None)
    if not provider.offline or invoice.provider not in ("offline", ""):
        raise InvoiceState("this invoice is collected by Stripe: it is paid when Stripe says "
                           "so (the invoice.paid webhook)")
    if invoice.status not in (InvoiceStatus.open, InvoiceStatus.payment_failed,
                              InvoiceStatus.paid):
        raise InvoiceState(f"an invoice that is {invoice.status.value} cannot be paid",
                           details={"status": invoice.status.value})
    if invoice.status != InvoiceStatus.paid:
        invoice.charge_id = provider.invoice_charge(invoice_id=invoice.provider_invoice_id or
                                                    invoice.id)
        _move(session, invoice, InvoiceStatus.paid)
        session.commit()
    return invoice


@payouts.funding_charge.provide
def funding_charge(*, session: Session, provider: PaymentProvider,
                   invoice_id: str) -> str | None:
    """The charge that paid an invoice (learned from the provider once, then kept)."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.status != InvoiceStatus.paid:
        return None
    if invoice.charge_id is None and invoice.provider_invoice_id:
        try:
            invoice.charge_id = provider.invoice_charge(invoice_id=invoice.provider_invoice_id)
        except (ProviderUnavailable, ProviderRefused):
            return None
        session.commit()
    return invoice.charge_id


# --- webhooks -----------------------------------------------------------------------------

_INVOICE_EVENTS = {"invoice.paid": InvoiceStatus.paid,
                   "invoice.payment_succeeded": InvoiceStatus.paid,
                   "invoice.payment_failed": InvoiceStatus.payment_failed,
                   "invoice.voided": InvoiceStatus.void,
                   "invoice.marked_uncollectible": InvoiceStatus.payment_failed}


def apply_invoice_event(*, session: Session, provider: PaymentProvider, type_: str,
                        obj: dict[str, Any]) -> str:
    """Move the invoice a Stripe invoice or charge event is about; what was done."""
    if type_ in _INVOICE_EVENTS:
        invoice = session.scalar(select(Invoice).where(
            Invoice.provider_invoice_id == str(obj.get("id"))))
        if invoice is None:
            return "ignored: not an invoice of ours"
        to = _INVOICE_EVENTS[type_]
        if invoice.status in (InvoiceStatus.refunded, InvoiceStatus.void) \
                or (invoice.status == InvoiceStatus.paid and to != InvoiceStatus.void):
            return f"ignored: the invoice is {invoice.status.value}"
        if to == InvoiceStatus.paid and invoice.charge_id is None:
            # if not learned now, then when a payout needs it (`funding_charge`)
            with contextlib.suppress(ProviderUnavailable, ProviderRefused):
                invoice.charge_id = provider.invoice_charge(
                    invoice_id=invoice.provider_invoice_id or "")
        _move(session, invoice, to)
        return f"invoice {invoice.id} {to.value}"
    if type_ == "charge.refunded":
        if not obj.get("refunded"):  # a partial refund: left to a person
            return "ignored: a partial refund"
        invoice = _invoice_of_charge(session, provider, obj)
        if invoice is None:
            return "ignored: not a charge of ours"
        _move(session, invoice, InvoiceStatus.refunded)
        return f"invoice {invoice.id} refunded"
    return "ignored"


def _invoice_of_charge(session: Session, provider: PaymentProvider,
                       charge: dict[str, Any]) -> Invoice | None:
    """Our invoice that a charge paid. When its charge could not be learned as it was paid,
    it is learned now from the paid invoices of that amount whose charge is unknown (the
    provider unavailable: `ProviderUnavailable`, so the delivery fails and Stripe retries)."""
    charge_id = str(charge.get("id"))
    found = session.scalar(select(Invoice).where(Invoice.charge_id == charge_id))
    if found is not None or provider.offline:
        return found
    unknown = session.scalars(select(Invoice).where(
        Invoice.status == InvoiceStatus.paid, Invoice.charge_id.is_(None),
        Invoice.provider == provider.name, Invoice.provider_invoice_id.is_not(None),
        Invoice.amount_cents == charge.get("amount"),
        func.upper(Invoice.currency) == str(charge.get("currency", "")).upper())
        .order_by(Invoice.paid_at.desc()).limit(20)).all()
    for invoice in unknown:
        invoice.charge_id = provider.invoice_charge(invoice_id=invoice.provider_invoice_id or "")
        if invoice.charge_id == charge_id:
            return invoice
    return None


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


# --- jobs ---------------------------------------------------------------------------------

ISSUE_JOB = "billing.issue"
CLOSE_DUE_JOB = "billing.close_due"


def issue_or_retry(*, session: Session, settings: Settings, provider: PaymentProvider,
                   queue: JobQueue | None, cycle_id: str) -> None:
    """Issue a cycle's invoices now; when the provider is unavailable, leave the rest to the
    `billing.issue` job, which retries with the queue's backoff."""
    try:
        issue(session=session, settings=settings, provider=provider, cycle_id=cycle_id)
    except ProviderUnavailable:
        log.warning("billing: the payment provider is unavailable; cycle %s is issued later",
                    cycle_id)
        if queue is not None:
            queue.enqueue(ISSUE_JOB, subject=cycle_id, cycle_id=cycle_id)


def _provider(context: JobContext) -> PaymentProvider:
    provider = context.payments
    if provider is None:
        raise RuntimeError("this process has no payment provider")
    return provider


class IssueLater(RuntimeError):
    """The provider is unavailable: the `billing.issue` job is to be tried again. Not an
    `AppError`, which the queue takes for a wrong input and never retries."""


@registry.job(ISSUE_JOB, max_attempts=12)
def _issue_job(context: JobContext, payload: dict[str, Any]) -> None:
    with context.sessionmaker() as session:
        try:
            issue(session=session, settings=context.settings, provider=_provider(context),
                  cycle_id=str(payload["cycle_id"]))
        except ProviderUnavailable as exc:
            raise IssueLater(exc.message) from exc


@registry.job(CLOSE_DUE_JOB, max_attempts=3, hourly=True)
def _close_due_job(context: JobContext, payload: dict[str, Any]) -> None:
    """The scheduler's hourly look: close the period that ended (plus the grace) if due,
    and finish issuing any cycle still closing."""
    with context.sessionmaker() as session:
        if context.settings.billing_auto_close:
            due = due_period(session=session, settings=context.settings)
            if due is not None:
                close(session=session, settings=context.settings, period_start=due[0],
                      period_end=due[1])
        closing = session.scalars(select(BillingCycle.id).where(
            BillingCycle.status == CycleStatus.closing)).all()
        for cycle_id in closing:
            issue_or_retry(session=session, settings=context.settings,
                           provider=_provider(context), queue=context.queue,
                           cycle_id=cycle_id)


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

