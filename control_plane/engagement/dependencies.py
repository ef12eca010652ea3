"""Load-or-404 of a campaign's tracked link for the caller (the campaign's advertiser org,
or a super-admin); another org's campaign answers 404, as if it did not exist."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from control_plane.auth.dependencies import CurrentPrincipal
from control_plane.auth.policy import Action, Resource, authorize
from control_plane.campaigns import service as campaigns_service
from control_plane.db import DbSession
from control_plane.engagement import service as engagement_service

CampaignId = Annotated[str, Path(max_length=40)]


def _campaign(campaign_id: CampaignId, session: DbSession, principal: CurrentPrincipal,
              action: Action) -> campaigns_service.Campaign:
    campaign = campaigns_service.get(session=session, campaign_id=campaign_id)
    authorize(principal, Resource.campaign, action, owner_org_id=campaign.org_id)
    return campaign


def readable_campaign(campaign_id: CampaignId, session: DbSession,
                      principal: CurrentPrincipal) -> campaigns_service.Campaign:
    """The campaign, if the caller may read it."""
    return _campaign(campaign_id, session, principal, Action.read)


def editable_campaign(campaign_id: CampaignId, session: DbSession,
                      principal: CurrentPrincipal) -> campaigns_service.Campaign:
    """The campaign, if the caller may change it (its org's admins and members)."""
    return _campaign(campaign_id, session, principal, Action.update)


def readable_link(session: DbSession,
                  campaign: Annotated[campaigns_service.Campaign, Depends(readable_campaign)]
                  ) -> engagement_service.TrackedLink:
    """The tracked link of a campaign the caller may read."""
    return engagement_service.get_link(session=session, campaign_id=campaign.id)


ReadableCampaign = Annotated[campaigns_service.Campaign, Depends(readable_campaign)]
EditableCampaign = Annotated[campaigns_service.Campaign, Depends(editable_campaign)]
ReadableLink = Annotated[engagement_service.TrackedLink, Depends(readable_link)]
