"""Tables of the scheduling domain: screens waiting for a new playlist, the build's lease, and
each screen's plan as last published."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.db import Base, UTCDateTime, utcnow


class ScheduleRequest(Base):
    """A screen (or `*`, all of them) whose playlist must be rebuilt; drained by the job."""

    __tablename__ = "schedule_requests"

    screen_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ScheduleLease(Base):
    """Who is building the schedule now, and until when: one build at a time, fleet-wide.

    A build that read the database before another one must not publish after it; the lease is
    taken with a conditional update (atomic on SQLite and PostgreSQL) and expires on its own if
    its holder dies.
    """

    __tablename__ = "schedule_lease"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64), default="")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ScreenPlanRow(Base):
    """A screen's plan as the last build that published it made it: what plays and why (its
    windows' explanations and the campaigns ruled out), beside the playlist it became and its
    version. The timeline reads it (one row, not a build of the fleet), and a build publishes only
    the playlists whose version differs from this one's."""

    __tablename__ = "screen_plans"

    screen_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    built_at: Mapped[datetime] = mapped_column(UTCDateTime())
    plan_zlib: Mapped[bytes] = mapped_column(LargeBinary, doc="zlib of the plan as "
                                             "rollout.packed wrote it, explanations included")
    # the playlist itself (`adsbin.playlist/v1` JSON, zlib), served to the device from here;
    # None on a row kept before playlists moved out of the object store: the device's first
    # poll asks for it again
    playlist_zlib: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True,
                                                        deferred=True)
