"""Tables of venue moderation decisions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.db import Base, UTCDateTime, id_column_type, new_id, utcnow


class ModerationDecision(Base):
    """A manual venue's verdict on an advertiser (all their ads) or on one creative."""

    __tablename__ = "moderation_decisions"
    __table_args__ = (UniqueConstraint("venue_id", "scope", "subject_id"),)

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("mod"))
    venue_id: Mapped[str] = mapped_column(ForeignKey("venues.id", ondelete="CASCADE"),
                                          index=True)
    scope: Mapped[str] = mapped_column(String(20))  # advertiser | creative
    subject_id: Mapped[str] = mapped_column(String(40))  # an org id or a creative id
    decision: Mapped[str] = mapped_column(String(20))  # approved | rejected
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
