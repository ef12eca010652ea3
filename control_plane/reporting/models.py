"""Tables of proof of play: signed batches as they arrived, one row per play, and the rollups.

Times of plays are integer milliseconds since the Unix epoch (UTC), and rollup periods integer
hours or days since it: exact, compact, the same on SQLite and PostgreSQL, and `day = hour // 24`
needs no date function of either engine. Counts are integers too: impressions in thousandths
(`impressions_milli`), money in minor units, durations in milliseconds, so a rollup is always
exactly the sum of the rows it covers.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from control_plane.db import Base, UTCDateTime, utcnow

# SQLite only numbers rows itself for an INTEGER PRIMARY KEY; BIGINT elsewhere
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")
HOUSE = ""  # the campaign key of house content in rollups (a key column cannot be NULL)
TARGET_DOC = ("of the impressions, those of the campaign's audience target: each play's × the "
              "target's share of the viewers of the profile daypart that counted it (0 for a "
              "flat multiplier's, or without a target)")


class PopBatchRecord(Base):
    """A verified batch: the exact bytes the device signed, its signature and the key that
    verified it, so anyone can check any of its plays again without our code."""

    __tablename__ = "pop_batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True,
                                    doc="sha256 of the signed message")
    batch_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(40))
    screen_id: Mapped[str] = mapped_column(String(40), index=True)
    venue_org_id: Mapped[str] = mapped_column(String(40))
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))
    message_zlib: Mapped[bytes] = mapped_column(LargeBinary, doc="the signed message, "
                                                                  "zlib-compressed")
    records: Mapped[int] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PopPlay(Base):
    """One stored play: the record's facts, what it counts for, and why not if it is flagged.

    `seq` orders plays as they were committed; it is the export cursor.
    """

    __tablename__ = "pop_records"
    __table_args__ = (Index("ix_pop_records_advertiser_org_id_seq", "advertiser_org_id", "seq"),
                      Index("ix_pop_records_venue_org_id_seq", "venue_org_id", "seq"))

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    play_id: Mapped[str] = mapped_column(String(64), unique=True)
    batch: Mapped[str] = mapped_column(ForeignKey("pop_batches.id"))
    device_id: Mapped[str] = mapped_column(String(40))
    screen_id: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    creative_id: Mapped[str] = mapped_column(String(64))
    media_sha256: Mapped[str] = mapped_column(String(64))
    started_ms: Mapped[int] = mapped_column(BigInteger)
    ended_ms: Mapped[int] = mapped_column(BigInteger)
    duration_ms: Mapped[int] = mapped_column(BigInteger)
    expected_ms: Mapped[int] = mapped_column(BigInteger)
    completed: Mapped[bool] = mapped_column(Boolean)
    clock_offset_ms: Mapped[int] = mapped_column(BigInteger)
    billable: Mapped[bool] = mapped_column(Boolean)
    impressions_milli: Mapped[int] = mapped_column(BigInteger)
    spend_cents: Mapped[int] = mapped_column(BigInteger)
    flag: Mapped[str | None] = mapped_column(String(200), doc="why an eligible-looking play "
                                                               "does not count")
    advertiser_org_id: Mapped[str | None] = mapped_column(String(40))
    venue_org_id: Mapped[str] = mapped_column(String(40))
    audience_profile_id: Mapped[str | None] = mapped_column(
        String(40), doc="the audience profile that counted its impressions; none: the "
                        "screen's flat multiplier")


class _Totals:
    """What every rollup adds up."""

    plays: Mapped[int] = mapped_column(BigInteger, default=0)
    billable_plays: Mapped[int] = mapped_column(BigInteger, default=0)
    played_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    impressions_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    spend_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class _Rollup(_Totals):
    """A period × screen × campaign × creative, with what reports filter and group by."""

    period_column: ClassVar[str]

    screen_id: Mapped[str] = mapped_column(String(40))
    campaign_key: Mapped[str] = mapped_column(String(64))
    creative_id: Mapped[str] = mapped_column(String(64))
    venue_id: Mapped[str] = mapped_column(String(40))
    venue_org_id: Mapped[str] = mapped_column(String(40))
    advertiser_org_id: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str | None] = mapped_column(String(3))

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[PrimaryKeyConstraint | Index, ...]:
        name, period = cls.__tablename__, cls.period_column  # type: ignore[attr-defined]
        # the period first: a report over a time range is a range scan of the key
        # (one campaign's plays by screen are found through its advertiser's index: a
        # campaign_key index here tempted SQLite's planner into slow skip-scans)
        return (PrimaryKeyConstraint(period, "screen_id", "campaign_key", "creative_id"),
                Index(f"ix_{name}_advertiser_org_id_{period}", "advertiser_org_id", period),
                Index(f"ix_{name}_venue_org_id_{period}", "venue_org_id", period))


class PopHourly(_Rollup, Base):
    """Plays per UTC hour (hours since the epoch)."""

    __tablename__ = "pop_hourly"
    period_column = "hour"

    hour: Mapped[int] = mapped_column(Integer)


class PopDaily(_Rollup, Base):
    """Plays per UTC day (days since the epoch): what long reports read."""

    __tablename__ = "pop_daily"
    period_column = "day"

    day: Mapped[int] = mapped_column(Integer)


class _VenueRollup(_Totals):
    """A period × venue × campaign × creative: what reports by venue (or of a venue org,
    without screens) read; a venue's screens mostly play the same campaigns."""

    period_column: ClassVar[str]

    venue_id: Mapped[str] = mapped_column(String(40))
    campaign_key: Mapped[str] = mapped_column(String(64))
    creative_id: Mapped[str] = mapped_column(String(64))
    venue_org_id: Mapped[str] = mapped_column(String(40))
    advertiser_org_id: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str | None] = mapped_column(String(3))

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[PrimaryKeyConstraint | Index, ...]:
        name, period = cls.__tablename__, cls.period_column  # type: ignore[attr-defined]
        return (PrimaryKeyConstraint(period, "venue_id", "campaign_key", "creative_id"),
                Index(f"ix_{name}_advertiser_org_id_{period}", "advertiser_org_id", period),
                Index(f"ix_{name}_venue_org_id_{period}", "venue_org_id", period))


class PopVenueHourly(_VenueRollup, Base):
    """Plays per UTC hour, per venue, campaign and creative."""

    __tablename__ = "pop_venue_hourly"
    period_column = "hour"

    hour: Mapped[int] = mapped_column(Integer)


class PopVenueDaily(_VenueRollup, Base):
    """Plays per UTC day, per venue, campaign and creative."""

    __tablename__ = "pop_venue_daily"
    period_column = "day"

    day: Mapped[int] = mapped_column(Integer)


class _CampaignRollup(_Totals):
    """A period × campaign × creative across the whole fleet: what reports that neither group
    by nor filter on screens or venues read (there are far fewer of these rows)."""

    period_column: ClassVar[str]

    campaign_key: Mapped[str] = mapped_column(String(64))
    creative_id: Mapped[str] = mapped_column(String(64))
    advertiser_org_id: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str | None] = mapped_column(String(3))

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[PrimaryKeyConstraint | Index, ...]:
        name, period = cls.__tablename__, cls.period_column  # type: ignore[attr-defined]
        return (PrimaryKeyConstraint(period, "campaign_key", "creative_id"),
                Index(f"ix_{name}_advertiser_org_id_{period}", "advertiser_org_id", period),
                Index(f"ix_{name}_campaign_key_{period}", "campaign_key", period))


class PopCampaignHourly(_CampaignRollup, Base):
    """Plays per UTC hour, fleet-wide, per campaign and creative."""

    __tablename__ = "pop_campaign_hourly"
    period_column = "hour"

    hour: Mapped[int] = mapped_column(Integer)


class PopCampaignDaily(_CampaignRollup, Base):
    """Plays per UTC day, fleet-wide, per campaign and creative."""

    __tablename__ = "pop_campaign_daily"
    period_column = "day"

    day: Mapped[int] = mapped_column(Integer)


class _AudienceRollup:
    """A period × screen × campaign × audience: the billable impressions counted with one
    daypart of one audience profile (`audience_key` "<profile id>:<daypart>"), or with the
    screen's flat multiplier (""), so that reports can split impressions by who watched."""

    period_column: ClassVar[str]

    screen_id: Mapped[str] = mapped_column(String(40))
    campaign_key: Mapped[str] = mapped_column(String(64))
    audience_key: Mapped[str] = mapped_column(String(60))
    venue_id: Mapped[str] = mapped_column(String(40))
    venue_org_id: Mapped[str] = mapped_column(String(40))
    advertiser_org_id: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str | None] = mapped_column(String(3))
    billable_plays: Mapped[int] = mapped_column(BigInteger, default=0)
    impressions_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    target_impressions_milli: Mapped[int] = mapped_column(BigInteger, default=0,
                                                          server_default="0",
                                                          doc=TARGET_DOC)

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[PrimaryKeyConstraint | Index, ...]:
        name, period = cls.__tablename__, cls.period_column  # type: ignore[attr-defined]
        return (PrimaryKeyConstraint(period, "screen_id", "campaign_key", "audience_key"),
                Index(f"ix_{name}_advertiser_org_id_{period}", "advertiser_org_id", period),
                Index(f"ix_{name}_venue_org_id_{period}", "venue_org_id", period))


class PopAudienceHourly(_AudienceRollup, Base):
    """Billable impressions per UTC hour, screen, campaign and audience."""

    __tablename__ = "pop_audience_hourly"
    period_column = "hour"

    hour: Mapped[int] = mapped_column(Integer)


class PopAudienceDaily(_AudienceRollup, Base):
    """Billable impressions per UTC day, screen, campaign and audience."""

    __tablename__ = "pop_audience_daily"
    period_column = "day"

    day: Mapped[int] = mapped_column(Integer)


class CampaignDelivery(_Totals, Base):
    """A campaign's whole delivery: the rollup campaign pages and pacing read, and where spend
    accrues (`carry_micros`: the fraction of a cent not charged yet, in millionths)."""

    __tablename__ = "campaign_delivery"

    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    target_impressions_milli: Mapped[int] = mapped_column(BigInteger, default=0,
                                                          server_default="0", doc=TARGET_DOC)
    carry_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PopScreen(Base):
    """Per screen: how many verified batches and records (any outcome) arrived, and when the
    last batch did. Its row is also what serializes ingestion's writes on SQLite."""

    __tablename__ = "pop_screens"

    screen_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    batches: Mapped[int] = mapped_column(BigInteger, default=0)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    last_batch_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
