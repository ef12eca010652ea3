"""Tables of campaigns and creatives."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control_plane.db import Base, UTCDateTime, id_column_type, new_id, utcnow


class CampaignStatus(enum.StrEnum):
    """Stored states; `approved` reads as `active` in its flight and `completed` after it."""

    draft = "draft"
    pending_review = "pending_review"
    approved = "approved"
    rejected = "rejected"
    paused = "paused"


class ReviewStatus(enum.StrEnum):
    pending_review = "pending_review"
    approved = "approved"
    rejected = "rejected"


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("cmp"))
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dayparts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    targeting: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    budget_cents: Mapped[int] = mapped_column(BigInteger)
    cpm_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    pacing: Mapped[str] = mapped_column(String(10), default="even")
    max_plays_per_hour: Mapped[int | None] = mapped_column(Integer)
    share_of_voice: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default=CampaignStatus.draft, index=True)
    review_note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    creatives: Mapped[list[Creative]] = relationship(back_populates="campaign",
                                                     cascade="all, delete-orphan",
                                                     order_by="Creative.created_at")


class Creative(Base):
    """A ready media asset of the advertiser in a campaign, with how long it plays."""

    __tablename__ = "creatives"

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("crv"))
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"),
                                             index=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media.id", ondelete="RESTRICT"))
    duration_s: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=ReviewStatus.pending_review)
    review_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="creatives")
