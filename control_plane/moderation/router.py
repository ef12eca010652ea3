"""HTTP routes of venue moderation: the queue, and approving or rejecting from it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from control_plane.auth.dependencies import require_org_context
from control_plane.auth.policy import Action, Principal, Resource, authorize
from control_plane.db import DbSession
from control_plane.dependencies import ObjectStoreDep
from control_plane.moderation import service as moderation_service
from control_plane.moderation.schemas import DecisionBody, DecisionRead, ModerationQueue

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
    row = moderation_service.decide_item(session=session, principal=principal, item_id=item_id,
                                         decision=decision, scope=body.scope,
                                         reason=body.reason)
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
