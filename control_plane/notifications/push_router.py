"""HTTP routes of Web Push: the key browsers subscribe with, and my browsers' subscriptions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from control_plane.auth.dependencies import CurrentUser
from control_plane.db import DbSession
from control_plane.dependencies import SettingsDep
from control_plane.notifications import push_service, vapid
from control_plane.notifications.schemas import (
    PushSubscriptionIn,
    PushSubscriptionRead,
    VapidPublicKey,
)

router = APIRouter(prefix="/v1", tags=["notifications"])


def _user_id(principal: CurrentUser) -> str:
    assert principal.user_id is not None
    return principal.user_id


@router.get("/push/vapid-public-key", response_model=VapidPublicKey,
            summary="The applicationServerKey to subscribe a browser with")
def vapid_public_key(principal: CurrentUser, settings: SettingsDep) -> VapidPublicKey:
    return VapidPublicKey(public_key=vapid.public_key(settings))


@router.post("/me/push-subscriptions", status_code=201, response_model=PushSubscriptionRead,
             summary="Receive my notifications in this browser (its PushSubscription.toJSON())")
def subscribe(body: PushSubscriptionIn, session: DbSession, principal: CurrentUser,
              settings: SettingsDep) -> PushSubscriptionRead:
    found = push_service.subscribe(session=session, user_id=_user_id(principal),
                                   subscription_in=body,
                                   allow_insecure=settings.push_allow_insecure_endpoints,
                                   allow_private=settings.push_allow_private_endpoints)
    return PushSubscriptionRead(id=found.id, endpoint=found.endpoint,
                                created_at=found.created_at)


@router.get("/me/push-subscriptions", response_model=list[PushSubscriptionRead],
            summary="The browsers I receive notifications in")
def list_subscriptions(session: DbSession, principal: CurrentUser) -> list[PushSubscriptionRead]:
    return [PushSubscriptionRead(id=s.id, endpoint=s.endpoint, created_at=s.created_at)
            for s in push_service.subscriptions_of(session=session,
                                                   user_id=_user_id(principal))]


@router.delete("/me/push-subscriptions", status_code=204,
               summary="Stop pushing to a browser (by its endpoint or the subscription's id)")
def unsubscribe(session: DbSession, principal: CurrentUser,
                endpoint: Annotated[str | None, Query(max_length=600)] = None,
                subscription_id: Annotated[str | None, Query(alias="id", max_length=40)] = None,
                ) -> None:
    # 204 whether or not it was there: a browser that unsubscribed after its push service
    # dropped the subscription (and we with it) has nothing to fix
    push_service.unsubscribe(session=session, user_id=_user_id(principal), endpoint=endpoint,
                             subscription_id=subscription_id)
