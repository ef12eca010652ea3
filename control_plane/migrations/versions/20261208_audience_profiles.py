"""audience profiles, and the profile each play was counted with

Revision ID: 20261208_audience_profiles
Revises: 20261208_phone_code_windows
Create Date: 2026-12-07 02:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import control_plane.db

revision: str = '20261208_audience_profiles'
down_revision: str | None = '20261208_phone_code_windows'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audience_profiles",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("venue_id", sa.String(length=40), nullable=False),
        sa.Column("screen_id", sa.String(length=40), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("cleared", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("dwell_minutes", sa.Float(), nullable=False),
        sa.Column("dayparts", sa.JSON(), nullable=False),
        sa.Column("age", sa.JSON(), nullable=False),
        sa.Column("gender", sa.JSON(), nullable=False),
        sa.Column("effective_from", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["screen_id"], ["screens.id"],
                                name=op.f("fk_audience_profiles_screen_id_screens"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["venue_id"], ["venues.id"],
                                name=op.f("fk_audience_profiles_venue_id_venues"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_profiles")))
    op.create_index("ix_audience_profiles_venue_id_effective_from", "audience_profiles",
                    ["venue_id", "effective_from"], unique=False)
    # a nullable column without a default: no table rewrite on either database, however many
    # plays are stored (the plays before it were all counted by flat multipliers)
    op.add_column("pop_records", sa.Column("audience_profile_id", sa.String(length=40),
                                           nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pop_records", schema=None) as batch_op:
        batch_op.drop_column("audience_profile_id")
    op.drop_index("ix_audience_profiles_venue_id_effective_from",
                  table_name="audience_profiles")
    op.drop_table("audience_profiles")
