"""Explain and preview: what a screen plays and why, and where a campaign may play.

Both build the schedule as the worker would, from the database as it is now, so what they say is
what the next rebuild publishes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from control_plane.auth.dependencies import CurrentPrincipal
from control_plane.auth.policy import Action, Resource, authorize
from control_plane.campaigns import service as campaigns_service
from control_plane.db import DbSession, utcnow
from control_plane.errors import Invalid
from control_plane.scheduling import service as scheduling_service
from control_plane.scheduling.eligibility import eligibility
from control_plane.venues import service as venues_service

router = APIRouter(prefix="/v1", tags=["scheduling"])
Id = Annotated[str, Path(max_length=40)]


class TimelineItem(BaseModel):
    kind: str
    campaign_id: str | None
    creative_id: str
    duration_s: int
    slots: int


class TimelineWindow(BaseModel):
    start: datetime
    end: datetime
    loop: list[TimelineItem]
    explain: list[str]


class Timeline(BaseModel):
    screen_id: str
    windows: list[TimelineWindow]
    exclusions: dict[str, list[str]]


class ScreenEligibility(BaseModel):
    screen_id: str
    venue_id: str
    venue_name: str
    eligible: bool
    reasons: list[str]


class CampaignEligibility(BaseModel):
    campaign_id: str
    screens: list[ScreenEligibility]


@router.get("/screens/{screen_id}/timeline", response_model=Timeline,
            summary="What plays on the screen between from and to, and why")
def timeline(screen_id: Id, session: DbSession, principal: CurrentPrincipal,
             start: Annotated[datetime | None, Query(alias="from")] = None,
             end: Annotated[datetime | None, Query(alias="to")] = None) -> Timeline:
    screen = venues_service.get_screen(session=session, screen_id=screen_id)
    authorize(principal, Resource.screen, Action.read, owner_org_id=screen.org_id)
    now = utcnow()
    start, end = start or now, end or now + timedelta(hours=24)
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise Invalid("from and to are RFC 3339 times with a zone, from before to")
    _, _, plans = scheduling_service.build(session, now)
    plan = plans[screen.id]
    return Timeline(
        screen_id=screen.id,
        windows=[TimelineWindow(start=w.start, end=w.end, explain=list(w.explain),
                                loop=[TimelineItem(kind=i.kind, campaign_id=i.campaign_id,
                                                   creative_id=i.creative_id,
                                                   duration_s=i.duration_s, slots=i.slots)
                                      for i in w.loop])
                 for w in plan.windows if w.end > start and w.start < end],
        exclusions={k: list(v) for k, v in sorted(plan.exclusions.items())})


@router.get("/campaigns/{campaign_id}/eligibility", response_model=CampaignEligibility,
            summary="Each screen of the network: may the campaign play there, or why not")
def campaign_eligibility(campaign_id: Id, session: DbSession,
                         principal: CurrentPrincipal) -> CampaignEligibility:
    row = campaigns_service.get(session=session, campaign_id=campaign_id)
    authorize(principal, Resource.campaign, Action.read, owner_org_id=row.org_id)
    campaign = scheduling_service.campaign_input(row, {}, approved_only=False)
    world = scheduling_service.load(session, utcnow())
    answers = []
    for screen in world.screens:
        verdict = eligibility(campaign, scheduling_service.screen_input(screen, world.media))
        answers.append(ScreenEligibility(screen_id=screen.id, venue_id=screen.venue_id,
                                         venue_name=screen.venue.name,
                                         eligible=verdict.eligible,
                                         reasons=list(verdict.reasons)))
    return CampaignEligibility(campaign_id=row.id, screens=answers)
