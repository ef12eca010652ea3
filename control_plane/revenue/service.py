"""Revenue sharing: the policy's versions, venue orgs' statements, and (`payouts.py`) payouts.

The policy is versioned and never edited: `set_policy` adds a version that applies to plays
starting at or after its effective time, which is on a whole UTC hour (so an hour's plays share
one version) and never inside a period already closed (`billed_until`, which billing answers).
Before any version is set, venues get `ADSBIN_REVENUE_DEFAULT_BPS` (version 0).

Billing closes a period and hands each invoice line's parts here (`accrue`), in its own
transaction: one statement line per screen and policy version, split by `allocation.split`. A
line is `accrued` until the invoice that carries it is paid (`payable`), then `paid` by a
transfer, or `reversed` when its invoice is refunded or voided (`subscriptions.py`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from control_plane.db import new_id, utcnow
from control_plane.revenue import payouts
from control_plane.revenue.allocation import Part, split
from control_plane.revenue.exceptions import InvalidPolicy, PolicyInClosedPeriod
from control_plane.revenue.models import (
    LineStatus,
    RevenueOverride,
    RevenuePolicy,
    StatementLine,
)
from control_plane.revenue.schemas import PolicyIn, PolicyPage, PolicyRead, VenueShare
from control_plane.settings import Settings
from control_plane.upcalls import NotProvided, Upcall
from control_plane.venues import service as venues_service

apply_connect_event = payouts.apply_connect_event
# earnings already transferred are taken back through their payout (`payouts.py`)
reverse_paid_lines = payouts.reverse_paid_lines

HOUR_MS = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(instant: datetime) -> int:
    """Milliseconds since the epoch of an aware instant."""
    return (instant - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


@Upcall
def billed_until(*, session: Session) -> int | None:
    """The end (ms) of the latest closed billing period, if any: a policy may not reach
    before it."""
    raise NotProvided("control_plane.billing.service provides where billing has closed")


# --- the policy ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Version:
    """One version of the policy, as billing applies it."""

    version: int
    effective_ms: int
    default_bps: int
    overrides: dict[str, int] = field(default_factory=dict)
    created_at: datetime | None = None

    def bps(self, venue_id: str | None) -> int:
        """The share of a venue under this version."""
        return self.overrides.get(venue_id or "", self.default_bps)


@dataclass(frozen=True)
class Timeline:
    """Every version, oldest first; version 0 (the setting) before the first."""

    versions: tuple[Version, ...]  # versions[0] is the default, effective from the epoch

    @property
    def boundaries(self) -> list[int]:
        """The start times of the versions set (bucket k of a play: versions[k])."""
        return [v.effective_ms for v in self.versions[1:]]

    def at(self, ms: int) -> Version:
        """The version in force at an instant."""
        return self.versions[bisect_right(self.boundaries, ms)]

    def bucket_at(self, ms: int) -> int:
        return bisect_right(self.boundaries, ms)

    def interval(self, bucket: int) -> tuple[int, int]:
        """[from, to) of a version's force (to: far in the future for the last)."""
        starts = [0, *self.boundaries]
        end = starts[bucket + 1] if bucket + 1 < len(starts) else 2**62
        return starts[bucket], end


def timeline(*, session: Session, settings: Settings) -> Timeline:
    """All versions of the policy, to apply to plays."""
    overrides: dict[int, dict[str, int]] = {}
    for o in session.scalars(select(RevenueOverride)):
        overrides.setdefault(o.version, {})[o.venue_id] = o.bps
    versions = [Version(0, 0, settings.revenue_default_bps)]
    versions += [Version(p.version, p.effective_ms, p.default_bps, overrides.get(p.version, {}),
                         p.created_at)
                 for p in session.scalars(select(RevenuePolicy)
                                          .order_by(RevenuePolicy.effective_ms))]
    return Timeline(tuple(versions))


def _read(version: Version, venue_ids: set[str] | None) -> PolicyRead:
    shares = [VenueShare(venue_id=v, bps=b) for v, b in sorted(version.overrides.items())
              if venue_ids is None or v in venue_ids]
    return PolicyRead(version=version.version, default_bps=version.default_bps,
                      venue_overrides=shares, effective_from=from_ms(version.effective_ms),
                      created_at=version.created_at,
                      source="default" if version.version == 0 else "policy")


def policy_page(*, session: Session, settings: Settings, venue_org_id: str | None = None,
                now: datetime | None = None) -> PolicyPage:
    """The policy in force now and the versions after it; for a venue org, only the overrides
    of its own venues (and no history of others)."""
    line = timeline(session=session, settings=settings)
    now_ms = to_ms(now or utcnow())
    venue_ids = None if venue_org_id is None else venues_service.venue_ids_of(
        session=session, org_id=venue_org_id)
    current = line.at(now_ms)
    return PolicyPage(current=_read(current, venue_ids),
                      scheduled=[_read(v, venue_ids) for v in line.versions
                                 if v.effective_ms > now_ms],
                      history=[_read(v, venue_ids) for v in line.versions
                               if v.effective_ms <= now_ms])


def set_policy(*, session: Session, settings: Settings, policy_in: PolicyIn,
               user_id: str | None, now: datetime | None = None) -> PolicyRead:
    """Add a version of the policy (committed)."""
    now = now or utcnow()
    effective = policy_in.effective_from or \
        from_ms(-(-to_ms(now) // HOUR_MS) * HOUR_MS)  # the next whole hour
    effective_ms = to_ms(effective)
    if effective_ms % HOUR_MS:
        raise InvalidPolicy("effective_from must be on a whole UTC hour",
                            details={"effective_from": effective.isoformat()})
    if not datetime(2000, 1, 1, tzinfo=UTC) <= effective < datetime(2100, 1, 1, tzinfo=UTC):
        raise InvalidPolicy("effective_from must be between 2000 and 2100")
    venues = [o.venue_id for o in policy_in.venue_overrides]
    if len(set(venues)) != len(venues):
        raise InvalidPolicy("a venue is named twice in venue_overrides")
    missing = sorted(set(venues) - venues_service.venue_ids_of(session=session,
                                                               venue_ids=venues))
    if missing:
        raise InvalidPolicy("venue_overrides names venues that do not exist",
                            code="unknown_venue", details={"venue_ids": missing[:50]})
    closed = billed_until(session=session)
    if closed is not None and effective_ms < closed:
        raise PolicyInClosedPeriod(
            "plays before the end of the last closed billing period are invoiced already; "
            f"choose an effective_from at or after {from_ms(closed).isoformat()}",
            details={"billed_until": from_ms(closed).isoformat()})
    latest = session.scalar(select(func.max(RevenuePolicy.effective_ms)))
    if latest is not None and effective_ms <= latest:
        raise InvalidPolicy("a version with this or a later effective_from exists; a new "
                            "version takes effect after it",
                            details={"latest_effective_from": from_ms(latest).isoformat()})
    number = int(session.scalar(select(func.max(RevenuePolicy.version))) or 0) + 1
    session.add(RevenuePolicy(version=number, default_bps=policy_in.default_bps,
                              effective_from=effective, effective_ms=effective_ms,
                              created_by=user_id))
    session.flush()
    session.add_all(RevenueOverride(version=number, venue_id=o.venue_id, bps=o.bps)
                    for o in policy_in.venue_overrides)
    session.commit()
    return _read(Version(number, effective_ms, policy_in.default_bps,
                         {o.venue_id: o.bps for o in policy_in.venue_overrides}, utcnow()),
                 None)


# --- statements ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LinePart:
    """One screen's billable plays of an invoice line under one policy version."""

    screen_id: str
    venue_org_id: str
    bucket: int  # the version's index in the timeline
    plays: int
    impressions_milli: int
    revenue_cents: int
    started_from_ms: int
    started_to_ms: int


@dataclass(frozen=True, slots=True)
class AccruedLine:
    """An invoice line as billing hands it over."""

    cycle_id: str
    invoice_id: str
    invoice_line_id: str
    campaign_id: str
    currency: str
    seq_after: int
    seq_upto: int
    parts: Sequence[LinePart]


STATEMENT_COLUMNS = ("id", "cycle_id", "invoice_id", "invoice_line_id", "venue_org_id",
                     "venue_id", "screen_id", "campaign_id", "currency", "policy_version", "bps",
                     "started_from_ms", "started_to_ms", "seq_after", "seq_upto", "plays",
                     "impressions_milli", "revenue_cents", "earnings_cents", "status",
                     "payout_id", "created_at")


def accrue(*, session: Session, line: Timeline, lines: Sequence[AccruedLine]) -> dict[str, int]:
    """Statement lines for invoice lines, in the caller's transaction (not committed); the
    venues' total per invoice line (its platform share is the rest)."""
    venues = venues_service.venues_of(session=session, screen_ids={
        p.screen_id for ln in lines for p in ln.parts})
    totals: dict[str, int] = {}
    rows: list[tuple[object, ...]] = []
    accrued, now = LineStatus.accrued.value, utcnow()
    for ln in lines:
        shares = [Part(f"{p.screen_id}/{p.bucket}", p.revenue_cents,
                       line.versions[p.bucket].bps(venues.get(p.screen_id)))
                  for p in ln.parts]
        earnings, _platform = split(shares)
        totals[ln.invoice_line_id] = sum(earnings)
        for p, share, earned in zip(ln.parts, shares, earnings, strict=True):
            rows.append((new_id("stl"), ln.cycle_id, ln.invoice_id, ln.invoice_line_id,
                         p.venue_org_id, venues.get(p.screen_id, ""), p.screen_id,
                         ln.campaign_id, ln.currency, line.versions[p.bucket].version,
                         share.bps, p.started_from_ms, p.started_to_ms, ln.seq_after,
                         ln.seq_upto, p.plays, p.impressions_milli, p.revenue_cents, earned,
                         accrued, None, now))
    if rows:
        _insert_statement_lines(session, rows)
    return totals


def _insert_statement_lines(session: Session, rows: list[tuple[object, ...]]) -> None:
    """Write statement lines straight through the driver (COPY on PostgreSQL, executemany on
    SQLite): a month's close writes one per screen and campaign, ~100,000 of them, and the
    ORM's per-row conversions took 10 of a close's 15 seconds (bench/bench_billing.py)."""
    connection = session.connection()
    dialect = connection.dialect
    cursor = connection.connection.cursor()
    try:
        if dialect.name == "postgresql":
            with cursor.copy(f"COPY statement_lines ({', '.join(STATEMENT_COLUMNS)}) "
                             "FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            when = StatementLine.__table__.c.created_at.type.dialect_impl(dialect) \
                .bind_processor(dialect)
            stamp = when(rows[0][-1]) if when else rows[0][-1]
            marks = ", ".join(["?"] * len(STATEMENT_COLUMNS))
            cursor.executemany(
                f"INSERT INTO statement_lines ({', '.join(STATEMENT_COLUMNS)}) "  # noqa: S608
                f"VALUES ({marks})", [(*row[:-1], stamp) for row in rows])
    finally:
        cursor.close()


def invoice_paid(*, session: Session, invoice_id: str) -> int:
    """The invoice's accrued lines become payable; how many (not committed)."""
    return int(session.execute(update(StatementLine).where(
        StatementLine.invoice_id == invoice_id, StatementLine.status == LineStatus.accrued)
        .values(status=LineStatus.payable)).rowcount)  # type: ignore[attr-defined]


def invoice_reversed(*, session: Session, invoice_id: str, reason: str) -> int:
    """An invoice was refunded or voided: the earnings it funded are reversed — lines not yet
    transferred at once, lines already paid out through their payout (`payouts.py`); how
    many lines (not committed)."""
    lines = session.scalars(select(StatementLine).where(
        StatementLine.invoice_id == invoice_id,
        StatementLine.status != LineStatus.reversed)).all()
    paid = [ln for ln in lines if ln.status == LineStatus.paid]
    for ln in lines:
        if ln.status != LineStatus.paid:
            ln.status = LineStatus.reversed
    if paid:
        reverse_paid_lines(session=session, lines=paid, reason=reason)
    return len(lines)


def earnings_by_currency(*, session: Session, cycle_ids: Sequence[str]) -> dict[str, int]:
    """Venue earnings accrued by these cycles, per currency."""
    if not cycle_ids:
        return {}
    return {currency: int(total or 0) for currency, total in session.execute(
        select(StatementLine.currency, func.sum(StatementLine.earnings_cents))
        .where(StatementLine.cycle_id.in_(list(cycle_ids)))
        .group_by(StatementLine.currency))}


def statement_lines_of(*, session: Session, cycle_ids: Sequence[str],
                       venue_org_id: str | None = None) -> list[StatementLine]:
    """The statement lines of these cycles (of one venue org, or all)."""
    if not cycle_ids:
        return []
    query = select(StatementLine).where(StatementLine.cycle_id.in_(list(cycle_ids)))
    if venue_org_id is not None:
        query = query.where(StatementLine.venue_org_id == venue_org_id)
    return list(session.scalars(query.order_by(StatementLine.venue_id,
                                               StatementLine.screen_id, StatementLine.id)))


@Upcall
def cycles_within(*, session: Session, start_ms: int, end_ms: int) -> list[str]:
    """The ids of the billing cycles whose period lies within [start, end)."""
    raise NotProvided("control_plane.billing.service provides the billing cycles")


def statements(*, session: Session, venue_org_id: str | None, start: datetime,
               end: datetime) -> list[StatementLine]:
    """The statement lines of the cycles in [start, end), of one venue org (None: all)."""
    ids = cycles_within(session=session, start_ms=to_ms(start), end_ms=to_ms(end))
    return statement_lines_of(session=session, cycle_ids=ids, venue_org_id=venue_org_id)
