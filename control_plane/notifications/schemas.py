"""Request and response models of notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from control_plane.notifications.vapid import b64url, b64url_decode


class ChannelSwitches(BaseModel):
    """On or off per channel (absent: unchanged)."""

    model_config = ConfigDict(extra="forbid")
    email: bool | None = None
    sms: bool | None = None
    push: bool | None = None


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preferences: dict[str, ChannelSwitches] = Field(
        description="per kind of notification (see GET): the channels to switch",
        max_length=100)


class KindPreference(BaseModel):
    kind: str
    title: str
    urgent: bool
    email: bool
    sms: bool
    push: bool


class PreferencesRead(BaseModel):
    preferences: list[KindPreference]


class DeliveryRead(BaseModel):
    channel: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class NotificationRead(BaseModel):
    id: str
    kind: str
    title: str
    body: str
    link: str | None
    org_id: str | None
    created_at: datetime
    read_at: datetime | None
    deliveries: list[DeliveryRead]


class NotificationPage(BaseModel):
    notifications: list[NotificationRead]
    unread: int


class OfflineMessageRead(BaseModel):
    id: str
    channel: str
    to: str
    subject: str
    body: str
    created_at: datetime


# --- Web Push -----------------------------------------------------------------------------

def _p256dh(value: str) -> str:
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise ValueError("p256dh is not base64url") from None
    if len(raw) != 65 or raw[0] != 4:
        raise ValueError("p256dh must be an uncompressed P-256 point (65 bytes)")
    try:
        EllipticCurvePublicKey.from_encoded_point(SECP256R1(), raw)
    except ValueError:
        raise ValueError("p256dh is not a point of P-256") from None
    return b64url(raw)


def _auth(value: str) -> str:
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise ValueError("auth is not base64url") from None
    if len(raw) != 16:
        raise ValueError("auth must be a 16-byte secret")
    return b64url(raw)


class PushKeys(BaseModel):
    """A subscription's keys, base64url: the browser's ECDH public key and the auth secret."""

    model_config = ConfigDict(extra="forbid")
    p256dh: Annotated[str, Field(max_length=200), AfterValidator(_p256dh)]
    auth: Annotated[str, Field(max_length=100), AfterValidator(_auth)]


class PushSubscriptionIn(BaseModel):
    """A browser's `PushSubscription.toJSON()`."""

    model_config = ConfigDict(extra="forbid")
    endpoint: str = Field(min_length=1, max_length=600,
                          description="the push service's URL for this browser (https)")
    expirationTime: float | None = Field(None, description="ignored, as browsers send it")
    keys: PushKeys


class PushSubscriptionRead(BaseModel):
    id: str
    endpoint: str
    created_at: datetime


class VapidPublicKey(BaseModel):
    public_key: str = Field(description="the applicationServerKey for pushManager.subscribe "
                                        "(uncompressed P-256 point, base64url)")


class PhoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(max_length=32, description="in E.164: + and the country code, "
                        "no spaces (e.g. +33612345678)")


class PhoneConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=12, description="the 6 digits sent by SMS")


class PhoneRead(BaseModel):
    number: str
    confirmed: bool
    confirmed_at: datetime | None
    code_sent_at: datetime | None  # the last code's
    code_expires_at: datetime | None  # the pending code's, if any
