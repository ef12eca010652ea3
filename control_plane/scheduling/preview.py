"""Previews of a campaign before it runs: where in the network it may play (eligibility) and
what it would get over the horizon (forecast).

Both build the schedule as the worker would, from the database as it is now, so what they say is
what the next rebuild publishes. The API's routes and the dashboard's pages ask here alike
(`service.py` holds the worker's build; these read it).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from control_plane.campaigns import service as campaigns_service
from control_plane.campaigns.schemas import CampaignCreate
from control_plane.campaigns.service import Campaign as CampaignRow
from control_plane.db import utcnow
from control_plane.errors import Invalid
from control_plane.scheduling import rollout
from control_plane.scheduling import service as scheduling_service
from control_plane.scheduling.audience import AudienceIndex
from control_plane.scheduling.eligibility import eligibility
from control_plane.scheduling.inputs import NO_PROFILE, Creative
from control_plane.scheduling.inventory import Place, offers
from control_plane.scheduling.plan import loop_count, plays
from control_plane.scheduling.schemas import (
    AreaRead,
    CampaignEligibility,
    Forecast,
    OfferRead,
    ReasonCount,
    ScreenEligibility,
    Timeline,
    TimelineItem,
    TimelineWindow,
)
from control_plane.taxonomy import service as taxonomy

FORECAST_ID = "forecast:draft"
FORECAST_CREATIVE_S = 10


def campaign_eligibility(*, session: Session, campaign: CampaignRow,
                         exact: bool) -> CampaignEligibility:
    """Where in the network the campaign may play and why not elsewhere, by venue type and
    area; `exact` (super-admins) adds every screen by id with its reasons."""
    row = campaign
    judged = scheduling_service.campaign_input(row, {}, approved_only=False)
    world = scheduling_service.load(session, utcnow())
    # the venues' own say too (manual moderation), as the schedule would judge it
    excluded = scheduling_service.exclusions(
        session=session, venues={s.venue_id: s.venue for s in world.screens}.values(),
        campaigns=[row])
    viewers = scheduling_service.viewers(session=session, screens=world.screens) \
        if judged.audience is not None else {}
    audience = AudienceIndex()
    verdicts = [(screen, eligibility(judged, scheduling_service.screen_input(
        screen, world.media, excluded.get(screen.venue_id),
        viewers=viewers.get(screen.id, NO_PROFILE) if viewers else None), exact=exact,
        audience=audience)) for screen in world.screens]
    groups = offers((Place(s.venue_id, s.venue.venue_type_id, s.venue.lat, s.venue.lon,
                           s.venue.timezone, s.venue.public_name), v) for s, v in verdicts)
    return CampaignEligibility(
        campaign_id=row.id, screens_total=len(verdicts),
        eligible_screens=sum(v.eligible for _, v in verdicts),
        inventory=[OfferRead(venue_type_id=o.venue_type_id, venue_type=o.venue_type,
                             area=AreaRead(lat=o.lat, lon=o.lon, timezone=o.timezone),
                             public_name=o.public_name, venues=o.venues, screens=o.screens,
                             eligible_screens=o.eligible_screens,
                             reasons=[ReasonCount(reason=r, screens=n)
                                      for r, n in sorted(o.reasons.items(),
                                                         key=lambda rn: (-rn[1], rn[0]))])
                   for o in groups],
        screens=[ScreenEligibility(screen_id=s.id, venue_id=s.venue_id,
                                   venue_name=s.venue.name, eligible=v.eligible,
                                   reasons=list(v.reasons)) for s, v in verdicts]
        if exact else None)


def forecast(*, session: Session, org_id: str, campaign_in: CampaignCreate) -> Forecast:
    """Available impressions and expected spend of a draft over the horizon, planned beside
    every approved campaign; 422 for an unknown category or venue type."""
    body = campaign_in
    taxonomy.check_categories([body.category])
    for venue_type_id in body.targeting.venue_type_ids:
        taxonomy.check_venue_type(venue_type_id)
    now = utcnow()
    row = campaigns_service.unsaved(campaign_id=FORECAST_ID, org_id=org_id, campaign_in=body)
    draft = scheduling_service.campaign_input(row, {})
    draft = replace(draft, creatives=(Creative("forecast", "forecast", FORECAST_CREATIVE_S),))
    world, params, plans = scheduling_service.build(session, now, extra=[draft])
    multipliers = {s.id: s.audience_multiplier for s in world.screens}
    zones = {s.id: s.venue.timezone for s in world.screens}
    eligible = [sid for sid, plan in plans.items() if FORECAST_ID not in plan.exclusions]
    slots_per_play = -(-FORECAST_CREATIVE_S // params.slot_s)
    available = planned_impressions = target_impressions = 0.0
    planned = 0
    audience = AudienceIndex()
    for screen_id in eligible:
        for window in plans[screen_id].windows:
            if not (draft.start_at <= window.start and window.end <= draft.end_at):
                continue
            loops = loop_count(window, params.loop_s)
            available += loops * (params.slots_per_loop // slots_per_play) \
                * multipliers[screen_id]
            mine = plays(window, params.loop_s).get(FORECAST_ID, 0)
            planned += mine
            impressions = mine * multipliers[screen_id]
            planned_impressions += impressions
            # of those, the ones seen by the audience it targets: × their share then
            target_impressions += impressions if draft.audience is None or not mine else \
                impressions * audience.mean_share(world.viewers.get(screen_id, NO_PROFILE),
                                                  draft.audience, zones[screen_id],
                                                  window.start, window.end)
    spend = min(body.budget_cents, math.floor(planned_impressions * body.cpm_cents / 1000))
    return Forecast(horizon_h=params.horizon_h, eligible_screens=len(eligible),
                    available_impressions=available, planned_plays=planned,
                    planned_impressions=planned_impressions,
                    target_impressions=target_impressions, expected_spend_cents=spend,
                    currency=body.currency)


# the hourly rebuild keeps every screen's plan: one older than this is not what plays any more
KEPT_PLAN_FOR = timedelta(hours=2)


def timeline(*, session: Session, screen_id: str, start: datetime | None = None,
             end: datetime | None = None) -> Timeline:
    """What the screen plays between `start` (now) and `end` (a day later), and why: each
    window's loop and explanation, and the campaigns ruled out with their reasons — as the
    last build published it (one stored row, not a build of the fleet), or planned now while
    a change waits for its rebuild or when no build has lately."""
    now = utcnow()
    start, end = start or now, end or now + timedelta(hours=24)
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise Invalid("from and to are RFC 3339 times with a zone, from before to")
    kept = None if scheduling_service.rebuild_pending(session=session, screen_id=screen_id) \
        else rollout.last_plan(session=session, screen_id=screen_id)
    if kept is not None and now - kept[1] <= KEPT_PLAN_FOR:
        plan, planned_at = kept
    else:
        # a change waits for its rebuild, or no build published it lately (a new screen, a
        # stopped scheduler): planned now, as the next build will
        _, _, plans = scheduling_service.build(session, now)
        plan, planned_at = plans[screen_id], now
    return Timeline(
        screen_id=screen_id, planned_at=planned_at,
        windows=[TimelineWindow(start=w.start, end=w.end, explain=list(w.explain),
                                loop=[TimelineItem(kind=i.kind, campaign_id=i.campaign_id,
                                                   creative_id=i.creative_id,
                                                   duration_s=i.duration_s, slots=i.slots)
                                      for i in w.loop])
                 for w in plan.windows if w.end > start and w.start < end],
        exclusions={k: list(v) for k, v in sorted(plan.exclusions.items())})
