"""Twilio's status callbacks: whether an SMS we sent arrived.

Twilio posts a form (`MessageSid`, `MessageStatus`, `ErrorCode`, ...) signed in
`X-Twilio-Signature` with our auth token over the URL it called and the form; the URL is
checked as our public address names it (`settings.public_url`), since behind a proxy the
request's own URL is not what Twilio signed. A bad or missing signature is refused (403) and
changes nothing. `delivered` makes the delivery `delivered`; `failed` or `undelivered` makes it
`failed` with Twilio's error code; the other statuses (queued, sending, sent) say nothing we
do not know. A callback for a message we did not send as a delivery (a confirmation code, or a
report racing ahead of the commit of the SID) is acknowledged and ignored: Twilio does not
retry status callbacks that were answered.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Header, Request
from sqlalchemy import update
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from control_plane.db import DbSession, utcnow
from control_plane.dependencies import SettingsDep, raw_body
from control_plane.errors import Forbidden
from control_plane.notifications.catalog import Channel
from control_plane.notifications.channels.sms import STATUS_PATH, TwilioChannel
from control_plane.notifications.models import Delivery, DeliveryStatus

router = APIRouter(tags=["webhooks"])

_FAILED = {"failed", "undelivered"}


@router.post(STATUS_PATH, summary="Twilio's SMS status callbacks (signature-verified)",
             responses={403: {"description": "bad_signature"}})
def twilio_status(request: Request, session: DbSession, settings: SettingsDep,
                  body: Annotated[bytes, Depends(raw_body)],
                  x_twilio_signature: Annotated[str | None, Header(max_length=200)] = None
                  ) -> dict[str, Any]:
    params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    url = f"{settings.public_url}{STATUS_PATH}"
    if request.url.query:
        url = f"{url}?{request.url.query}"
    token = settings.twilio_auth_token
    if token is None or not x_twilio_signature or not RequestValidator(
            token.get_secret_value()).validate(url, params, x_twilio_signature):
        raise Forbidden("the Twilio signature does not verify", code="bad_signature")
    outcome = record_status(session=session, message_sid=params.get("MessageSid", ""),
                            status=params.get("MessageStatus", ""),
                            error_code=params.get("ErrorCode") or None)
    return {"received": True, "outcome": outcome}


def record_status(*, session: Session, message_sid: str, status: str,
                  error_code: str | None) -> str:
    """Apply what Twilio reports of a message to its delivery (committed); what changed."""
    if not message_sid or (status != "delivered" and status not in _FAILED):
        return "ignored"
    found = update(Delivery).where(Delivery.provider_message_id == message_sid[:200],
                                   Delivery.provider == TwilioChannel.name,
                                   Delivery.channel == Channel.sms.value)
    if status == "delivered":
        changed = session.execute(found.where(Delivery.status == DeliveryStatus.sent).values(
            status=DeliveryStatus.delivered, updated_at=utcnow()))
    else:
        reason = f"twilio: {status}" + (f" (error {error_code[:20]})" if error_code else "")
        changed = session.execute(found.where(
            Delivery.status.in_([DeliveryStatus.sent, DeliveryStatus.delivered])).values(
            status=DeliveryStatus.failed, last_error=reason, updated_at=utcnow()))
    session.commit()
    return status if changed.rowcount else "ignored: no delivery waits for it"  # type: ignore[attr-defined]
