"""HTTP routes of notifications: what was sent to me, my preferences, and (super-admins) what
the offline channels would have sent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from control_plane.auth.dependencies import CurrentUser, SuperAdmin
from control_plane.db import DbSession
from control_plane.notifications import service as notifications_service
from control_plane.notifications.models import OfflineMessage
from control_plane.notifications.schemas import (
    DeliveryRead,
    NotificationPage,
    NotificationRead,
    OfflineMessageRead,
    PreferencesIn,
    PreferencesRead,
)

router = APIRouter(prefix="/v1", tags=["notifications"])


def _user_id(principal: CurrentUser) -> str:
    assert principal.user_id is not None
    return principal.user_id


@router.get("/me/notification-preferences", response_model=PreferencesRead,
            summary="My channels per kind of notification")
def get_preferences(session: DbSession, principal: CurrentUser) -> PreferencesRead:
    return PreferencesRead(preferences=notifications_service.preferences(
        session=session, user_id=_user_id(principal)))


@router.put("/me/notification-preferences", response_model=PreferencesRead,
            summary="Switch channels on or off per kind of notification")
def put_preferences(body: PreferencesIn, session: DbSession,
                    principal: CurrentUser) -> PreferencesRead:
    return PreferencesRead(preferences=notifications_service.set_preferences(
        session=session, user_id=_user_id(principal), preferences_in=body))


@router.get("/notifications", response_model=NotificationPage,
            summary="What was sent to me, per channel, with its delivery status")
def list_notifications(session: DbSession, principal: CurrentUser,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> NotificationPage:
    found, unread = notifications_service.notifications_of(
        session=session, user_id=_user_id(principal), limit=limit)
    return NotificationPage(unread=unread, notifications=[NotificationRead(
        id=n.id, kind=n.kind, title=n.title, body=n.body, link=n.link, org_id=n.org_id,
        created_at=n.created_at, read_at=n.read_at,
        deliveries=[DeliveryRead(channel=d.channel, status=d.status, attempts=d.attempts,
                                 last_error=d.last_error, sent_at=d.sent_at)
                    for d in deliveries]) for n, deliveries in found])


@router.post("/notifications/{notification_id}/read", status_code=204,
             summary="Mark a notification read")
def read_notification(notification_id: Annotated[str, Path(max_length=40)],
                      session: DbSession, principal: CurrentUser) -> None:
    notifications_service.mark_read(session=session, user_id=_user_id(principal),
                                    notification_id=notification_id)


@router.get("/notifications/offline-messages", response_model=list[OfflineMessageRead],
            summary="What the channels without a provider key would have sent")
def offline_messages(session: DbSession, principal: SuperAdmin,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100
                     ) -> list[OfflineMessageRead]:
    rows = session.scalars(select(OfflineMessage).order_by(OfflineMessage.created_at.desc())
                           .limit(limit))
    return [OfflineMessageRead(id=r.id, channel=r.channel, to=r.to, subject=r.subject,
                               body=r.body, created_at=r.created_at) for r in rows]
