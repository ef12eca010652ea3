"""Email through Resend's official SDK, and what Resend tells us afterwards.

`ADSBIN_RESEND_API_KEY` turns it on (`registry.py`); `ADSBIN_RESEND_API_URL` points it elsewhere
(the tests' local server that speaks Resend's wire format). Each email is rendered from the
Jinja2 templates beside this package (HTML and plain text, autoescaped HTML) with a one-click
unsubscribe link (RFC 8058 headers, `unsubscribe.py`), and sent with the delivery id as
Resend's `Idempotency-Key`: Resend answers a repeat of the same key with the first email's id
and sends nothing more, which is what makes this channel `idempotent` (a send cut short by a
dead worker may be tried again). The rendering is the same for the same delivery, so a retry is
the same request, as Resend wants for the same key.

Many emails of one event go out together (`send_batch`): up to 100 per request to Resend's batch
endpoint (`POST /emails/batch`), under the batch's key (`service.deliver_batch` keeps the same
set of emails under the same key, whoever sends it again), validated permissively, so that one
email Resend cannot take (a malformed address) is refused alone and the others go. Resend's rate
limit counts requests (2 a second by default), so a fan-out to ten thousand people takes 100
requests rather than 10,000. The batch endpoint takes neither attachments nor `scheduled_at`;
our emails use neither (one that needed them would have to go alone, through `send`).

    resend.exceptions.ResendError (code, headers)
    ├── 5xx, 429, no answer or a timeout (the SDK says 500 "HttpClientError")   -> Transient
    │   (with the answer's Retry-After: the SDK keeps the response's headers on the error)
    ├── 409 concurrent_idempotent_requests (the same key still in flight)          -> Transient
    └── any other 4xx (validation, a bad key, a domain not verified)                -> Refused

Resend's status webhook (`webhooks_resend.py`) reports what became of an email afterwards;
`apply_status_event` turns its events into the delivery's status.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import resend
from jinja2 import Environment, FileSystemLoader, select_autoescape
from resend.exceptions import NoContentError, ResendError
from resend.http_client_requests import RequestsClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.db import utcnow
from control_plane.notifications.channels.base import (
    Message,
    Refused,
    Transient,
    retry_after_s,
)
from control_plane.notifications.models import Delivery, DeliveryStatus
from control_plane.notifications.unsubscribe import UnsubscribeTokens

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    auto_reload=False)  # they ship with the code: no stat of each file on every email

# The SDK keeps its key, address and HTTP client in module globals, read during each call: a
# send sets them and holds them while it calls (`_SdkGlobals`), so that two channels in one
# process (tests' apps) never mix. Sends of the same channel share them and run side by side.
class _SdkGlobals:
    """The SDK's globals, held by one channel at a time and by any number of its sends; another
    channel waits until they are done (and, once it waits, no more of theirs start)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._owner: ResendChannel | None = None
        self._sends = 0
        self._waiting = 0

    @contextmanager
    def held_by(self, channel: ResendChannel) -> Iterator[None]:
        with self._changed:
            if self._owner is not channel or self._waiting:
                self._waiting += 1
                try:
                    self._changed.wait_for(lambda: not self._sends)
                finally:
                    self._waiting -= 1
            if self._owner is not channel:
                resend.api_key, resend.api_url = channel.api_key, channel.api_url
                resend.default_http_client = channel.http
                self._owner = channel
            self._sends += 1
        try:
            yield
        finally:
            with self._changed:
                self._sends -= 1
                if not self._sends:
                    self._changed.notify_all()


_SDK = _SdkGlobals()


class _SessionClient(RequestsClient):
    """The SDK's requests client on a kept `requests.Session` per thread: connections (and
    their TLS) are reused from one email to the next rather than opened for each, and the
    proxies and CA bundle the environment names for Resend's address are read once rather
    than on every request (a third of a bare request's time)."""

    def __init__(self, api_url: str, timeout_s: float) -> None:
        # the SDK's client takes its timeout as an int, but hands it to requests as it is
        super().__init__(timeout=timeout_s)  # type: ignore[arg-type]
        self._local = threading.local()
        with requests.Session() as probe:
            found = probe.merge_environment_settings(api_url, {}, None, None, None)
        self._proxies, self._verify = found["proxies"], found["verify"]

    def request(self, method: str, url: str, headers: Mapping[str, str],
                json: dict[str, object] | list[object] | None = None,
                files: dict[str, Any] | None = None,
                data: dict[str, str] | None = None) -> tuple[bytes, int, Mapping[str, str]]:
        http: requests.Session | None = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
            http.trust_env = False  # read once above
            http.proxies, http.verify = dict(self._proxies), self._verify
        try:
            body: Any = json if data is None and files is None else None
            resp = http.request(method=method, url=url, headers=headers, files=files, json=body,
                                data=data, timeout=self._timeout)
        except requests.RequestException as exc:  # the SDK makes it a ResendError (500)
            raise RuntimeError(f"Request failed: {exc}") from exc
        return resp.content, resp.status_code, resp.headers


_TAG = re.compile(r"[^A-Za-z0-9_-]")
BATCH_MAX = 100  # Resend takes at most this many emails in one batch request


def _status(code: str | int | None) -> int:
    try:
        return int(code or 0)
    except (TypeError, ValueError):
        return 0


def _translated(exc: ResendError) -> Transient | Refused:
    """The SDK's error as ours (see the module's docstring)."""
    status = _status(exc.code)
    reason = f"Resend answered {status or 'nothing'} ({exc.error_type}): {exc.message}"
    if status >= 500 or status in (0, 429) \
            or exc.error_type == "concurrent_idempotent_requests":
        return Transient(reason, retry_after_s=retry_after_s(exc.headers))
    return Refused(reason)


def _batch_outcome(answer: Any, sent: int) -> list[str | Refused]:
    """Each email's id, or its refusal, from a permissive batch's answer: `errors` name the
    emails Resend could not create by their index in the request, and `data` holds the ids of
    the others, in the request's order."""
    data = answer.get("data") if isinstance(answer, Mapping) else None
    errors = answer.get("errors") if isinstance(answer, Mapping) else None
    refused: dict[int, Refused] = {}
    for error in errors or []:
        index = error.get("index") if isinstance(error, Mapping) else None
        if isinstance(index, int) and 0 <= index < sent:
            refused[index] = Refused(f"Resend refused this email of the batch: "
                                     f"{error.get('message') or 'no reason given'}")
    ids = [item.get("id") if isinstance(item, Mapping) else None for item in data or []]
    if len(ids) + len(refused) != sent or not all(ids):
        # Which id is whose cannot be known: asked again under the same key, Resend gives the
        # same answer, so this ends `dead` with the reason rather than guessing.
        raise Transient(f"Resend's answer to a batch of {sent} named {len(ids)} email ids "
                        f"and {len(refused)} errors")
    found = iter(ids)
    return [refused[i] if i in refused else str(next(found)) for i in range(sent)]


class ResendChannel:
    """Sends email through Resend."""

    name = "resend"
    idempotent = True  # Resend dedupes on the Idempotency-Key: the delivery id, or the batch's

    def __init__(self, *, api_key: str, api_url: str, sender: str, timeout_s: float,
                 unsubscribe: UnsubscribeTokens) -> None:
        self.api_key = api_key
        self.api_url = api_url.rstrip("/")
        self.sender = sender
        self.unsubscribe = unsubscribe
        self.http = _SessionClient(self.api_url, timeout_s)

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
            with _SDK.held_by(self):
                answer = resend.Emails.send(params,  # type: ignore[arg-type]
                                            {"idempotency_key": message.delivery_id})
        except ResendError as exc:
            raise _translated(exc) from exc
        except NoContentError as exc:
            raise Transient("Resend answered without a body") from exc
        email_id = answer.get("id") if isinstance(answer, Mapping) else None
        if not email_id:
            raise Transient("Resend's answer named no email id")
        return str(email_id)

    def send_batch(self, messages: Sequence[Message], *, key: str) -> list[str | Refused]:
        """Up to `BATCH_MAX` emails in one request to Resend's batch endpoint, validated
        permissively: an email Resend cannot take is refused alone, the others are sent."""
        if not 0 < len(messages) <= BATCH_MAX:
            raise ValueError(f"a batch holds 1 to {BATCH_MAX} emails, not {len(messages)}")
        params = [self.render(m) for m in messages]
        try:
            with _SDK.held_by(self):
                answer = resend.Batch.send(params,  # type: ignore[arg-type]
                                           {"idempotency_key": key,
                                            "batch_validation": "permissive"})
        except ResendError as exc:
            raise _translated(exc) from exc
        except NoContentError as exc:
            raise Transient("Resend answered without a body") from exc
        return _batch_outcome(answer, len(messages))


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
