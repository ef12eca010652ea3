"""Stripe's webhook: signature-verified, each event id handled once.

The body is verified against `ADSBIN_STRIPE_WEBHOOK_SECRET` exactly as sent (400 when the
signature is bad, missing or older than the tolerance), its event id stored once (a replayed
delivery answers 200 and changes nothing), and the event applied in the same transaction as
the id, so a delivery that fails midway is applied whole by Stripe's retry. Types we do not
handle answer 200 and are recorded as ignored. A `charge.refunded` whose charge was not learned
when its invoice was paid learns it then; when Stripe cannot be asked, the delivery answers 503
and nothing is stored, so Stripe's retry applies it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from sqlalchemy.exc import IntegrityError

from control_plane.billing import service as billing_service
from control_plane.billing.dependencies import PaymentProviderDep
from control_plane.billing.models import WebhookEvent
from control_plane.db import DbSession
from control_plane.dependencies import SettingsDep, raw_body
from control_plane.payments.registry import verify_webhook
from control_plane.revenue import service as revenue_service

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("/stripe", summary="Stripe events (signature-verified, idempotent)",
             responses={400: {"description": "bad_signature"}})
def stripe_webhook(session: DbSession, settings: SettingsDep, provider: PaymentProviderDep,
                   body: Annotated[bytes, Depends(raw_body)],
                   stripe_signature: Annotated[str | None, Header(max_length=2000)] = None
                   ) -> dict[str, Any]:
    event = verify_webhook(settings, body, stripe_signature)
    event_id, type_ = str(event["id"]), str(event["type"])
    if session.get(WebhookEvent, event_id) is not None:
        return {"received": True, "replayed": True}
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    outcome = "ignored: no object"
    if isinstance(obj, dict):
        if type_.startswith(("invoice.", "charge.")):
            outcome = billing_service.apply_invoice_event(session=session, provider=provider,
                                                          type_=type_, obj=obj)
        elif type_.startswith(("account.", "transfer.")):
            outcome = revenue_service.apply_connect_event(session=session, type_=type_,
                                                          obj=obj)
        else:
            outcome = "ignored"
    session.add(WebhookEvent(id=event_id, type=type_[:100], outcome=outcome[:200]))
    try:
        session.commit()
    except IntegrityError:  # the same event delivered twice at once: the other one applied it
        session.rollback()
        return {"received": True, "replayed": True}
    return {"received": True, "outcome": outcome}
