"""Email through Resend's official SDK, and what Resend tells us afterwards.

`ADSBIN_RESEND_API_KEY` turns it on (`registry.py`); `ADSBIN_RESEND_API_URL` points it elsewhere
(the tests' local server that speaks Resend's wire format). Each email is rendered from the
Jinja2 templates beside this package (HTML and plain text, autoescaped HTML) with a one-click
unsubscribe link (RFC 8058 headers, `unsubscribe.py`), and sent with the delivery id as
Resend's `Idempotency-Key`: Resend answers a repeat of the same key with the first email's id
and sends nothing more, which is what makes this channel `idempotent` (a send cut short by a
dead worker may be tried again). The rendering is the same for the same delivery, so a retry is
the same request, as Resend wants for the same key.

    resend.exceptions.ResendError (code)
    ├── 5xx, 429, no answer or a timeout (the SDK says 500 "HttpClientError")   -> Transient
    ├── 409 concurrent_idempotent_requests (the same key still in flight)          -> Transient
    └── any other 4xx (validation, a bad key, a domain not verified)                -> Refused

Resend's status webhook (`webhooks_resend.py`) reports what became of an email afterwards;
`apply_status_event` turns its events into the delivery's status.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import resend
from jinja2 import Environment, FileSystemLoader, select_autoescape
from resend.exceptions import NoContentError, ResendError
from resend.http_client_requests import RequestsClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.db import utcnow
from control_plane.notifications.channels.base import Message, Refused, Transient
from control_plane.notifications.models import Delivery, DeliveryStatus
from control_plane.notifications.unsubscribe import UnsubscribeTokens

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)

# The SDK keeps its key, address and HTTP client in module globals: each send sets them and
# calls under this lock, so that two apps in one process (tests) or a key changed by settings
# never mix. It serializes this process's emails; Resend's own rate limit (a few a second) is
# lower than what one connection does anyway.
_SDK_LOCK = threading.Lock()
_TAG = re.compile(r"[^A-Za-z0-9_-]")


def _status(code: str | int | None) -> int:
    try:
        return int(code or 0)
    except (TypeError, ValueError):
        return 0


class ResendChannel:
    """Sends email through Resend."""

    name = "resend"
    idempotent = True  # Resend dedupes on the Idempotency-Key, which is the delivery id

    def __init__(self, *, api_key: str, api_url: str, sender: str, timeout_s: float,
                 unsubscribe: UnsubscribeTokens) -> None:
        self.api_key = api_key
        self.api_url = api_url.rstrip("/")
        self.sender = sender
        self.unsubscribe = unsubscribe
        # the SDK's client takes its timeout as an int, but hands it to requests as it is
        self.http = RequestsClient(timeout=timeout_s)  # type: ignore[arg-type]

    def render(self, message: Message) -> dict[str, Any]:
        """The parameters of Resend's send-email call for this message."""
        body = message.text
        if message.link and body.endswith(f"\n\n{message.link}"):
            body = body[:-len(message.link) - 2]  # the service appends the link; we show it
        unsubscribe_url = self.unsubscribe.url(user_id=message.user_id, kind=message.kind) \
            if message.user_id and message.kind else None
        values = {"title": message.subject, "body": body, "link": message.link,
                  "paragraphs": [p for p in body.split("\n\n") if p.strip()],
                  "unsubscribe_url": unsubscribe_url, "action": message.action}
        headers = dict(message.headers)
        if unsubscribe_url:
            headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        params: dict[str, Any] = {
            "from": self.sender, "to": [message.to], "subject": message.subject,
            "html": TEMPLATES.get_template("notification.html").render(values),
            "text": TEMPLATES.get_template("notification.txt").render(values),
            "headers": headers}
        if message.kind:
            params["tags"] = [{"name": "kind", "value": _TAG.sub("_", message.kind)}]
        return params

    def send(self, message: Message) -> str:
        params = self.render(message)
        try:
            with _SDK_LOCK:
                resend.api_key, resend.api_url = self.api_key, self.api_url
                resend.default_http_client = self.http
                answer = resend.Emails.send(params,  # type: ignore[arg-type]
                                            {"idempotency_key": message.delivery_id})
        except ResendError as exc:
            status = _status(exc.code)
            reason = f"Resend answered {status or 'nothing'} ({exc.error_type}): {exc.message}"
            if status >= 500 or status in (0, 429) \
                    or exc.error_type == "concurrent_idempotent_requests":
                raise Transient(reason) from exc
            raise Refused(reason) from exc
        except NoContentError as exc:
            raise Transient("Resend answered without a body") from exc
        email_id = answer.get("id") if isinstance(answer, Mapping) else None
        if not email_id:
            raise Transient("Resend's answer named no email id")
        return str(email_id)


# --- what Resend tells us afterwards ------------------------------------------------------

FAILING_EVENTS = ("email.bounced", "email.complained")


def _reason(type_: str, data: Mapping[str, Any]) -> str:
    if type_ == "email.complained":
        return "the recipient marked the email as spam (Resend: email.complained)"
    bounce = data.get("bounce")
    if isinstance(bounce, Mapping):
        kind = " ".join(str(bounce.get(k)) for k in ("type", "subType") if bounce.get(k))
        return f"bounced ({kind or 'no type'}): {bounce.get('message') or 'no message'}"
    return "bounced (Resend: email.bounced)"


def apply_status_event(*, session: Session, event: Mapping[str, Any]) -> str:
    """Apply a Resend webhook event to the delivery of its email (committed); what it did.

    `email.delivered` marks a sent delivery `delivered`; a bounce or a complaint marks it
    `failed` with the reason, even after `delivered` (a complaint comes after delivery). The
    same event again changes nothing, and a delivery that failed is never made `delivered`."""
    type_ = str(event.get("type") or "")
    data = event.get("data")
    email_id = data.get("email_id") if isinstance(data, Mapping) else None
    if not isinstance(data, Mapping) or not isinstance(email_id, str) or not email_id:
        return "ignored: no email id"
    if type_ != "email.delivered" and type_ not in FAILING_EVENTS:
        return f"ignored: {type_[:60]}"
    deliveries = list(session.scalars(select(Delivery).where(
        Delivery.provider_message_id == email_id, Delivery.provider == ResendChannel.name)))
    if not deliveries:
        return "ignored: not an email of ours"
    outcome = "unchanged"
    for delivery in deliveries:
        if type_ == "email.delivered":
            if delivery.status == DeliveryStatus.sent:
                delivery.status, delivery.updated_at = DeliveryStatus.delivered, utcnow()
                outcome = "delivered"
        else:
            reason = _reason(type_, data)[:2000]
            if delivery.status != DeliveryStatus.failed or delivery.last_error != reason:
                delivery.status, delivery.last_error = DeliveryStatus.failed, reason
                delivery.updated_at = utcnow()
                outcome = "failed"
    session.commit()
    return outcome
