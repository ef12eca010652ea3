"""What nobody's change records, found by looking: the clock passed a campaign's flight, its
delivery crossed a milestone, a week ended, a screen went quiet, the platform is unwell.

The scheduler queues each job here on every tick (`hourly=True`). A check finds what has come to
pass and tells it under a dedupe key that names the thing and the edge (`campaign.started:<id>`,
`budget:<id>:90`, `digest:<org>:2026-W49`, `offline:<screen>:<last seen>`), so a check run
again, or by two workers at once, tells nobody twice; the notifications are the only record of
what was told (no table of its own). Keys already told are looked up in one query per check,
so a repeated check costs a read, not a `notify` per campaign.

Milestones are read from the campaign rollup hourly rather than detected in the ingestion's
write, which is the hot path: an hour late at worst, and nothing added to a batch's write.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.campaigns import service as campaigns_service
from control_plane.db import utcnow
from control_plane.devices import service as devices_service
from control_plane.jobs.queue import JobContext, registry
from control_plane.notifications import service as notifications
from control_plane.notifications.models import Notification
from control_plane.orgs import service as orgs_service
from control_plane.reporting import service as reporting_service
from control_plane.venues import service as venues_service

log = logging.getLogger(__name__)

FLIGHT_LOOKBACK = timedelta(days=7)  # edges older than this are not told late (first deploy)
BUDGET_PERCENTS = (50, 90, 100)
IMPRESSION_MILESTONES = (10_000, 100_000, 1_000_000)
DIGEST_WEEKDAY, DIGEST_HOUR = 0, 8  # Monday 08:00 UTC, for the ISO week before
QUEUE_WAIT_ALERT_S = 600.0  # a job waiting longer than this for a worker: the queue is stuck
PROBE_JOB = "notifications.queue_probe"


def _told(session: Session, keys: Iterable[str]) -> set[str]:
    """The dedupe keys among these that somebody was told already."""
    wanted = list(set(keys))
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        found.update(session.scalars(select(Notification.dedupe_key).where(
            Notification.dedupe_key.in_(wanted[i:i + 500])).distinct()))
    return found


def _money(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency}"


def _day(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _live_campaigns(session: Session) -> list[campaigns_service.Campaign]:
    return [c for status in ("approved", "paused")
            for c in campaigns_service.list_for(session=session, org_id=None, status=status)]


# --- campaigns: flight edges and delivery milestones ----------------------------------------

def campaign_edges(context: JobContext, *, now: datetime | None = None) -> int:
    """Tell advertisers of campaigns whose flight started or ended (once per campaign and
    edge); how many were told."""
    now = now or utcnow()
    since = now - FLIGHT_LOOKBACK
    told = 0
    with context.sessionmaker() as session:
        edges: list[tuple[str, campaigns_service.Campaign]] = []
        for c in _live_campaigns(session):
            if c.status == "approved" and since < c.start_at <= now < c.end_at:
                edges.append(("started", c))
            if since < c.end_at <= now:
                edges.append(("ended", c))
        done = _told(session, (f"campaign.{edge}:{c.id}" for edge, c in edges))
        ended = [c.id for edge, c in edges if edge == "ended"]
        delivered = reporting_service.delivery(session=session, campaign_ids=ended)
        for edge, c in edges:
            key = f"campaign.{edge}:{c.id}"
            if key in done:
                continue
            if edge == "started":
                title = f"“{c.name}” started"
                body = (f"Your campaign “{c.name}” started on {_day(c.start_at)}; it plays "
                        f"until {_day(c.end_at)}.")
            else:
                d = delivered.get(c.id, reporting_service.Delivery())
                title = f"“{c.name}” ended"
                body = (f"Your campaign “{c.name}” ended on {_day(c.end_at)}. It delivered "
                        f"{d.plays:,} plays and {d.impressions:,.0f} impressions for "
                        f"{_money(d.spend_cents, c.currency)}.")
            notifications.notify(session=session, queue=context.queue,
                                 kind=f"campaign.{edge}", org_id=c.org_id, title=title,
                                 body=body, link=f"/v1/campaigns/{c.id}", dedupe_key=key)
            told += 1
    return told


def delivery_milestones(context: JobContext) -> int:
    """Tell advertisers of campaigns whose spend crossed 50, 90 or 100 % of the budget, or
    whose impressions crossed a milestone; the highest crossed only, once; how many told."""
    since = utcnow() - FLIGHT_LOOKBACK  # late plays still count a while after the flight
    told = 0
    with context.sessionmaker() as session:
        campaigns = [c for c in _live_campaigns(session) if c.end_at > since]
        delivered = reporting_service.delivery(session=session,
                                               campaign_ids=[c.id for c in campaigns])
        due: list[tuple[str, str, campaigns_service.Campaign, int]] = []
        for c in campaigns:
            d = delivered.get(c.id)
            if d is None:
                continue
            percents = [p for p in BUDGET_PERCENTS
                        if c.budget_cents > 0 and d.spend_cents * 100 >= c.budget_cents * p]
            if percents:
                due.append(("campaign.budget", f"budget:{c.id}:{percents[-1]}", c,
                            percents[-1]))
            reached = [m for m in IMPRESSION_MILESTONES if d.impressions >= m]
            if reached:
                due.append(("campaign.impressions", f"impressions:{c.id}:{reached[-1]}", c,
                            reached[-1]))
        done = _told(session, (key for _, key, _, _ in due))
        for kind, key, c, mark in due:
            if key in done:
                continue
            d = delivered[c.id]
            if kind == "campaign.budget":
                title = f"“{c.name}” spent {mark} % of its budget"
                body = (f"Your campaign “{c.name}” spent {_money(d.spend_cents, c.currency)} "
                        f"of its {_money(c.budget_cents, c.currency)} budget."
                        + (" It has stopped playing; raise the budget to keep it on screens."
                           if mark >= 100 else ""))
            else:
                title = f"“{c.name}” passed {mark:,} impressions"
                body = (f"Your campaign “{c.name}” has been seen {d.impressions:,.0f} times "
                        f"({d.plays:,} plays).")
            notifications.notify(session=session, queue=context.queue, kind=kind,
                                 org_id=c.org_id, title=title, body=body,
                                 link=f"/v1/campaigns/{c.id}", dedupe_key=key)
            told += 1
    return told


def weekly_digest(context: JobContext, *, now: datetime | None = None) -> int:
    """On Monday from 08:00 UTC, tell each advertiser org what its campaigns delivered in the
    ISO week before (once per org and week; orgs with no plays are not told); how many."""
    now = (now or utcnow()).astimezone(UTC)
    if now.weekday() != DIGEST_WEEKDAY or now.hour < DIGEST_HOUR:
        return 0
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=7)
    year, week, _ = start.isocalendar()
    told = 0
    with context.sessionmaker() as session:
        orgs = [o for o in orgs_service.list_orgs(session=session)
                if o.kind == orgs_service.OrgKind.advertiser]
        done = _told(session, (f"digest:{o.id}:{year}-W{week:02d}" for o in orgs))
        for org in orgs:
            key = f"digest:{org.id}:{year}-W{week:02d}"
            if key in done:
                continue
            report = reporting_service.delivery_report(
                session=session, scope=reporting_service.Scope(advertiser_org_id=org.id),
                group_by=["campaign"], start=start, end=end)
            rows = [r for r in report.rows if r["plays"]]
            if not rows:
                continue
            lines = [f"• {r['campaign_name'] or r['campaign_id']}: {r['plays']:,} plays, "
                     f"{r['impressions']:,.0f} impressions, "
                     f"{_money(r.get('spend_cents') or 0, r['currency'] or '')}"
                     for r in rows]
            notifications.notify(
                session=session, queue=context.queue, kind="report.weekly", org_id=org.id,
                title=f"Your week {year}-W{week:02d} on screens",
                body=f"What your campaigns delivered from {start:%d %b} to "
                     f"{end - timedelta(days=1):%d %b %Y}:\n" + "\n".join(lines),
                link=f"/v1/reports/delivery?group_by=campaign&from={start:%Y-%m-%dT%H:%MZ}"
                     f"&to={end:%Y-%m-%dT%H:%MZ}",
                dedupe_key=key)
            told += 1
    return told


# --- screens: offline, and back -------------------------------------------------------------

def _stamp(instant: datetime) -> str:
    instant = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def offline_key(screen_id: str, last_seen_at: datetime) -> str:
    """The dedupe key of one outage: the screen and when it was last heard from before it."""
    return f"offline:{screen_id}:{_stamp(last_seen_at)}"


def _back(session: Session, context: JobContext, screen_id: str, outage_key: str) -> bool:
    org_id = venues_service.venue_orgs_of(session=session, screen_ids=[screen_id]).get(screen_id)
    if org_id is None:
        return False
    name = venues_service.screen_names(session=session, screen_ids=[screen_id]) \
        .get(screen_id, screen_id)
    notifications.notify(
        session=session, queue=context.queue, kind="screen.online", org_id=org_id,
        title=f"Screen “{name}” is back online",
        body=f"The screen “{name}” is heard from again and plays its schedule.",
        link=f"/v1/screens/{screen_id}",
        dedupe_key="online:" + outage_key.removeprefix("offline:"))
    return True


def screen_back(context: JobContext, *, screen_id: str, away_since: datetime) -> bool:
    """A screen is heard from again: its venue is told, if it was told of this outage."""
    key = offline_key(screen_id, away_since)
    with context.sessionmaker() as session:
        if key not in _told(session, [key]):
            return False
        return _back(session, context, screen_id, key)


def screens_offline(context: JobContext, *, now: datetime | None = None) -> int:
    """Tell venues of screens not heard from for `offline_alert_after_s` (once per outage,
    however long), and of alerted screens heard from again (outages too short for a
    `ScreenBack`); how many outages were told."""
    now = now or utcnow()
    after = timedelta(seconds=context.settings.offline_alert_after_s)
    with context.sessionmaker() as session:
        presence = devices_service.presence(session=session)
        away = {s: offline_key(s, p.last_seen_at) for s, p in presence.items()
                if p.last_seen_at is not None and now - p.last_seen_at > after}
        done = _told(session, away.values())
        new = {s: k for s, k in away.items() if k not in done}
        orgs = venues_service.venue_orgs_of(session=session, screen_ids=new)
        names = venues_service.screen_names(session=session, screen_ids=new)
        for screen_id, key in new.items():
            if screen_id not in orgs:
                continue
            seen = presence[screen_id].last_seen_at
            assert seen is not None
            name = names.get(screen_id, screen_id)
            minutes = int((now - seen).total_seconds() // 60)
            notifications.notify(
                session=session, queue=context.queue, kind="screen.offline",
                org_id=orgs[screen_id], title=f"Screen “{name}” is offline",
                body=f"The screen “{name}” has not been heard from since {_day(seen)} "
                     f"({minutes} min). Check its power and network connection.",
                link=f"/v1/screens/{screen_id}", dedupe_key=key)
        # outages alerted lately whose screen was heard from since (a longer one ends with
        # `ScreenBack`, whose subscriber says so)
        window = now - 2 * devices_service.ABSENT_AFTER - after
        alerted = set(session.scalars(select(Notification.dedupe_key).where(
            Notification.kind == "screen.offline", Notification.created_at > window)
            .distinct()))
        ended = {}
        for key in alerted:
            screen_id = key.removeprefix("offline:").rsplit(":", 1)[0]
            p = presence.get(screen_id)
            if p is not None and p.last_seen_at is not None and now - p.last_seen_at <= after:
                ended[key] = screen_id
        back_done = _told(session, ("online:" + k.removeprefix("offline:") for k in ended))
        for key, screen_id in ended.items():
            if "online:" + key.removeprefix("offline:") not in back_done:
                _back(session, context, screen_id, key)
    return len(new)


# --- the platform: worker, broker, queue ----------------------------------------------------

def _unhealthy(context: JobContext, component: str, text: str,
               now: datetime | None = None) -> None:
    """Tell super-admins, at most once a day per component."""
    now = now or utcnow()
    with context.sessionmaker() as session:
        notifications.notify(
            session=session, queue=context.queue, kind="platform.unhealthy", org_id=None,
            title=f"ADSBIN: the {component} is unhealthy", body=text, link="/healthz",
            dedupe_key=f"health:{component}:{now:%Y-%m-%d}")


def platform_health(context: JobContext, *, now: datetime | None = None) -> list[str]:
    """Look at the broker's bridge in this process, and send a probe through the queue (the
    probe tells if it waited too long for a worker); what was found unhealthy."""
    now = now or utcnow()
    found = []
    # the bridge's port (`MqttPublisher`) only publishes; the real bridge also says whether
    # it is connected, and a process without one (a separate worker) has nothing to say
    connected = getattr(context.bridge, "connected", None)
    if context.bridge is not None and connected is not None and not connected.is_set():
        found.append("broker")
        _unhealthy(context, "broker", "The control plane's MQTT bridge is disconnected from "
                   "the broker: screens get no new playlists or commands until it reconnects.",
                   now)
    if context.queue is not None:
        context.queue.enqueue(PROBE_JOB, asked_at=now.isoformat())
    return found


@registry.job(PROBE_JOB, max_attempts=1)
def queue_probe(context: JobContext, payload: dict[str, Any]) -> None:
    """How long this job waited for a worker: longer than `QUEUE_WAIT_ALERT_S` is told."""
    waited = (utcnow() - datetime.fromisoformat(str(payload["asked_at"]))).total_seconds()
    if waited > QUEUE_WAIT_ALERT_S:
        _unhealthy(context, "job queue",
                   f"A job waited {waited / 60:.0f} min before a worker took it (the limit is "
                   f"{QUEUE_WAIT_ALERT_S / 60:.0f} min): workers are down or overloaded, and "
                   "notifications, media processing and events are late.")


# --- the jobs the scheduler queues every tick ------------------------------------------------

@registry.job("notifications.campaigns", max_attempts=2, hourly=True)
def _campaigns_job(context: JobContext, payload: dict[str, Any]) -> None:
    campaign_edges(context)
    delivery_milestones(context)
    weekly_digest(context)


@registry.job("notifications.screens", max_attempts=2, every_minute=True)
def _screens_job(context: JobContext, payload: dict[str, Any]) -> None:
    screens_offline(context)


@registry.job("notifications.health", max_attempts=1, hourly=True)
def _health_job(context: JobContext, payload: dict[str, Any]) -> None:
    platform_health(context)
