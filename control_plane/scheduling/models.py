"""Tables of the scheduling domain: screens waiting for a new playlist."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.db import Base, UTCDateTime, utcnow


class ScheduleRequest(Base):
    """A screen (or `*`, all of them) whose playlist must be rebuilt; drained by the job."""

    __tablename__ = "schedule_requests"

    screen_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
