"""Clerk's webhooks: Svix-signed user, organization and membership events, applied idempotently."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.exc import IntegrityError
from svix.webhooks import Webhook, WebhookVerificationError

from control_plane.auth.exceptions import WebhooksNotConfigured
from control_plane.auth.models import WebhookDelivery
from control_plane.auth.schemas import WebhookAck
from control_plane.db import DbSession
from control_plane.dependencies import SettingsDep, raw_body
from control_plane.errors import BadRequest, Invalid
from control_plane.orgs import sync as orgs_sync

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("/clerk", response_model=WebhookAck,
             summary="Clerk user/organization/membership sync (Svix-signed)")
def clerk_webhook(request: Request, session: DbSession, settings: SettingsDep,
                  payload: bytes = Depends(raw_body)) -> WebhookAck:
    secret = settings.clerk_webhook_secret
    if secret is None:
        raise WebhooksNotConfigured("Clerk webhooks are not configured here "
                                    "(set ADSBIN_CLERK_WEBHOOK_SECRET)")
    try:
        # Svix checks the HMAC over "id.timestamp.body" and refuses timestamps >5 min off.
        Webhook(secret.get_secret_value()).verify(payload, dict(request.headers))
    except WebhookVerificationError as exc:
        raise BadRequest(f"the webhook signature does not verify: {exc}",
                         code="invalid_signature") from exc
    try:
        event: Any = json.loads(payload)
        event_type, data = str(event["type"]), event["data"]
        if not isinstance(data, dict):
            raise TypeError("data is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise Invalid("the webhook body is not a Clerk event", code="malformed_event") from exc

    delivery_id = f"clerk:{request.headers.get('svix-id', '')}"
    if session.get(WebhookDelivery, delivery_id) is not None:
        return WebhookAck(duplicate=True)
    try:
        handled = orgs_sync.apply_clerk_event(session=session, event_type=event_type, data=data)
    except (KeyError, TypeError, ValueError) as exc:
        session.rollback()
        raise Invalid(f"the {event_type} event lacks what it needs: {exc}",
                      code="malformed_event") from exc
    session.add(WebhookDelivery(id=delivery_id, source="clerk", event_type=event_type))
    try:
        session.commit()
    except IntegrityError:  # the same delivery raced in on another worker; it is applied
        session.rollback()
        return WebhookAck(duplicate=True)
    return WebhookAck(handled=handled)
