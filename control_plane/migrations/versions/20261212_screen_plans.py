"""screen plans: each screen's plan as the last build published it (what plays and why), with
its playlist's version; and an index on the jobs' status for the system page's counts

The table starts empty: the next build (at the latest the hourly one) fills it, and until then a
screen's timeline is worked out as before.

Revision ID: 20261212_screen_plans
Revises: 20261211_target_impressions
Create Date: 2026-12-12 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import control_plane.db

revision: str = '20261212_screen_plans'
down_revision: str | None = '20261211_target_impressions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "screen_plans",
        sa.Column("screen_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("built_at", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("plan_zlib", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("screen_id", name=op.f("pk_screen_plans")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_status"))
    op.drop_table("screen_plans")
