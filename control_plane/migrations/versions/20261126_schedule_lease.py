"""schedule lease: one build at a time

Revision ID: 20261126_schedule_lease
Revises: 20261126_moderation
Create Date: 2026-11-26 03:24:03.237727
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import control_plane.db

revision: str = "20261126_schedule_lease"
down_revision: str | None = "20261126_moderation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule_lease",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_schedule_lease")),
    )


def downgrade() -> None:
    op.drop_table("schedule_lease")
