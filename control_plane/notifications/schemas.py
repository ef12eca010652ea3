"""Request and response models of notifications."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


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
