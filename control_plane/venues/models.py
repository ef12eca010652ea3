"""Tables of venues and screens."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control_plane.db import Base, UTCDateTime, id_column_type, new_id, utcnow


class Orientation(enum.StrEnum):
    landscape = "landscape"
    portrait = "portrait"


class Venue(Base):
    __tablename__ = "venues"

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("ven"))
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # what advertisers may see it called; unset (or empty): shown only by type and area
    public_name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500), default="")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64))
    venue_type_id: Mapped[int] = mapped_column(Integer)
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    blocked_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    moderation: Mapped[str] = mapped_column(String(10), default="auto")  # auto | manual
    house_media_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    screens: Mapped[list[Screen]] = relationship(back_populates="venue",
                                                 cascade="all, delete-orphan",
                                                 order_by="Screen.created_at")


class Screen(Base):
    __tablename__ = "screens"

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("scr"))
    venue_id: Mapped[str] = mapped_column(ForeignKey("venues.id", ondelete="CASCADE"),
                                          index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    width_px: Mapped[int] = mapped_column(Integer)
    height_px: Mapped[int] = mapped_column(Integer)
    orientation: Mapped[str] = mapped_column(String(20), default=Orientation.landscape)
    audience_multiplier: Mapped[float] = mapped_column(Float, default=1.0)
    audience_source: Mapped[str] = mapped_column(String(200), default="default")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    venue: Mapped[Venue] = relationship(back_populates="screens")


class ScreenAudience(Base):
    """A screen's audience multiplier from `effective_from` on (until the next row).

    Proof of play arrives late from screens that were offline, so impressions are counted with
    the multiplier in effect when the play happened, not the one the screen has today.
    """

    __tablename__ = "screen_audience"
    __table_args__ = (Index("ix_screen_audience_screen_id_effective_from", "screen_id",
                            "effective_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    screen_id: Mapped[str] = mapped_column(ForeignKey("screens.id", ondelete="CASCADE"))
    multiplier: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(200), default="default")
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AudienceProfile(Base):
    """Who watches a venue's screens (or one screen, overriding its venue's), from
    `effective_from` on: viewers per hour by daypart of the week, how long they stay, and their
    split by age band and gender (`venues/audience.py`). Rows are never changed: a new one
    replaces the last for what plays from then on, so late proof of play is counted by the
    profile in force when it played. A screen's row with `cleared` hands it back to its
    venue's profile."""

    __tablename__ = "audience_profiles"
    __table_args__ = (Index("ix_audience_profiles_venue_id_effective_from", "venue_id",
                            "effective_from"),)

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("aud"))
    venue_id: Mapped[str] = mapped_column(ForeignKey("venues.id", ondelete="CASCADE"))
    screen_id: Mapped[str | None] = mapped_column(ForeignKey("screens.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per venue, or per screen
    cleared: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(20))
    as_of: Mapped[date | None] = mapped_column(Date)
    dwell_minutes: Mapped[float] = mapped_column(Float, default=60.0)
    dayparts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    age: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    gender: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
