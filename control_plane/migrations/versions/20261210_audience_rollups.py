"""billable impressions per audience (profile daypart), hourly and daily

Revision ID: 20261210_audience_rollups
Revises: 20261209_delivery_batch_key
Create Date: 2026-12-07 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261210_audience_rollups'
down_revision: str | None = '20261209_delivery_batch_key'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _table(name: str, period: str) -> None:
    op.create_table(
        name,
        sa.Column("screen_id", sa.String(length=40), nullable=False),
        sa.Column("campaign_key", sa.String(length=64), nullable=False),
        sa.Column("audience_key", sa.String(length=60), nullable=False),
        sa.Column("venue_id", sa.String(length=40), nullable=False),
        sa.Column("venue_org_id", sa.String(length=40), nullable=False),
        sa.Column("advertiser_org_id", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("billable_plays", sa.BigInteger(), nullable=False),
        sa.Column("impressions_milli", sa.BigInteger(), nullable=False),
        sa.Column(period, sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(period, "screen_id", "campaign_key", "audience_key",
                                name=op.f(f"pk_{name}")))
    op.create_index(f"ix_{name}_advertiser_org_id_{period}", name,
                    ["advertiser_org_id", period], unique=False)
    op.create_index(f"ix_{name}_venue_org_id_{period}", name, ["venue_org_id", period],
                    unique=False)


def upgrade() -> None:
    for name, source, period in (("pop_audience_hourly", "pop_hourly", "hour"),
                                 ("pop_audience_daily", "pop_daily", "day")):
        _table(name, period)
        # the plays stored before were counted by flat multipliers (audience ""), so that
        # reports split by audience still add up to every impression
        op.execute(
            f"INSERT INTO {name} ({period}, screen_id, campaign_key, audience_key, venue_id, "  # noqa: S608
            "venue_org_id, advertiser_org_id, currency, billable_plays, impressions_milli) "
            f"SELECT {period}, screen_id, campaign_key, '', MAX(venue_id), MAX(venue_org_id), "
            "MAX(advertiser_org_id), MAX(currency), SUM(billable_plays), "
            f"SUM(impressions_milli) FROM {source} WHERE billable_plays > 0 "
            f"GROUP BY {period}, screen_id, campaign_key")


def downgrade() -> None:
    for name, period in (("pop_audience_daily", "day"), ("pop_audience_hourly", "hour")):
        op.drop_index(f"ix_{name}_venue_org_id_{period}", table_name=name)
        op.drop_index(f"ix_{name}_advertiser_org_id_{period}", table_name=name)
        op.drop_table(name)
