"""proof of play: signed batches, plays, hourly and daily rollups (per screen, per venue and
fleet-wide), campaign delivery; the history of screens' audience multipliers (existing screens
start with their current one)

Revision ID: 20261203_reporting
Revises: 20261126_schedule_lease
Create Date: 2026-12-03 21:05:50.672279
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import control_plane.db

revision: str = "20261203_reporting"
down_revision: str | None = "20261126_schedule_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_delivery",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("carry_micros", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("plays", sa.BigInteger(), nullable=False),
        sa.Column("billable_plays", sa.BigInteger(), nullable=False),
        sa.Column("played_ms", sa.BigInteger(), nullable=False),
        sa.Column("impressions_milli", sa.BigInteger(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaign_delivery")),
    )
    op.create_table(
        "pop_batches",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("screen_id", sa.String(length=40), nullable=False),
        sa.Column("venue_org_id", sa.String(length=40), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.Column("message_zlib", sa.LargeBinary(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(length=10), nullable=False),
        sa.Column("received_at", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pop_batches")),
    )
    with op.batch_alter_table("pop_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pop_batches_screen_id"), ["screen_id"], unique=False)

    op.create_table(
        "pop_campaign_daily",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("campaign_key", sa.String(length=64), nullable=False),
        sa.Column("creative_id", sa.String(length=64), nullable=False),
        sa.Column("advertiser_org_id", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("plays", sa.BigInteger(), nullable=False),
        sa.Column("billable_plays", sa.BigInteger(), nullable=False),
        sa.Column("played_ms", sa.BigInteger(), nullable=False),
        sa.Column("impressions_milli", sa.BigInteger(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "campaign_key", "creative_id", name=op.f("pk_pop_campaign_daily")
        ),
    )
    with op.batch_alter_table("pop_campaign_daily", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pop_campaign_daily_advertiser_org_id_day",
            ["advertiser_org_id", "day"],
            unique=False,
        )
        batch_op.create_index(
            "ix_pop_campaign_daily_campaign_key_day", ["campaign_key", "day"], unique=False
        )

    op.create_table(
        "pop_campaign_hourly",
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("campaign_key", sa.String(length=64), nullable=False),
        sa.Column("creative_id", sa.String(length=64), nullable=False),
        sa.Column("advertiser_org_id", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("plays", sa.BigInteger(), nullable=False),
        sa.Column("billable_plays", sa.BigInteger(), nullable=False),
        sa.Column("played_ms", sa.BigInteger(), nullable=False),
        sa.Column("impressions_milli", sa.BigInteger(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hour", "campaign_key", "creative_id", name=op.f("pk_pop_campaign_hourly")
        ),
    )
    with op.batch_alter_table("pop_campaign_hourly", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pop_campaign_hourly_advertiser_org_id_hour",
            ["advertiser_org_id", "hour"],
            unique=False,
        )
        batch_op.create_index(
            "ix_pop_campaign_hourly_campaign_key_hour", ["campaign_key", "hour"], unique=False
        )

    op.create_table(
        "pop_daily",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("screen_id", sa.String(length=40), nullable=False),
        sa.Column("campaign_key", sa.String(length=64), nullable=False),
        sa.Column("creative_id", sa.String(length=64), nullable=False),
        sa.Column("venue_id", sa.String(length=40), nullable=False),
        sa.Column("venue_org_id", sa.String(length=40), nullable=False),
        sa.Column("advertiser_org_id", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("plays", sa.BigInteger(), nullable=False),
        sa.Column("billable_plays", sa.BigInteger(), nullable=False),
        sa.Column("played_ms", sa.BigInteger(), nullable=False),
        sa.Column("impressions_milli", sa.BigInteger(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "screen_id", "campaign_key", "creative_id", name=op.f("pk_pop_daily")
        ),
    )
    with op.batch_alter_table("pop_daily", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pop_daily_advertiser_org_id_day", ["advertiser_org_id", "day"], unique=False
        )
        batch_op.create_index(
            "ix_pop_daily_venue_org_id_day", ["venue_org_id", "day"], unique=False
        )

    op.create_table(
        "pop_hourly",
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("screen_id", sa.String(length=40), nullable=False),
        sa.Column("campaign_key", sa.String(length=64), nullable=False),
        sa.Column("creative_id", sa.String(length=64), nullable=False),
        sa.Column("venue_id", sa.String(length=40), nullable=False),
        sa.Column("venue_org_id", sa.String(length=40), nullable=False),
        sa.Column("advertiser_org_id", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("plays", sa.BigInteger(), nullable=False),
        sa.Column("billable_plays", sa.BigInteger(), nullable=False),
        sa.Column("played_ms", sa.BigInteger(), nullable=False),
        sa.Column("impressions_milli", sa.BigInteger(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hour", "screen_id", "campaign_key", "creative_id", name=op.f("pk_pop_hourly")
        ),
    )
    with op.batch_alter_table("pop_hourly", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pop_hourly_advertiser_org_id_hour", ["advertiser_org_id", "hour"], unique=False
        )
        batch_op.create_index(
            "ix_pop_hourly_venue_org_id_hour", ["venue_org_id", "hour"], unique=False
        )

    op.create_table(
        "pop_screens",
        sa.Column("screen_id", sa.String(length=40), nullable=False),
        sa.Column("batches", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("last_batch_at", control_plane.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("screen_id", name=op.f("pk_pop_screens")),
    )
    op.create_table(
        "pop_venue_daily",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.String(length=40), nullable=False),
        sa.Column("campaign_key", sa.String(length=64), nullable=False),
        sa.Column("creative_id", sa.String(length=64), nullable=False),
        sa.Column("venue_org_id", sa.String(length=40), nullable=False),
        sa.Column("advertiser_org_id", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("plays", sa.BigInteger(), nullable=False),
        sa.Column("billable_plays", sa.BigInteger(), nullable=False),
        sa.Column("played_ms", sa.BigInteger(), nullable=False),
        sa.Column("impressions_milli", sa.BigInteger(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "venue_id", "campaign_key", "creative_id", name=op.f("pk_pop_venue_daily")
        ),
    )
    with op.batch_alter_table("pop_venue_daily", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pop_venue_daily_advertiser_org_id_day", ["advertiser_org_id", "day"], unique=False
        )
        batch_op.create_index(
            "ix_pop_venue_daily_venue_org_id_day", ["venue_org_id", "day"], unique=False
        )

    op.create_table(
        "pop_venue_hourly",
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.String(length=40), nullable=False),
        sa.Column("campaign_key", sa.String(length=64), nullable=False),
        sa.Column("creative_id", sa.String(length=64), nullable=False),
        sa.Column("venue_org_id", sa.String(length=40), nullable=False),
        sa.Column("advertiser_org_id", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("plays", sa.BigInteger(), nullable=False),
        sa.Column("billable_plays", sa.BigInteger(), nullable=False),
        sa.Column("played_ms", sa.BigInteger(), nullable=False),
        sa.Column("impressions_milli", sa.BigInteger(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hour", "venue_id", "campaign_key", "creative_id", name=op.f("pk_pop_venue_hourly")
        ),
    )
    with op.batch_alter_table("pop_venue_hourly", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pop_venue_hourly_advertiser_org_id_hour",
            ["advertiser_org_id", "hour"],
            unique=False,
        )
        batch_op.create_index(
            "ix_pop_venue_hourly_venue_org_id_hour", ["venue_org_id", "hour"], unique=False
        )

    op.create_table(
        "pop_records",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("play_id", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("screen_id", sa.String(length=40), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=True),
        sa.Column("creative_id", sa.String(length=64), nullable=False),
        sa.Column("media_sha256", sa.String(length=64), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("ended_ms", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("expected_ms", sa.BigInteger(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("clock_offset_ms", sa.BigInteger(), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("impressions_milli", sa.BigInteger(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.Column("flag", sa.String(length=200), nullable=True),
        sa.Column("advertiser_org_id", sa.String(length=40), nullable=True),
        sa.Column("venue_org_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch"], ["pop_batches.id"], name=op.f("fk_pop_records_batch_pop_batches")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_pop_records")),
        sa.UniqueConstraint("play_id", name=op.f("uq_pop_records_play_id")),
    )
    with op.batch_alter_table("pop_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pop_records_advertiser_org_id_seq", ["advertiser_org_id", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_pop_records_venue_org_id_seq", ["venue_org_id", "seq"], unique=False
        )

    op.create_table(
        "screen_audience",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("screen_id", sa.String(length=40), nullable=False),
        sa.Column("multiplier", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("effective_from", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["screen_id"],
            ["screens.id"],
            name=op.f("fk_screen_audience_screen_id_screens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screen_audience")),
    )
    with op.batch_alter_table("screen_audience", schema=None) as batch_op:
        batch_op.create_index(
            "ix_screen_audience_screen_id_effective_from",
            ["screen_id", "effective_from"],
            unique=False,
        )

    # a screen's multiplier so far counts from the screen's creation
    op.execute(
        "INSERT INTO screen_audience (screen_id, multiplier, source, effective_from) "
        "SELECT id, audience_multiplier, audience_source, created_at FROM screens"
    )


def downgrade() -> None:
    with op.batch_alter_table("screen_audience", schema=None) as batch_op:
        batch_op.drop_index("ix_screen_audience_screen_id_effective_from")

    op.drop_table("screen_audience")
    with op.batch_alter_table("pop_records", schema=None) as batch_op:
        batch_op.drop_index("ix_pop_records_venue_org_id_seq")
        batch_op.drop_index("ix_pop_records_advertiser_org_id_seq")

    op.drop_table("pop_records")
    with op.batch_alter_table("pop_venue_hourly", schema=None) as batch_op:
        batch_op.drop_index("ix_pop_venue_hourly_venue_org_id_hour")
        batch_op.drop_index("ix_pop_venue_hourly_advertiser_org_id_hour")

    op.drop_table("pop_venue_hourly")
    with op.batch_alter_table("pop_venue_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_pop_venue_daily_venue_org_id_day")
        batch_op.drop_index("ix_pop_venue_daily_advertiser_org_id_day")

    op.drop_table("pop_venue_daily")
    op.drop_table("pop_screens")
    with op.batch_alter_table("pop_hourly", schema=None) as batch_op:
        batch_op.drop_index("ix_pop_hourly_venue_org_id_hour")
        batch_op.drop_index("ix_pop_hourly_advertiser_org_id_hour")

    op.drop_table("pop_hourly")
    with op.batch_alter_table("pop_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_pop_daily_venue_org_id_day")
        batch_op.drop_index("ix_pop_daily_advertiser_org_id_day")

    op.drop_table("pop_daily")
    with op.batch_alter_table("pop_campaign_hourly", schema=None) as batch_op:
        batch_op.drop_index("ix_pop_campaign_hourly_campaign_key_hour")
        batch_op.drop_index("ix_pop_campaign_hourly_advertiser_org_id_hour")

    op.drop_table("pop_campaign_hourly")
    with op.batch_alter_table("pop_campaign_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_pop_campaign_daily_campaign_key_day")
        batch_op.drop_index("ix_pop_campaign_daily_advertiser_org_id_day")

    op.drop_table("pop_campaign_daily")
    with op.batch_alter_table("pop_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pop_batches_screen_id"))

    op.drop_table("pop_batches")
    op.drop_table("campaign_delivery")
