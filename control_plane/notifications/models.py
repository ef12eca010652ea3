"""Notifications' tables: what was said to whom, its deliveries per channel, preferences, the
addresses people gave (browsers' push subscriptions, confirmed phone numbers), and what the
offline channels would have sent."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.db import Base, UTCDateTime, id_column_type, new_id, utcnow


class DeliveryStatus(enum.StrEnum):
    queued = "queued"  # waiting for its (next) attempt
    sending = "sending"  # an attempt holds it
    sent = "sent"  # the provider took it
    delivered = "delivered"  # the provider says it arrived (status webhooks)
    failed = "failed"  # refused for good (a 4xx, an address gone), the reason kept
    dead = "dead"  # every attempt failed for a reason that might have passed


class Notification(Base):
    """One thing told to one user, once per event (`dedupe_key`)."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("dedupe_key", "user_id"),
                      Index("ix_notifications_user_id_created_at", "user_id", "created_at"))

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("ntf"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(60))
    dedupe_key: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Delivery(Base):
    """A notification on one channel to one address."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (UniqueConstraint("notification_id", "channel", "address"),)

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("dlv"))
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.id",
                                                            ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(600))  # email, E.164 number, or subscription id
    status: Mapped[DeliveryStatus] = mapped_column(String(20), default=DeliveryStatus.queued)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider: Mapped[str | None] = mapped_column(String(20))
    provider_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    # the emails sent together in one request share it: their idempotency key with the
    # provider, kept from the first claim so that any later attempt sends the same set under it
    batch_key: Mapped[str | None] = mapped_column(String(40), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Preference(Base):
    """A user's choice for one kind on one channel (absent: the default)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    kind: Mapped[str] = mapped_column(String(60), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)


class PushSubscription(Base):
    """A browser's Web Push subscription."""

    __tablename__ = "push_subscriptions"

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("psub"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    endpoint: Mapped[str] = mapped_column(String(600), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OfflineMessage(Base):
    """What a channel without its provider's key would have sent."""

    __tablename__ = "offline_messages"

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("omsg"))
    channel: Mapped[str] = mapped_column(String(10))
    to: Mapped[str] = mapped_column(String(600))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class PhoneNumber(Base):
    """A user's number for SMS: it receives notifications once confirmed by the code sent to
    it (`phones.py`); one per user."""

    __tablename__ = "phone_numbers"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    e164: Mapped[str] = mapped_column(String(16))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    code_hash: Mapped[str | None] = mapped_column(String(64))  # the pending code's, else None
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # tries at the pending code
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the last code's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PhoneCodeWindow(Base):
    """Confirmation codes texted to one user, or to one number, in the window that began at
    `window_started_at` (`phones.py`): counted here rather than in each process, so that the
    limit holds however many API processes serve the requests."""

    __tablename__ = "phone_code_windows"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)  # user:<id>, number:<e164>
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    codes: Mapped[int] = mapped_column(Integer, default=0)
