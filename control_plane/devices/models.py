"""Tables of the device fleet: pairings (codes shown by unpaired agents) and paired devices."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.db import Base, UTCDateTime, id_column_type, new_id, utcnow


class DeviceStatus(enum.StrEnum):
    active = "active"
    revoked = "revoked"


class Pairing(Base):
    """A pairing code an agent asked for; claimed for a screen by a venue admin or technician.

    The `id` is a secret only the agent knows (the code itself is shown on a public screen).
    """

    __tablename__ = "pairings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[str] = mapped_column(String(64))
    display: Mapped[dict[str, Any]] = mapped_column(JSON)
    agent_version: Mapped[str] = mapped_column(String(50))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    screen_id: Mapped[str | None] = mapped_column(ForeignKey("screens.id", ondelete="CASCADE"))
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Device(Base):
    """A display unit paired to a screen; its token and broker password are kept only hashed
    (the broker keeps its own)."""

    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_screen_id_status", "screen_id", "status"),)

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("dev"))
    screen_id: Mapped[str] = mapped_column(ForeignKey("screens.id", ondelete="CASCADE"))
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=DeviceStatus.active)
    fingerprint: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[str] = mapped_column(String(64))
    display: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    token_prefix: Mapped[str | None] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str | None] = mapped_column(String(64))
    mqtt_password_hash: Mapped[str | None] = mapped_column(String(64))
    agent_version: Mapped[str] = mapped_column(String(50), default="")
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    health: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Command(Base):
    """A remote command to a screen's device, and what became of it."""

    __tablename__ = "commands"

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("cmd"))
    screen_id: Mapped[str] = mapped_column(ForeignKey("screens.id", ondelete="CASCADE"),
                                           index=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[str | None] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    screenshot_key: Mapped[str | None] = mapped_column(String(300))
