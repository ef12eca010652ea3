"""The schedule worker: from the database to the engine's inputs, and from its plans to the
playlists devices play.

`request_rebuild` records which screens a change affects and queues one `schedule.rebuild` job
unless one is already waiting, so a burst of changes (twenty campaigns approved in a minute)
costs one build. The job drains the requests, builds every screen's plan (even pacing spreads a
campaign over the whole fleet, so the build is global) and, as each plan is made, turns it
into an `adsbin.playlist/v1` with the rendition sized for that screen (`playlists.py`) and
keeps it beside the plan in `screen_plans` and announces it if its version changed
(`rollout.py`).
"""

from __future__ import annotations

import gc
import logging
import math
import secrets
import time as clock
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from control_plane.campaigns import service as campaigns_service
from control_plane.campaigns.service import Campaign as CampaignRow
from control_plane.campaigns.service import ReviewStatus
from control_plane.db import utcnow
from control_plane.devices import messaging as device_messages
from control_plane.devices import service as devices_service
from control_plane.jobs.queue import JobContext, JobQueue, registry
from control_plane.media import service as media_service
from control_plane.media.service import Media
from control_plane.scheduling import engine, playlists, publication, rollout
from control_plane.scheduling.audience import runs_of
from control_plane.scheduling.exceptions import PublishFailed
from control_plane.scheduling.inputs import (
    NO_PROFILE,
    AudienceTarget,
    Campaign,
    Creative,
    Daypart,
    Params,
    Screen,
    Segment,
    Split,
    Viewers,
)
from control_plane.scheduling.models import ScheduleLease, ScheduleRequest
from control_plane.scheduling.plan import ScreenPlan
from control_plane.scheduling.playtime import PlayRules
from control_plane.upcalls import NotProvided, Upcall
from control_plane.venues import service as venues_service
from control_plane.venues.service import Screen as ScreenRow
from control_plane.venues.service import Venue, display_size
from shared import topics
from shared.playlist import Playlist

log = logging.getLogger(__name__)
ALL_SCREENS = "*"
WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
JOB_KIND = "schedule.rebuild"
T = TypeVar("T")


def _hhmm(text: str) -> time:
    return time(0, 0) if text == "24:00" else time.fromisoformat(text)


def audience_target(stored: dict[str, Any] | None) -> AudienceTarget | None:
    """A campaign's `targeting.audience` as the engine takes it (None: not targeted)."""
    if not stored:
        return None
    return AudienceTarget(tuple(Segment(frozenset(s["age_bands"]), frozenset(s.get("genders")
                                                                             or ()))
                                for s in stored["segments"]), float(stored["min_share"]))


def campaign_input(row: CampaignRow, delivered: dict[str, float], *,
                   approved_only: bool = True) -> Campaign:
    """The engine's view of a campaign, with its approved creatives (all, for a preview)."""
    targeting: dict[str, Any] = row.targeting or {}
    geo = targeting.get("geo")
    return Campaign(
        row.id, row.org_id, row.category, row.start_at, row.end_at,
        dayparts=tuple(Daypart(frozenset(WEEKDAYS[d] for d in p["weekdays"]),
                               _hhmm(p["start"]), _hhmm(p["end"])) for p in row.dayparts),
        venue_type_ids=tuple(targeting.get("venue_type_ids") or ()),
        geo=(geo["lat"], geo["lon"], geo["radius_km"]) if geo else None,
        screen_ids=tuple(targeting.get("screen_ids") or ()),
        budget_cents=row.budget_cents, cpm_cents=row.cpm_cents,
        pacing=row.pacing,  # type: ignore[arg-type]
        delivered_impressions=delivered.get(row.id, 0.0),
        max_plays_per_hour=row.max_plays_per_hour, share_of_voice=row.share_of_voice,
        audience=audience_target(targeting.get("audience")),
        creatives=tuple(Creative(c.id, c.media_id, c.duration_s) for c in row.creatives
                        if c.status == ReviewStatus.approved or not approved_only))


HOUSE_IMAGE_S = 10


def house_creatives(media_ids: Iterable[str], media: dict[str, Media]) -> tuple[Creative, ...]:
    """A venue's house content as creatives (images for one slot, videos for their length)."""
    found = []
    for media_id in media_ids:
        item = media.get(media_id)
        if item is None or item.status != "ready":
            continue
        seconds = (math.ceil((item.info.get("duration_ms") or 0) / 1000)
                   if item.kind == "video" else HOUSE_IMAGE_S)
        found.append(Creative(f"house:{media_id}", media_id, max(1, seconds)))
    return tuple(found)


# A paired screen whose device is away (not heard from for devices_service.ABSENT_AFTER, an
# hour: long enough for a network blip or a restart, short enough that a dead unit does not hold
# budget for a day) is not expected to play: the budgets go to the screens that do until it is
# back, which asks for its playlist again (scheduling/subscriptions.py).
DORMANT_AFTER = devices_service.ABSENT_AFTER


def dormancy(presence: devices_service.Presence | None, now: datetime) -> str:
    """Why a screen is not expected to play, or "" when it is."""
    if presence is None:
        return "screen not paired"
    seen = presence.last_seen_at or presence.paired_at
    if now - seen > DORMANT_AFTER:
        return f"screen not seen since {seen:%Y-%m-%d %H:%M} UTC"
    return ""


def viewers(*, session: Session, screens: Iterable[ScreenRow]) -> dict[str, Viewers]:
    """Who watches each screen now, by the audience profile in force (NO_PROFILE without
    one); screens sharing a profile share its `Viewers`."""
    found: dict[str, Viewers] = {}
    out: dict[str, Viewers] = {}
    for screen_id, profile in venues_service.audience_profiles_now(
            session=session, screens=screens).items():
        if profile is None:
            out[screen_id] = NO_PROFILE
            continue
        if profile.id not in found:
            splits = [Split(dict(s.age), dict(s.gender)) for s in profile.splits]
            found[profile.id] = Viewers(profile.id, runs_of(profile.part_of_minute, splits))
        out[screen_id] = found[profile.id]
    return out


def screen_input(row: ScreenRow, media: dict[str, Media] | None = None,
                 excluded: dict[str, str] | None = None, dormant: str = "",
                 viewers: Viewers | None = None) -> Screen:
    """The engine's view of a screen and its venue (`viewers`: who watches, where audience
    targeting is judged)."""
    venue = row.venue
    return Screen(row.id, venue.id, venue.timezone,
                  opening_hours={d: tuple((a, b) for a, b in r)
                                 for d, r in (venue.opening_hours or {}).items()},
                  venue_type_id=venue.venue_type_id, lat=venue.lat, lon=venue.lon,
                  blocked_categories=tuple(venue.blocked_categories or ()),
                  audience_multiplier=row.audience_multiplier,
                  house=house_creatives(venue.house_media_ids or (), media or {}),
                  excluded=dict(excluded or {}), dormant=dormant, viewers=viewers)


@dataclass
class World:
    """Everything one build needs, read in one go."""

    screens: list[ScreenRow]
    campaigns: list[CampaignRow]
    media: dict[str, Media]  # by media id (the engine's "media_sha256" of a creative)
    # campaigns and screens the engine could not take, by id, and why: one bad row is left
    # out of the build (and logged), never a fleet-wide outage
    skipped: dict[str, str] = field(default_factory=dict)
    # who watches each screen, by screen id: read only when a campaign targets an audience
    viewers: dict[str, Viewers] = field(default_factory=dict)


def load(session: Session, now: datetime) -> World:
    """The screens, the schedulable campaigns and the media their creatives use."""
    screens = venues_service.all_screens(session=session)
    campaigns = campaigns_service.schedulable(session=session, now=now)
    media_ids = {c.media_id for row in campaigns for c in row.creatives}
    media_ids |= {m for s in screens for m in (s.venue.house_media_ids or ())}
    media = {m.id: m for m in media_service.get_many(session=session, media_ids=media_ids)}
    return World(screens, campaigns, media)


def to_playlist(plan: ScreenPlan, screen: ScreenRow, world: World, params: Params,
                public_url: str) -> Playlist:
    """The playlist of one screen: each creative's rendition sized for it."""
    return playlists.to_playlist(plan, screen.id, display_size(screen),
                                 playlists.Files(world.media, public_url), params)


# Reporting judges proof of play by this module's rules, and moderation's queue is what it would
# play: both build on scheduling, so they answer these when imported (`control_plane.upcalls`).
@Upcall
def delivered_impressions(*, session: Session, campaign_ids: Iterable[str]) -> dict[str, float]:
    """Billable impressions delivered so far per campaign (absent: none yet); pacing closes
    over them."""
    raise NotProvided("control_plane.reporting.service provides the delivered impressions")


@Upcall
def exclusions(*, session: Session, venues: Iterable[Venue],
               campaigns: Iterable[CampaignRow]) -> dict[str, dict[str, str]]:
    """For each manual venue, the campaigns it keeps off its screens, with the reason."""
    raise NotProvided("control_plane.moderation.service provides the venues' exclusions")


def build(session: Session, now: datetime, settings_horizon_h: int = 48, *,
          extra: Iterable[Campaign] = ()) -> tuple[World, Params, dict[str, ScreenPlan]]:
    """Every screen's plan from the database as it is now (plus `extra` campaigns, for a
    forecast)."""
    world, params, plans = build_each(session, now, settings_horizon_h, extra=extra)
    return world, params, dict(sorted(plans))


def build_each(session: Session, now: datetime, settings_horizon_h: int = 48, *,
               extra: Iterable[Campaign] = ()
               ) -> tuple[World, Params, Iterator[tuple[str, ScreenPlan]]]:
    """The plans of `build`, each (screen id, plan) as soon as the engine has made it
    (`engine.plan_each`); the database is read before this returns."""
    world = load(session, now)
    params = Params(now=now, horizon_h=settings_horizon_h)
    delivered = delivered_impressions(session=session,
                                      campaign_ids=[c.id for c in world.campaigns])
    excluded = exclusions(
        session=session, venues={s.venue_id: s.venue for s in world.screens}.values(),
        campaigns=world.campaigns)
    present = devices_service.presence(session=session)
    campaigns = _taken(world, world.campaigns, "campaign",
                       lambda c: campaign_input(c, delivered))
    extra = list(extra)
    if any(c.audience is not None for c in campaigns + extra):
        # once per build for the whole fleet, and only when some campaign needs it
        world.viewers = viewers(session=session, screens=world.screens)
    screens = _taken(world, world.screens, "screen", lambda s: screen_input(
        s, world.media, excluded.get(s.venue_id), dormancy(present.get(s.id), now),
        world.viewers.get(s.id, NO_PROFILE) if world.viewers else None))
    skipped = [row.id for row in world.screens if row.id in world.skipped]
    world.screens = [s for s in world.screens if s.id not in world.skipped]
    world.campaigns = [c for c in world.campaigns if c.id not in world.skipped]

    def each() -> Iterator[tuple[str, ScreenPlan]]:
        yield from engine.plan_each(screens, campaigns + extra, params)
        for screen_id in skipped:  # nothing is published for it; it keeps what it has
            yield screen_id, ScreenPlan(screen_id, (), {})

    return world, params, each()


def _taken(world: World, rows: Iterable[Any], what: str,
           convert: Callable[[Any], T]) -> list[T]:
    """The engine's inputs of these rows; a row that cannot become one is left out, noted in
    `world.skipped` and logged, so that it costs only itself its schedule."""
    taken = []
    for row in rows:
        try:
            taken.append(convert(row))
        except Exception as exc:  # any fault of one row must not stop the fleet's schedule
            world.skipped[row.id] = f"{type(exc).__name__}: {exc}"
            log.error("schedule: %s %s left out of the build (%s); fix or pause it",
                      what, row.id, world.skipped[row.id])
    return taken


def play_rules(*, session: Session, screen: ScreenRow, campaigns: Iterable[CampaignRow],
               grace_s: float) -> PlayRules:
    """The rules plays on this screen of these campaigns are judged by (proof of play)."""
    rows = list(campaigns)
    excluded = exclusions(session=session, venues=[screen.venue], campaigns=rows)
    rules = PlayRules(screen_input(screen, excluded=excluded.get(screen.venue_id)),
                      slot_s=Params(now=utcnow()).slot_s, grace_s=grace_s)
    media_ids = {c.media_id for row in rows for c in row.creatives}
    videos = media_service.video_lengths_ms(session=session, media_ids=media_ids) \
        if media_ids else {}
    for row in rows:
        rules.add(campaign_input(row, {}), row.status,
                  {c.id: videos[c.media_id] for c in row.creatives if c.media_id in videos})
    return rules


def request_rebuild(*, session: Session, queue: JobQueue,
                    screen_ids: Iterable[str] | None = None) -> None:
    """Note that these screens (all when None) need new playlists; one job serves a burst."""
    for screen_id in (list(screen_ids) if screen_ids is not None else [ALL_SCREENS]):
        if session.get(ScheduleRequest, screen_id) is None:
            session.add(ScheduleRequest(screen_id=screen_id))
    session.commit()
    queue.enqueue_once(JOB_KIND, subject="schedule", session=session)


def rebuild_pending(*, session: Session, screen_id: str) -> bool:
    """Whether a change asked for the screen's playlist (or every screen's) and its build has
    not started yet."""
    return session.scalar(select(ScheduleRequest.screen_id).where(
        ScheduleRequest.screen_id.in_([screen_id, ALL_SCREENS])).limit(1)) is not None


def republish(*, session: Session, queue: JobQueue, screen_id: str) -> None:
    """The screen has no published playlist: if a build kept a plan for it (without the
    playlist, from before playlists were kept in the database), forget that, so that the next
    build does not take the playlist for published, and ask for one."""
    if rollout.forget(session=session, screen_ids=[screen_id]):
        request_rebuild(session=session, queue=queue, screen_ids=[screen_id])


LEASE_NAME = "rebuild"
LEASE_TTL = timedelta(minutes=15)
LEASE_POLL_S = 0.1


def _take_lease(sessions: sessionmaker[Session], holder: str) -> None:
    """Wait until this build holds the fleet-wide lease."""
    while True:
        with sessions() as session:
            now = utcnow()
            if session.get(ScheduleLease, LEASE_NAME) is None:
                try:
                    session.add(ScheduleLease(name=LEASE_NAME, holder="", expires_at=now))
                    session.commit()
                except IntegrityError:
                    session.rollback()
            taken = session.execute(update(ScheduleLease).where(
                ScheduleLease.name == LEASE_NAME, ScheduleLease.expires_at <= now)
                .values(holder=holder, expires_at=now + LEASE_TTL)).rowcount  # type: ignore[attr-defined]
            session.commit()
            if taken:
                return
        clock.sleep(LEASE_POLL_S)


def _release_lease(sessions: sessionmaker[Session], holder: str) -> None:
    with sessions() as session:
        session.execute(update(ScheduleLease).where(
            ScheduleLease.name == LEASE_NAME, ScheduleLease.holder == holder)
            .values(holder="", expires_at=utcnow()))
        session.commit()


@registry.job(JOB_KIND, max_attempts=3)
def rebuild(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Build the schedule and publish the playlists of the screens that asked for it.

    One build at a time: a build that read the database earlier must not publish after a later
    one, so each takes the lease before it drains the requests.
    """
    holder = secrets.token_hex(8)
    _take_lease(ctx.sessionmaker, holder)
    try:
        _rebuild(ctx)
    finally:
        _release_lease(ctx.sessionmaker, holder)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector held off (a build makes no cycles, only plenty of objects:
    its passes over the process's live objects took a fifth of a build's time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _rebuild(ctx: JobContext) -> None:
    with ctx.sessionmaker() as session, _collector_paused():
        wanted = set(session.scalars(select(ScheduleRequest.screen_id)))
        session.execute(delete(ScheduleRequest).where(ScheduleRequest.screen_id.in_(wanted)))
        session.commit()
        if not wanted:
            return
        now = utcnow()
        world, params, plans = build_each(session, now)
        shown = {s.id: s for s in world.screens if ALL_SCREENS in wanted or s.id in wanted}
        url = ctx.settings.public_url
        files = playlists.Files(world.media, url)
        out = rollout.Rollout(session=session, bridge=ctx.bridge, public_url=url,
                              built_at=now)
        failed: list[str] = []
        for screen_id, plan in plans:  # each screen's playlist goes out as its plan is made
            screen = shown.get(screen_id)
            if screen is None:
                continue
            try:
                playlist = playlists.to_playlist(plan, screen_id, display_size(screen), files,
                                                 params)
            except Exception:  # one screen's playlist must not keep the others from theirs
                log.exception("schedule: the playlist of screen %s was not made", screen_id)
                failed.append(screen_id)
                continue
            out.add(plan, playlist)
        changed = out.finish()
        log.info("schedule rebuilt: %d screens, %d playlists changed, %d left out%s",
                 len(world.screens), changed, len(world.skipped),
                 f", {out.unannounced} not announced (their next poll reads them)"
                 if out.unannounced else "")
        if failed:
            # asked for again, so the job's retry (or the next tick) publishes them
            for screen_id in failed:
                session.merge(ScheduleRequest(screen_id=screen_id))
            session.commit()
            raise PublishFailed(f"{len(failed)} playlists were not published: "
                                f"{', '.join(failed[:10])}")


@device_messages.playlist_announcements.provide  # put back on a broker that lost them
def _announcements(*, session: Session, public_url: str) -> list[tuple[str, bytes]]:
    return [(topics.playlist(screen_id), publication.announcement_of(screen_id, version,
                                                                     public_url))
            for screen_id, version in rollout.published_versions(session=session)]
