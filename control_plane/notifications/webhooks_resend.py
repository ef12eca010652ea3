"""Resend's status webhook: Svix-signed events about the emails we sent.

The body is verified exactly as sent with the SDK's `resend.Webhooks.verify` (Svix's scheme:
HMAC-SHA256 of `{svix-id}.{svix-timestamp}.{body}` with the secret after `whsec_`, timestamps
within 5 minutes) against `ADSBIN_RESEND_WEBHOOK_SECRET`; anything else is 400. Events are
matched to deliveries by Resend's email id (`channels/email.py`, `apply_status_event`); a
replay applies the same status again, which changes nothing, so no event ids are kept. Events
about emails we do not know (another installation on the same Resend account, or one whose
send is not yet recorded) answer 200, so Svix does not retry them.
"""

from __future__ import annotations

from typing import Annotated, Any

import resend
from fastapi import APIRouter, Depends, Request

from control_plane.db import DbSession
from control_plane.dependencies import SettingsDep, raw_body
from control_plane.errors import BadRequest
from control_plane.notifications.channels.email import apply_status_event

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class BadResendSignature(BadRequest):
    code = "bad_signature"


@router.post("/resend", summary="Resend email status events (Svix-signed)",
             responses={400: {"description": "bad_signature"}})
def resend_webhook(request: Request, session: DbSession, settings: SettingsDep,
                   body: Annotated[bytes, Depends(raw_body)]) -> dict[str, Any]:
    secret = settings.resend_webhook_secret
    if secret is None:
        raise BadResendSignature("Resend webhooks are not accepted: set "
                                 "ADSBIN_RESEND_WEBHOOK_SECRET")
    headers = request.headers
    try:
        event = resend.Webhooks.verify({
            "payload": body.decode("utf-8"),
            "headers": {"id": headers.get("svix-id", ""),
                        "timestamp": headers.get("svix-timestamp", ""),
                        "signature": headers.get("svix-signature", "")},
            "webhook_secret": secret.get_secret_value()})
    except (ValueError, UnicodeDecodeError) as exc:  # also: a verified body that is not JSON
        raise BadResendSignature(f"the Resend signature does not verify: {exc}") from exc
    if not isinstance(event, dict):
        raise BadResendSignature("the webhook body is not a Resend event")
    return {"received": True, "outcome": apply_status_event(session=session, event=event)}
