"""Closing a billing period: its cycle, draft invoices and the venues' statement lines.

One transaction: the cycle, one draft invoice per advertiser org and currency with a line per
campaign and period, and the venues' statement lines (`revenue.accrue`). It bills every billable
play that started before the period's end, was stored at or below the watermark read now (the
highest committed `seq`), and no earlier close billed. Closes go in order, so an earlier one
billed exactly the plays started before *its* end and stored at or below *its* watermark: the
plays of this period (and of any gap before it) are all new, and an older play is new only if it
was stored after the previous close — a late delivery, billed here on a line naming its own
period. So every billable play lands on exactly one line. The same period again finds its cycle
and bills nothing more; two closes at once cannot both write (one lock, then the cycle's unique
start). The heavy reading happens before the lock, so ingestion goes on meanwhile.
"""


import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane.billing import rating
from control_plane.billing.exceptions import (
    InvalidPeriod,
    PeriodOverlaps,
)
from control_plane.billing.models import (
    BillingCycle,
    CycleStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
)
from control_plane.campaigns import service as campaigns_service
from control_plane.db import new_id, utcnow
from control_plane.reporting import service as reporting_service
from control_plane.reporting.service import BillableGroup
from control_plane.revenue import service as revenue_service
from control_plane.revenue.service import AccruedLine, LinePart, Timeline, from_ms, to_ms
from control_plane.settings import Settings
from control_plane.venues import service as venues_service

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
    between two cycles (before the first: from the epoch), one fixed span each, so that no
    two late lines of one close cover the same plays."""
    previous_end: int | None = None
    for c in cycles:  # by start, ascending
        if c.start_ms <= hour_ms < c.end_ms:
            return c.start_ms, c.end_ms
        if hour_ms < c.start_ms:
            return (previous_end if previous_end is not None else 0), c.start_ms
        previous_end = c.end_ms
    return previous_end if previous_end is not None else hour_ms, hour_ms + HOUR_MS


def _with_orgs(session: Session, groups: list[BillableGroup]) -> list[BillableGroup]:
    """The groups with their advertiser org (the campaign's) and venue org (the screen's).

    Looked up by id rather than read with the plays: a MIN() over two text columns of every
    play cost PostgreSQL a third of the close (collation-aware comparisons, 10M plays ×2).
    Campaigns and screens that no longer exist are read from their plays."""
    if not groups:
        return groups
    campaigns = {c.id: c.org_id for c in campaigns_service.get_many(
        session=session, campaign_ids={g.campaign_id for g in groups})}
    screens = venues_service.venue_orgs_of(session=session,
                                           screen_ids={g.screen_id for g in groups})
    missing_c = {g.campaign_id for g in groups} - campaigns.keys()
    missing_s = {g.screen_id for g in groups} - screens.keys()
    if missing_c or missing_s:
        from_plays = reporting_service.billable.orgs_of(session=session, campaign_ids=missing_c,
                                                        screen_ids=missing_s)
        campaigns.update(from_plays[0])
        screens.update(from_plays[1])
    return [replace(g, advertiser_org_id=campaigns.get(g.campaign_id, ""),
                    venue_org_id=screens.get(g.screen_id, "")) for g in groups]


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
    groups = billable.by_version(session=session, started_from_ms=start_ms,
                                 started_to_ms=end_ms, seq_upto=watermark,
                                 boundaries=line.boundaries)
    # plays of a gap before the period, since the previous close's end (or from before the
    # first close): all new, as no close covered them; none in the usual case, where periods
    # follow each other, and then no scan
    gap: list[BillableGroup] = []
    if prior_end is None or prior_end < start_ms:
        gap = billable.by_hour(session=session, started_from_ms=prior_end,
                               started_to_ms=start_ms, seq_after=0, seq_upto=watermark)
    late: list[BillableGroup] = []
    cycles: list[BillingCycle] = []
    if prior_end is not None:
        # late plays of periods already closed: stored after the previous close's watermark
        cycles = list(session.scalars(select(BillingCycle).order_by(BillingCycle.start_ms)))
        late = billable.by_hour(session=session, started_to_ms=prior_end,
                                seq_after=seq_before, seq_upto=watermark)
    groups, gap, late = (_with_orgs(session, groups), _with_orgs(session, gap),
                         _with_orgs(session, late))
    for g in groups:
        lo, hi = line.interval(g.bucket)
        line_for(g, LineKind.delivery, (start_ms, end_ms), 0).add(
            g, g.bucket, (max(lo, start_ms), min(hi, end_ms)))
    gap_from = prior_end if prior_end is not None else \
        min((g.bucket * HOUR_MS for g in gap), default=start_ms)
    for g in gap:
        hour_ms = g.bucket * HOUR_MS
        bucket = line.bucket_at(hour_ms)
        lo, hi = line.interval(bucket)
        line_for(g, LineKind.late_delivery, (gap_from, start_ms), 0).add(
            g, bucket, (max(lo, hour_ms), min(hi, hour_ms + HOUR_MS)))
    for g in late:
        hour_ms = g.bucket * HOUR_MS
        bucket = line.bucket_at(hour_ms)
        lo, hi = line.interval(bucket)
        line_for(g, LineKind.late_delivery, _late_period(cycles, hour_ms),
                 seq_before).add(g, bucket, (max(lo, hour_ms), min(hi, hour_ms + HOUR_MS)))
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

