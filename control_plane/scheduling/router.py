"""Explain and preview: what a screen plays and why, and where a campaign may play.

Both build the schedule as the worker would, from the database as it is now, so what they say is
what the next rebuild publishes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from control_plane.auth.dependencies import CurrentPrincipal
from control_plane.auth.policy import Action, Resource, authorize
from control_plane.campaigns import service as campaigns_service
from control_plane.campaigns.schemas import CampaignCreate
from control_plane.db import DbSession
from control_plane.scheduling import preview as scheduling_preview
from control_plane.scheduling.schemas import (
    CampaignEligibility,
    Forecast,
    Timeline,
)
from control_plane.venues import service as venues_service

router = APIRouter(prefix="/v1", tags=["scheduling"])
Id = Annotated[str, Path(max_length=40)]


@router.get("/screens/{screen_id}/timeline", response_model=Timeline,
            summary="What plays on the screen between from and to, and why")
def timeline(screen_id: Id, session: DbSession, principal: CurrentPrincipal,
             start: Annotated[datetime | None, Query(alias="from")] = None,
             end: Annotated[datetime | None, Query(alias="to")] = None) -> Timeline:
    screen = venues_service.get_screen(session=session, screen_id=screen_id)
    authorize(principal, Resource.screen, Action.read, owner_org_id=screen.org_id)
    return scheduling_preview.timeline(session=session, screen_id=screen.id, start=start,
                                       end=end)


@router.get("/campaigns/{campaign_id}/eligibility", response_model=CampaignEligibility,
            summary="Where in the network the campaign may play, and why not elsewhere",
            description="The network as inventory an advertiser may buy: screens grouped by "
                        "venue type and area (rounded coordinates, time zone), a venue's name "
                        "only where its owner publishes one, with counts of the screens the "
                        "campaign may play on and of those each reason rules out. Other "
                        "tenants' ids and names are not shown; a super-admin also gets every "
                        "screen by id with exact reasons.")
def campaign_eligibility(campaign_id: Id, session: DbSession,
                         principal: CurrentPrincipal) -> CampaignEligibility:
    row = campaigns_service.get(session=session, campaign_id=campaign_id)
    authorize(principal, Resource.campaign, Action.read, owner_org_id=row.org_id)
    return scheduling_preview.campaign_eligibility(session=session, campaign=row,
                                                   exact=principal.is_superadmin)


@router.post("/campaigns/forecast", response_model=Forecast,
             summary="Available impressions and expected spend for a draft, over the horizon")
def forecast(body: CampaignCreate, session: DbSession, principal: CurrentPrincipal) -> Forecast:
    authorize(principal, Resource.campaign, Action.create)
    return scheduling_preview.forecast(session=session, org_id=principal.org_id or "",
                                       campaign_in=body)
