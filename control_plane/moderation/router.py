"""HTTP routes of venue moderation: the queue, and approving or rejecting from it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from control_plane.auth.dependencies import require_org_context
from control_plane.auth.policy import Action, Principal, Resource, authorize
from control_plane.campaigns import service as campaigns_service
from control_plane.db import DbSession
from control_plane.dependencies import ObjectStoreDep
from control_plane.errors import Invalid, NotFound
from control_plane.moderation import service as moderation_service
from control_plane.moderation.schemas import DecisionBody, DecisionRead, ModerationQueue
from control_plane.venues import service as venues_service

router = APIRouter(prefix="/v1/moderation", tags=["moderation"])


def _principal(principal: Principal = Depends(require_org_context)) -> Principal:
    return principal


@router.get("/queue", response_model=ModerationQueue,
            summary="Ads waiting for your manual venues' approval, with what to judge them by",
            description="Each item carries the ad itself (a thumbnail and every rendition, as "
                        "signed URLs valid until `urls_expire_at`), its length, the advertiser's "
                        "name and the campaign's category.")
def moderation_queue(session: DbSession, store: ObjectStoreDep,
                     principal: Annotated[Principal, Depends(_principal)]) -> ModerationQueue:
    authorize(principal, Resource.moderation, Action.read)
    assert principal.org_id is not None
    return ModerationQueue(items=moderation_service.queue(
        session=session, org_id=principal.org_id, store=store))


def _decide(item_id: str, body: DecisionBody, decision: str, request: Request,
            session: DbSession, principal: Principal) -> DecisionRead:
    venue_id, _, creative_id = item_id.partition("~")
    venue = venues_service.get_venue(session=session, venue_id=venue_id)
    # another org's venue answers as a venue that does not exist (venue_not_found), not with
    # a code of its own that would tell a real id from a made-up one
    authorize(principal, Resource.venue, Action.read, owner_org_id=venue.org_id)
    authorize(principal, Resource.moderation, Action.manage, owner_org_id=venue.org_id)
    creative = campaigns_service.get_creative(session=session, creative_id=creative_id)
    if creative is None:
        raise NotFound("no such item", code="moderation_item_not_found")
    if decision == "rejected" and not body.reason:
        raise Invalid("say why you reject it: the advertiser sees the reason",
                      code="reason_required")
    campaign = campaigns_service.get(session=session, campaign_id=creative.campaign_id)
    subject = creative.id if body.scope == "creative" else campaign.org_id
    row = moderation_service.decide(session=session, venue_id=venue.id, scope=body.scope,
                                    subject_id=subject, decision=decision, reason=body.reason,
                                    user_id=principal.user_id)
    return DecisionRead(venue_id=row.venue_id, scope=row.scope, subject_id=row.subject_id,
                        decision=row.decision, reason=row.reason)


ItemId = Annotated[str, Path(max_length=90, pattern=r"^[\w-]+~[\w-]+$")]


@router.post("/{item_id}/approve", response_model=DecisionRead,
             summary="Let this ad (or every ad of its advertiser) play at the venue")
def approve(item_id: ItemId, request: Request, session: DbSession,
            principal: Annotated[Principal, Depends(_principal)],
            body: DecisionBody | None = None) -> DecisionRead:
    return _decide(item_id, body or DecisionBody(), "approved", request, session, principal)


@router.post("/{item_id}/reject", response_model=DecisionRead,
             summary="Keep this ad (or every ad of its advertiser) off the venue")
def reject(item_id: ItemId, body: DecisionBody, request: Request, session: DbSession,
           principal: Annotated[Principal, Depends(_principal)]) -> DecisionRead:
    return _decide(item_id, body, "rejected", request, session, principal)
