"""Tables of the media domain: uploaded assets (per org, content-addressed) and renditions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control_plane.db import Base, UTCDateTime, id_column_type, new_id, utcnow


class MediaStatus(enum.StrEnum):
    processing = "processing"
    ready = "ready"
    failed = "failed"


class Fit(enum.StrEnum):
    letterbox = "letterbox"  # the whole picture, black bars where the aspect differs
    cover = "cover"          # fill the screen, cropping the overflow


class Media(Base):
    """One uploaded image or video of an org; its bytes live at `original_key` (by sha256)."""

    __tablename__ = "media"
    __table_args__ = (UniqueConstraint("org_id", "sha256", "fit"),)

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("med"))
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    mime: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(255), default="")
    fit: Mapped[str] = mapped_column(String(20), default=Fit.letterbox)
    status: Mapped[str] = mapped_column(String(20), default=MediaStatus.processing)
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_message: Mapped[str | None] = mapped_column(Text)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    original_key: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    renditions: Mapped[list[Rendition]] = relationship(
        back_populates="media", cascade="all, delete-orphan", order_by="Rendition.name")


class Rendition(Base):
    """A derived file of a media asset: sized for a screen, a poster frame, or a thumbnail."""

    __tablename__ = "renditions"
    __table_args__ = (UniqueConstraint("media_id", "role", "name"),)

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("ren"))
    media_id: Mapped[str] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))  # image | video | poster | thumbnail
    name: Mapped[str] = mapped_column(String(60))  # e.g. 1920x1080-letterbox, thumbnail
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    mime: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    media: Mapped[Media] = relationship(back_populates="renditions")
