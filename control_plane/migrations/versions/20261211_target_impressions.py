"""target impressions: of the impressions, those of the campaign's audience target, kept by
the audience rollups and the campaign totals

Plays stored before count none: which share of their viewers the target was is not worked out
again here (their campaigns' targets may have changed since).

Revision ID: 20261211_target_impressions
Revises: 20261210_audience_rollups
Create Date: 2026-12-11 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261211_target_impressions'
down_revision: str | None = '20261210_audience_rollups'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("pop_audience_hourly", "pop_audience_daily", "campaign_delivery")


def upgrade() -> None:
    for name in TABLES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column("target_impressions_milli", sa.BigInteger(),
                                          server_default="0", nullable=False))


def downgrade() -> None:
    for name in reversed(TABLES):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_column("target_impressions_milli")
