"""Web Push through pywebpush: the payload encrypted for the browser (RFC 8291, aes128gcm) and
signed with our VAPID key (RFC 8292), POSTed to the subscription's push service.

The endpoint is the browser's to choose, so before each push its host is resolved and a push
to anything but a public address (private, loopback, link-local, reserved: a way into our own
network) is refused (`non_public_address`), as at subscription, since DNS may have changed
since; `ADSBIN_PUSH_ALLOW_PRIVATE_ENDPOINTS` allows them (a local push service in tests).

The push service's answer decides what follows: 404 or 410, the browser dropped the
subscription (`Gone`: it is forgotten); 429, 5xx, a timeout or no connection may pass
(`Transient`, not before its Retry-After if it gave one); any other refusal is for good
(`Refused`). A push service does not dedupe, so the channel is not idempotent: a send cut short
is not repeated.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from urllib.parse import urlsplit

import requests
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush

from control_plane.notifications.catalog import KINDS
from control_plane.notifications.channels.base import (
    Gone,
    Message,
    Refused,
    Transient,
    retry_after_s,
)
from control_plane.notifications.vapid import private_key
from control_plane.settings import Settings

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0  # per push; a push service that takes longer is tried again later
# Push services take 4096 bytes of encrypted record; the encryption adds 86 (RFC 8291 §4).
MAX_PAYLOAD_BYTES = 3800


def payload(message: Message) -> bytes:
    """What the service worker receives: `{title, body, link, kind}` as JSON, the body cut to
    fit a push."""
    body = message.text
    if message.link:  # the text ends with the link for email and SMS; push has its own field
        body = body.removesuffix(f"\n\n{message.link}")
    data = {"title": message.subject, "body": body, "link": message.link, "kind": message.kind}
    encoded = json.dumps(data, ensure_ascii=False).encode()
    while len(encoded) > MAX_PAYLOAD_BYTES and data["body"] not in ("", "…"):
        excess = len(encoded) - MAX_PAYLOAD_BYTES + len("…".encode())
        cut = str(data["body"]).encode()
        data["body"] = cut[:max(0, len(cut) - excess)].decode(errors="ignore") + "…"
        encoded = json.dumps(data, ensure_ascii=False).encode()
    return encoded


def non_public_address(endpoint: str) -> str | None:
    """Why the endpoint's host may not be pushed to (it does not resolve, or one of its
    addresses is not public), or None."""
    try:
        parts = urlsplit(endpoint)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "the endpoint is not a URL"
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        return f"the endpoint's host {host!r} does not resolve: {exc}"
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            return f"the endpoint's host {host!r} resolves to a non-public address ({ip})"
    return None


class WebPushChannel:
    """Sends notifications to browsers' push subscriptions."""

    name = "webpush"
    idempotent = False

    def __init__(self, settings: Settings) -> None:
        self._vapid = Vapid02(private_key(settings))
        self._subject = settings.vapid_subject
        self._ttl_s = settings.push_ttl_s
        self._allow_private = settings.push_allow_private_endpoints

    def send(self, message: Message) -> str:
        if not message.keys.get("p256dh") or not message.keys.get("auth"):
            raise Gone("the push subscription was removed before it could be sent")
        problem = None if self._allow_private else non_public_address(message.to)
        if problem is not None:
            raise Refused(f"not pushed: {problem}")
        kind = KINDS.get(message.kind)
        try:
            response = webpush(
                {"endpoint": message.to, "keys": dict(message.keys)},
                payload(message).decode(),
                vapid_private_key=self._vapid,
                vapid_claims={"sub": self._subject},  # a new dict: webpush adds aud and exp
                ttl=self._ttl_s, timeout=TIMEOUT_S,
                headers={"Urgency": "high" if kind is not None and kind.urgent else "normal"})
        except WebPushException as exc:
            raise _translated(exc) from exc
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise Transient(f"the push service did not answer: {exc}") from exc
        except (requests.RequestException, ValueError) as exc:
            raise Refused(f"the push could not be sent: {exc}") from exc
        location = getattr(response, "headers", {}).get("Location")
        return str(location or f"webpush-{message.delivery_id}")[:200]


def _translated(exc: WebPushException) -> Transient | Refused:
    response = exc.response
    status = getattr(response, "status_code", None)
    text = (getattr(response, "text", "") or "")[:300]
    reason = f"the push service answered {status}: {text}".rstrip(": ")
    if status in (404, 410):
        return Gone(reason)
    if status is None:
        return Refused(f"the push could not be sent: {exc.message}")
    if status == 429 or status >= 500:
        return Transient(reason, retry_after_s=retry_after_s(getattr(response, "headers", None)))
    return Refused(reason)
