"""The channel plugins: one small interface, one module per channel, an offline one beside.

    ChannelBackend.send(message) -> provider message id
    ├── raises Transient  5xx, 429, a timeout: tried again, with backoff and jitter, and not
    │                     before the provider's Retry-After when it gave one (`retry_after_s`)
    ├── raises Refused    any other 4xx: never tried again, the reason kept
    └── raises Gone       the address is no more (a push subscription answering 404 / 410)

`idempotent` says whether a send may be repeated safely after a worker died in the middle of
one (the provider dedupes on the key we give, as Resend does): a channel that is not is never
sent again once an attempt may have reached the provider, so no one gets a message twice.

A backend that can send many messages in one request (Resend's batch endpoint) is also a
`BatchBackend`:

    BatchBackend.send_batch(messages, key=...) -> per message: its provider id, or a Refused
    ├── raises Transient  the whole batch may be taken later (the same set, under the same key)
    └── raises Refused    the provider took none of them

The key is the batch's idempotency key: the same messages sent again under it are sent once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Message:
    """One notification to one address, as a channel sends it."""

    delivery_id: str  # also the idempotency key of a message sent alone (a batch has its own)
    to: str  # an email address, an E.164 number, or a push subscription's endpoint
    subject: str
    text: str
    html: str | None = None
    link: str | None = None  # absolute
    action: str = "Open in ADSBIN"  # the label of the link's button, in HTML emails
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = ""  # the kind of notification (`catalog.KINDS`)
    user_id: str = ""  # the recipient
    keys: dict[str, str] = field(default_factory=dict)  # push: the subscription's p256dh, auth


class ChannelError(Exception):
    """A send that did not go through; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transient(ChannelError):
    """The provider could not take it now (5xx, 429, a timeout); `retry_after_s`, how long it
    asked us to wait (its Retry-After), if it said."""

    def __init__(self, reason: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


def retry_after_s(headers: Mapping[str, str] | None, *, now: datetime | None = None
                  ) -> float | None:
    """The wait a response's Retry-After header asks for, in seconds (RFC 9110 §10.2.3:
    seconds, or an HTTP date); None without one, or with one that is neither."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Refused(ChannelError):
    """The provider will not take it (a 4xx other than 429)."""


class Gone(Refused):
    """The address no longer exists (a push subscription the service dropped)."""


class ChannelBackend(Protocol):
    """Sends a message on one channel."""

    name: str  # "resend", "twilio", "webpush" or "offline"
    idempotent: bool

    def send(self, message: Message) -> str:
        """Send; the provider's id for the message."""
        ...


@runtime_checkable
class BatchBackend(ChannelBackend, Protocol):
    """Sends many messages of one channel in one request."""

    def send_batch(self, messages: Sequence[Message], *, key: str) -> list[str | Refused]:
        """Send together under the idempotency key `key`; for each message, in order, the
        provider's id for it or why the provider refused that one alone."""
        ...
