"""Coconut's job notifications: verified against the media's token and Coconut's own API."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from control_plane.db import DbSession
from control_plane.dependencies import JobQueueDep, ObjectStoreDep, SettingsDep, raw_body
from control_plane.errors import Invalid
from control_plane.media import hosted
from control_plane.media import service as media_service
from control_plane.media.exceptions import TranscodeFailed
from control_plane.media.models import MediaStatus
from control_plane.media.processing import mark_failed

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("/coconut", summary="Coconut job notifications (token-checked, state confirmed "
                                 "with Coconut's API)")
def coconut_webhook(session: DbSession, settings: SettingsDep, store: ObjectStoreDep,
                    queue: JobQueueDep, media_id: Annotated[str, Query(max_length=40)],
                    token: Annotated[str, Query(max_length=128)],
                    payload: bytes = Depends(raw_body)) -> dict[str, Any]:
    coconut = hosted.coconut_for(settings, store)
    if coconut is None:
        raise TranscodeFailed("Coconut is not configured here", code="webhook_not_configured")
    try:
        body = json.loads(payload)
        if not isinstance(body, dict):
            raise TypeError("not an object")
    except (ValueError, TypeError) as exc:
        raise Invalid("the notification is not a JSON object", code="malformed_event") from exc
    media = media_service.get_media(session=session, media_id=media_id)
    event = coconut.verify_notification(media_id=media.id, token=token, body=body,
                                        job_id=hosted.coconut_job_id(media))
    if media.status != MediaStatus.processing:
        return {"received": True, "status": event.status, "duplicate": True}
    if event.status == "completed":
        queue.enqueue("media.coconut_finish", subject=f"media:{media.id}",
                      media_id=media.id, outputs=event.outputs)
    elif event.status == "failed":
        mark_failed(queue.context, media.id,
                    f"Coconut could not convert this video: {event.error}")
    return {"received": True, "status": event.status, "duplicate": False}
