"""HTTP routes of campaigns: advertisers draft and run them, super-admins review them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, status

from control_plane.auth.dependencies import (
    CurrentPrincipal,
    SuperAdmin,
    require_org_context,
    require_verified_email,
)
from control_plane.auth.policy import Action, Principal, Resource, authorize
from control_plane.campaigns import service as campaigns_service
from control_plane.campaigns.models import Campaign, CampaignStatus
from control_plane.campaigns.schemas import (
    CampaignCreate,
    CampaignPage,
    CampaignRead,
    CampaignUpdate,
    CreativeCreate,
    CreativeRead,
    ReviewNote,
)
from control_plane.db import DbSession, utcnow
from control_plane.reporting import service as reporting_service

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
Id = Annotated[str, Path(max_length=40)]


def campaign_read(campaign: Campaign,
                  delivered: reporting_service.Delivery | None = None) -> CampaignRead:
    """The API shape of a campaign, with what it delivered so far."""
    delivered = delivered or reporting_service.Delivery()
    return CampaignRead(
        id=campaign.id, org_id=campaign.org_id, name=campaign.name, category=campaign.category,
        start_at=campaign.start_at, end_at=campaign.end_at,
        dayparts=campaign.dayparts,
        targeting=campaign.targeting,
        budget_cents=campaign.budget_cents, cpm_cents=campaign.cpm_cents,
        currency=campaign.currency, pacing=campaign.pacing,
        max_plays_per_hour=campaign.max_plays_per_hour, share_of_voice=campaign.share_of_voice,
        state=campaigns_service.state(campaign), review_note=campaign.review_note,
        creatives=[CreativeRead.model_validate(c) for c in campaign.creatives],
        submitted_at=campaign.submitted_at, reviewed_at=campaign.reviewed_at,
        created_at=campaign.created_at, plays=delivered.plays,
        billable_plays=delivered.billable_plays, impressions=delivered.impressions,
        target_impressions=delivered.target_impressions
        if (campaign.targeting or {}).get("audience") else None,
        spend_cents=delivered.spend_cents)


def _read(session: DbSession, campaign: Campaign) -> CampaignRead:
    delivered = reporting_service.delivery(session=session, campaign_ids=[campaign.id])
    return campaign_read(campaign, delivered.get(campaign.id))


def _campaign(campaign_id: str, session: DbSession, principal: Principal,
              action: Action) -> Campaign:
    campaign = campaigns_service.get(session=session, campaign_id=campaign_id)
    authorize(principal, Resource.campaign, action, owner_org_id=campaign.org_id)
    return campaign


@router.post("", response_model=CampaignRead, status_code=status.HTTP_201_CREATED,
             summary="Draft a campaign")
def create(body: CampaignCreate, session: DbSession,
           principal: Principal = Depends(require_org_context)) -> CampaignRead:
    authorize(principal, Resource.campaign, Action.create)
    assert principal.org_id is not None
    return _read(session, campaigns_service.create(session=session, org_id=principal.org_id,
                                                   user_id=principal.user_id, campaign_in=body))


# The states people see (`CampaignRead.state`): the stored ones, and `approved` read through its
# flight as `approved` (not started), `active` or `completed`.
VisibleState = Literal["draft", "pending_review", "approved", "active", "completed", "rejected",
                       "paused"]
_READ_FROM_FLIGHT = ("approved", "active", "completed")


@router.get("", response_model=CampaignPage, summary="The org's campaigns (super-admins: all)",
            description="Newest first. `?state=` keeps the campaigns in that state as `state` "
                        "reads on each of them: draft, pending_review, approved (approved, "
                        "flight not started), active, completed (flight over), rejected, paused. "
                        "Super-admins review with `?state=pending_review`. Any other query "
                        "parameter answers 422 `unknown_parameter`.")
def list_campaigns(session: DbSession, principal: CurrentPrincipal,
                   state: Annotated[VisibleState | None, Query(
                       description="Only campaigns in this state")] = None,
                   ) -> CampaignPage:
    authorize(principal, Resource.campaign, Action.read)
    org_id = None if principal.is_superadmin else principal.org_id
    stored = CampaignStatus.approved if state in _READ_FROM_FLIGHT else state
    campaigns = campaigns_service.list_for(session=session, org_id=org_id, status=stored,
                                           with_creatives=True)
    if state in _READ_FROM_FLIGHT:
        now = utcnow()
        campaigns = [c for c in campaigns if campaigns_service.state(c, now) == state]
    delivered = reporting_service.delivery(session=session, campaign_ids=[c.id for c in campaigns])
    return CampaignPage(items=[campaign_read(c, delivered.get(c.id)) for c in campaigns])


@router.get("/{campaign_id}", response_model=CampaignRead, summary="One campaign")
def get_campaign(campaign_id: Id, session: DbSession,
                 principal: CurrentPrincipal) -> CampaignRead:
    return _read(session, _campaign(campaign_id, session, principal, Action.read))


@router.patch("/{campaign_id}", response_model=CampaignRead,
              summary="Change a campaign (a submitted one goes back to review)")
def update(campaign_id: Id, body: CampaignUpdate, session: DbSession,
           principal: CurrentPrincipal) -> CampaignRead:
    campaign = _campaign(campaign_id, session, principal, Action.update)
    return _read(session, campaigns_service.update(
        session=session, campaign=campaign, campaign_in=body))


@router.post("/{campaign_id}/creatives", response_model=CreativeRead,
             status_code=status.HTTP_201_CREATED, summary="Add ready media as a creative")
def add_creative(campaign_id: Id, body: CreativeCreate, session: DbSession,
                 principal: CurrentPrincipal) -> CreativeRead:
    campaign = _campaign(campaign_id, session, principal, Action.update)
    creative = campaigns_service.add_creative(session=session, campaign=campaign,
                                              creative_in=body)
    return CreativeRead.model_validate(creative)


@router.post("/{campaign_id}/submit", response_model=CampaignRead, summary="Send for review",
             description="Buying needs a confirmed address: 403 `email_not_verified` until "
                         "the link mailed at signup was followed.",
             responses={403: {"description": "email_not_verified"}})
def submit(campaign_id: Id, session: DbSession, principal: CurrentPrincipal) -> CampaignRead:
    campaign = _campaign(campaign_id, session, principal, Action.update)
    require_verified_email(principal)
    return _read(session, campaigns_service.submit(session=session, campaign=campaign))


@router.post("/{campaign_id}/approve", response_model=CampaignRead,
             summary="Approve (super-admin): it becomes schedulable")
def approve(campaign_id: Id, session: DbSession,
            principal: SuperAdmin) -> CampaignRead:
    campaign = campaigns_service.get(session=session, campaign_id=campaign_id)
    return _read(session, campaigns_service.approve(
        session=session, campaign=campaign, reviewer_id=principal.user_id))


@router.post("/{campaign_id}/reject", response_model=CampaignRead,
             summary="Reject (super-admin), saying why")
def reject(campaign_id: Id, body: ReviewNote, session: DbSession,
           principal: SuperAdmin) -> CampaignRead:
    campaign = campaigns_service.get(session=session, campaign_id=campaign_id)
    return _read(session, campaigns_service.reject(session=session, campaign=campaign,
                                                   reviewer_id=principal.user_id,
                                                   reason=body.reason))


@router.post("/{campaign_id}/pause", response_model=CampaignRead, summary="Pause")
def pause(campaign_id: Id, session: DbSession,
          principal: CurrentPrincipal) -> CampaignRead:
    campaign = _campaign(campaign_id, session, principal, Action.update)
    return _read(session, campaigns_service.pause(session=session, campaign=campaign))


@router.post("/{campaign_id}/resume", response_model=CampaignRead, summary="Resume")
def resume(campaign_id: Id, session: DbSession,
           principal: CurrentPrincipal) -> CampaignRead:
    campaign = _campaign(campaign_id, session, principal, Action.update)
    return _read(session, campaigns_service.resume(session=session, campaign=campaign))
