"""What billing reads of the stored plays: billable plays grouped for a close, and the plays
behind a line (the trace).

A close bills the billable plays that started before a time and were stored within a range of
`seq` (the commit order): those of its own period grouped by campaign, screen and the policy
version in force when they started (`boundaries`: the versions' start times, so a group's
bucket is how many boundaries it started at or after), and those that arrived late grouped by
the UTC hour they started in (a late play's period and version follow from its hour, as both
begin on whole hours). One `GROUP BY` over the plays per region: the close costs about what
summing them does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.orm import Session

from control_plane.reporting.models import PopPlay

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class BillableGroup:
    """Billable plays of one campaign on one screen, in one bucket (a version or an hour); the
    orgs are the caller's to fill in (`orgs_of` for campaigns and screens that are gone)."""

    advertiser_org_id: str
    campaign_id: str
    screen_id: str
    venue_org_id: str
    bucket: int
    plays: int
    impressions_milli: int
    spend_cents: int


def watermark(*, session: Session) -> int:
    """The highest `seq` committed: plays stored later get a higher one."""
    return int(session.scalar(select(func.max(PopPlay.seq))) or 0)


def _grouped(session: Session, bucket: Any, *where: Any) -> list[BillableGroup]:
    """Billable plays summed per campaign, screen and bucket."""
    p = PopPlay
    # Grouped by campaign, screen and bucket only, nothing else aggregated: the orgs follow
    # from campaign and screen (the caller looks them up; a MIN() over two text columns cost
    # PostgreSQL a third of the close), and every extra expression in the key made it expect a
    # group per play and give up its parallel aggregation.
    query = (select(p.campaign_id, p.screen_id, bucket.label("bucket"), func.count(),
                    func.sum(p.impressions_milli), func.sum(p.spend_cents))
             .where(p.billable.is_(True), p.campaign_id.is_not(None), *where)
             .group_by(p.campaign_id, p.screen_id, "bucket"))
    return [BillableGroup("", str(c), str(s), "", int(b), int(n), int(i or 0), int(m or 0))
            for c, s, b, n, i, m in session.execute(query)]


def orgs_of(*, session: Session, campaign_ids: set[str],
            screen_ids: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The advertiser org of campaigns and the venue org of screens, as their plays recorded
    them (for campaigns and screens that no longer exist; a scan, so rarely)."""
    p = PopPlay
    campaigns: dict[str, str] = {}
    screens: dict[str, str] = {}
    ids = list(campaign_ids)
    for i in range(0, len(ids), 500):
        campaigns.update((str(c), str(o)) for c, o in session.execute(
            select(p.campaign_id, func.min(p.advertiser_org_id))
            .where(p.campaign_id.in_(ids[i:i + 500])).group_by(p.campaign_id)))
    ids = list(screen_ids)
    for i in range(0, len(ids), 500):
        screens.update((str(s), str(o)) for s, o in session.execute(
            select(p.screen_id, func.min(p.venue_org_id))
            .where(p.screen_id.in_(ids[i:i + 500])).group_by(p.screen_id)))
    return campaigns, screens


def by_version(*, session: Session, started_from_ms: int, started_to_ms: int,
               seq_upto: int, boundaries: Sequence[int]) -> list[BillableGroup]:
    """Plays started in [from, to) with seq ≤ `seq_upto`, bucketed by the number of
    `boundaries` (ascending start times) at or before their start."""
    p = PopPlay
    inside = [b for b in boundaries if started_from_ms < b < started_to_ms]
    before = len([b for b in boundaries if b <= started_from_ms])
    bucket: Any = literal(before)
    if inside:
        bucket = case(*[(p.started_ms >= b, before + i + 1)
                        for i, b in reversed(list(enumerate(inside)))], else_=before)
    return _grouped(session, bucket, p.started_ms >= started_from_ms,
                    p.started_ms < started_to_ms, p.seq <= seq_upto)


def by_hour(*, session: Session, started_to_ms: int, seq_after: int, seq_upto: int,
            started_from_ms: int | None = None) -> list[BillableGroup]:
    """Plays started in [from, to) (from: None for no lower bound) with seq in
    (seq_after, seq_upto], bucketed by the UTC hour they started in (hours since the epoch)."""
    p = PopPlay
    where = [p.started_ms < started_to_ms, p.seq > seq_after, p.seq <= seq_upto]
    if started_from_ms is not None:
        where.append(p.started_ms >= started_from_ms)
    return _grouped(session, p.started_ms // HOUR_MS, *where)


@dataclass(frozen=True, slots=True)
class Window:
    """Which plays a billing line covers."""

    started_from_ms: int
    started_to_ms: int
    seq_after: int
    seq_upto: int
    campaign_id: str
    screen_id: str | None = None


def plays_in(*, session: Session, window: Window,
             chunk: int = 5000) -> Iterator[tuple[str, int, int, int]]:
    """The billable plays a line covers: (play_id, seq, impressions_milli, spend_cents), in
    seq order, read a chunk at a time."""
    p = PopPlay
    after = window.seq_after
    while True:
        query = (select(p.play_id, p.seq, p.impressions_milli, p.spend_cents)
                 .where(p.billable.is_(True), p.campaign_id == window.campaign_id,
                        and_(p.started_ms >= window.started_from_ms,
                             p.started_ms < window.started_to_ms),
                        p.seq > after, p.seq <= window.seq_upto)
                 .order_by(p.seq).limit(chunk))
        if window.screen_id is not None:
            query = query.where(p.screen_id == window.screen_id)
        rows = session.execute(query).all()
        for play_id, seq, impressions, spend in rows:
            yield str(play_id), int(seq), int(impressions), int(spend)
        if len(rows) < chunk:
            return
        after = int(rows[-1][1])
