"""Venue moderation: decisions, what they exclude from a venue's screens, and the queue.

A venue is `auto` (the default: every ad the platform approved may play) or `manual`. On a
manual venue a campaign plays once the venue approved its advertiser or one of its approved
creatives; a rejected advertiser never plays there; anything else waits in the venue owner's
queue. Decisions are per venue and per advertiser or creative, and can be changed at any time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane import events
from control_plane.auth.policy import Action, Principal, Resource, authorize
from control_plane.campaigns import service as campaigns_service
from control_plane.campaigns.service import Campaign, Creative, ReviewStatus
from control_plane.db import utcnow
from control_plane.errors import Invalid, NotFound
from control_plane.media import service as media_service
from control_plane.media.schemas import RenditionRead
from control_plane.media.service import Media
from control_plane.moderation.models import ModerationDecision
from control_plane.moderation.schemas import CategoryRead, QueueItem
from control_plane.orgs import service as orgs_service
from control_plane.scheduling import service as scheduling_service
from control_plane.scheduling.eligibility import eligibility
from control_plane.scheduling.inputs import Screen as EngineScreen
from control_plane.storage.base import ObjectStore
from control_plane.taxonomy import service as taxonomy
from control_plane.venues import service as venues_service
from control_plane.venues.service import Venue

AWAITING = "awaiting the venue's approval"
URL_TTL_S = 3600  # as long as the media API's own signed URLs
Decisions = dict[tuple[str, str, str], ModerationDecision]


def decisions(*, session: Session, venue_ids: Iterable[str]) -> Decisions:
    """The decisions of these venues by (venue, scope, subject)."""
    rows = session.scalars(select(ModerationDecision).where(
        ModerationDecision.venue_id.in_(list(venue_ids))))
    return {(d.venue_id, d.scope, d.subject_id): d for d in rows}


def verdict(venue: Venue, campaign: Campaign, found: Decisions) -> str | None:
    """Why the campaign may not play at the venue, or None if it may."""
    if venue.moderation != "manual":
        return None
    advertiser = found.get((venue.id, "advertiser", campaign.org_id))
    if advertiser is not None:
        return None if advertiser.decision == "approved" else \
            f"advertiser rejected: {advertiser.reason or 'no reason given'}"
    creatives = [c for c in campaign.creatives if c.status == ReviewStatus.approved]
    verdicts = [found.get((venue.id, "creative", c.id)) for c in creatives]
    if any(v is not None and v.decision == "approved" for v in verdicts):
        return None
    rejected = [v for v in verdicts if v is not None and v.decision == "rejected"]
    if rejected and len(rejected) == len(creatives):
        return f"creatives rejected: {rejected[0].reason or 'no reason given'}"
    return AWAITING


@scheduling_service.exclusions.provide
def exclusions(*, session: Session, venues: Iterable[Venue],
               campaigns: Iterable[Campaign]) -> dict[str, dict[str, str]]:
    """For each manual venue, the campaigns it keeps off its screens, with the reason."""
    manual = [v for v in venues if v.moderation == "manual"]
    if not manual:
        return {}
    found = decisions(session=session, venue_ids=[v.id for v in manual])
    campaigns = list(campaigns)
    out: dict[str, dict[str, str]] = {}
    for venue in manual:
        reasons = {c.id: r for c in campaigns if (r := verdict(venue, c, found)) is not None}
        if reasons:
            out[venue.id] = reasons
    return out


def decide(*, session: Session, venue_id: str, scope: str, subject_id: str, decision: str,
           reason: str | None, user_id: str | None) -> ModerationDecision:
    """Record (or change) a venue's decision. Committed."""
    row = session.scalar(select(ModerationDecision).where(
        ModerationDecision.venue_id == venue_id, ModerationDecision.scope == scope,
        ModerationDecision.subject_id == subject_id))
    if row is None:
        row = ModerationDecision(venue_id=venue_id, scope=scope, subject_id=subject_id)
        session.add(row)
    row.decision, row.reason, row.decided_by, row.decided_at = decision, reason, user_id, utcnow()
    events.record(session, events.ModerationDecided(venue_id=venue_id, scope=scope,
                                                    subject_id=subject_id, decision=decision,
                                                    reason=reason))
    session.commit()
    return row


def decide_item(*, session: Session, principal: Principal, item_id: str, decision: str,
                scope: str, reason: str | None) -> ModerationDecision:
    """Approve or reject a queue item ("venue~creative") for this ad, or every ad of its
    advertiser (`scope`), as `principal`; a rejection says why. Committed."""
    venue_id, _, creative_id = item_id.partition("~")
    venue = venues_service.get_venue(session=session, venue_id=venue_id)
    # another org's venue answers as a venue that does not exist (venue_not_found), not with
    # a code of its own that would tell a real id from a made-up one
    authorize(principal, Resource.venue, Action.read, owner_org_id=venue.org_id)
    authorize(principal, Resource.moderation, Action.manage, owner_org_id=venue.org_id)
    creative = campaigns_service.get_creative(session=session, creative_id=creative_id)
    # only what the venue's queue holds (or held, before a decision took it out): another
    # advertiser's creative that never asks for this venue answers as one that does not exist
    if creative is None or not _holds(session, venue, creative):
        raise NotFound("no such item", code="moderation_item_not_found")
    if decision == "rejected" and not reason:
        raise Invalid("say why you reject it: the advertiser sees the reason",
                      code="reason_required")
    campaign = campaigns_service.get(session=session, campaign_id=creative.campaign_id)
    subject = creative.id if scope == "creative" else campaign.org_id
    return decide(session=session, venue_id=venue.id, scope=scope, subject_id=subject,
                  decision=decision, reason=reason, user_id=principal.user_id)


def _held(venue: Venue, row: Campaign, screens: list[EngineScreen]) -> list[Creative]:
    """The creatives of a schedulable campaign that the venue is asked about, its decisions
    aside: those approved by the platform, of a campaign that may play on one of its screens."""
    if venue.moderation != "manual":
        return []
    campaign = scheduling_service.campaign_input(row, {})
    if not any(eligibility(campaign, s).eligible for s in screens):
        return []
    return [c for c in row.creatives if c.status == ReviewStatus.approved]


def _holds(session: Session, venue: Venue, creative: Creative) -> bool:
    """Whether the venue's queue holds the creative, or would but for a decision already made
    (a decision can be changed)."""
    row = next((c for c in campaigns_service.schedulable(session=session, now=utcnow())
                if c.id == creative.campaign_id), None)
    if row is None or venue.moderation != "manual":
        return False
    media = {m.id: m for m in media_service.get_many(session=session,
                                                    media_ids=venue.house_media_ids or [])}
    screens = [scheduling_service.screen_input(s, media) for s in venue.screens]
    return any(c.id == creative.id for c in _held(venue, row, screens))


def queue(*, session: Session, org_id: str, store: ObjectStore,
          url_ttl_s: int = URL_TTL_S) -> list[QueueItem]:
    """What the org's manual venues still have to decide: creatives of approved campaigns
    that would otherwise play there, with what it takes to judge them."""
    venues = venues_service.manual_venues(session=session, org_id=org_id)
    if not venues:
        return []
    found = decisions(session=session, venue_ids=[v.id for v in venues])
    now = utcnow()
    world = scheduling_service.load(session, now)
    judge = _Judging(session, store, world.media, url_ttl_s, now)
    items = []
    for venue in sorted(venues, key=lambda v: v.id):
        screens = [scheduling_service.screen_input(s, world.media) for s in venue.screens]
        for row in sorted(world.campaigns, key=lambda c: c.id):
            if verdict(venue, row, found) != AWAITING:
                continue
            for creative in _held(venue, row, screens):
                if (venue.id, "creative", creative.id) not in found:
                    items.append(judge.item(venue, row, creative))
    return items


class _Judging:
    """Builds queue items: the ad itself (signed URLs of its renditions), who advertises and in
    which category, each looked up once per queue."""

    def __init__(self, session: Session, store: ObjectStore, media: dict[str, Media],
                 url_ttl_s: int, now: datetime) -> None:
        self.session, self.store, self.media, self.url_ttl_s = session, store, media, url_ttl_s
        self.expires_at = now + timedelta(seconds=url_ttl_s)
        self.advertisers: dict[str, str] = {}

    def _advertiser(self, org_id: str) -> str:
        if org_id not in self.advertisers:
            org = orgs_service.get_org(session=self.session, org_id=org_id)
            self.advertisers[org_id] = org.name if org else ""
        return self.advertisers[org_id]

    def _renditions(self, media: Media | None) -> list[RenditionRead]:
        # Signed for these objects only: the URLs open this ad's files and nothing else, and
        # the media stays the advertiser's (GET /v1/media/{id} still answers 404 to the venue).
        return [RenditionRead(role=r.role, name=r.name, width=r.width, height=r.height,
                              mime=r.mime, size_bytes=r.size_bytes, sha256=r.sha256,
                              duration_ms=r.duration_ms,
                              url=self.store.signed_url(r.key, expires_in_s=self.url_ttl_s))
                for r in (media.renditions if media else ())]

    def item(self, venue: Venue, campaign: Campaign, creative: Creative) -> QueueItem:
        """The queue item of this creative at this venue."""
        media = self.media.get(creative.media_id)
        renditions = self._renditions(media)
        category = taxonomy.ad_categories().get(campaign.category)
        return QueueItem(
            item_id=f"{venue.id}~{creative.id}", venue_id=venue.id, venue_name=venue.name,
            campaign_id=campaign.id, campaign_name=campaign.name, advertiser_id=campaign.org_id,
            advertiser_name=self._advertiser(campaign.org_id),
            category=CategoryRead(id=campaign.category,
                                  name=category.name if category else campaign.category,
                                  tier1=category.tier1 if category else ""),
            creative_id=creative.id, media_id=creative.media_id,
            kind=media.kind if media else "", duration_s=creative.duration_s,
            thumbnail_url=next((r.url for r in renditions if r.role == "thumbnail"), None),
            renditions=renditions, urls_expire_at=self.expires_at)
