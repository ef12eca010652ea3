"""Tables of engagement: a campaign's tracked link, and what scanning it counted.

Nothing here names a person. A scan adds one to its link's hour (`ScanHour`); whether the
scanner is new in that hour or day is told by a keyed hash of the client's address and user
agent (`ScanVisitorHour`, `ScanVisitorDay`), keyed by a random salt of the UTC day
(`ScanSalt`). The salt and the hashes are deleted once their day is over, leaving only the
counts: an old hash cannot be tested against every address, since its key is gone. Hours and
days are integers since the Unix epoch, as in reporting's rollups.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.db import Base, UTCDateTime, id_column_type, new_id, utcnow

MAX_LANDING_URL = 2000
VISITOR_HEX = 32  # 128 bits of the HMAC: collisions are negligible at any scan count


class TrackedLink(Base):
    """A campaign's short link (`/r/{code}`), redirecting to its validated landing URL."""

    __tablename__ = "tracked_links"

    id: Mapped[str] = mapped_column(id_column_type(), primary_key=True,
                                    default=lambda: new_id("lnk"))
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"),
                                             unique=True)
    advertiser_org_id: Mapped[str] = mapped_column(String(40), index=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    landing_url: Mapped[str] = mapped_column(String(MAX_LANDING_URL))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ScanHour(Base):
    """Scans of a link in a UTC hour, and how many distinct scanners made them."""

    __tablename__ = "scan_hours"
    __table_args__ = (PrimaryKeyConstraint("link_id", "hour"),)

    link_id: Mapped[str] = mapped_column(ForeignKey("tracked_links.id", ondelete="CASCADE"))
    hour: Mapped[int] = mapped_column(Integer)
    scans: Mapped[int] = mapped_column(BigInteger, default=0)
    unique_scanners: Mapped[int] = mapped_column(BigInteger, default=0)


class ScanDay(Base):
    """Distinct scanners of a link in a UTC day (a scanner of two hours counts once here)."""

    __tablename__ = "scan_days"
    __table_args__ = (PrimaryKeyConstraint("link_id", "day"),)

    link_id: Mapped[str] = mapped_column(ForeignKey("tracked_links.id", ondelete="CASCADE"))
    day: Mapped[int] = mapped_column(Integer)
    unique_scanners: Mapped[int] = mapped_column(BigInteger, default=0)


class ScanSalt(Base):
    """The random key of one UTC day's scanner hashes; deleted once the day is over."""

    __tablename__ = "scan_salts"

    day: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))


class ScanVisitorHour(Base):
    """A scanner's hash seen on a link in an hour (kept only until its day is over)."""

    __tablename__ = "scan_visitors_hourly"
    __table_args__ = (PrimaryKeyConstraint("hour", "link_id", "visitor"),)

    hour: Mapped[int] = mapped_column(Integer)
    link_id: Mapped[str] = mapped_column(ForeignKey("tracked_links.id", ondelete="CASCADE"))
    visitor: Mapped[str] = mapped_column(String(VISITOR_HEX))


class ScanVisitorDay(Base):
    """A scanner's hash seen on a link in a day (kept only until the day is over)."""

    __tablename__ = "scan_visitors_daily"
    __table_args__ = (PrimaryKeyConstraint("day", "link_id", "visitor"),)

    day: Mapped[int] = mapped_column(Integer)
    link_id: Mapped[str] = mapped_column(ForeignKey("tracked_links.id", ondelete="CASCADE"))
    visitor: Mapped[str] = mapped_column(String(VISITOR_HEX))
