"""schedule rebuild requests

Revision ID: 20261126_schedule
Revises: 20261126_rendition_sha
Create Date: 2026-11-26 02:24:24.835852
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import control_plane.db

revision: str = "20261126_schedule"
down_revision: str | None = "20261126_rendition_sha"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule_requests",
        sa.Column("screen_id", sa.String(length=40), nullable=False),
        sa.Column("requested_at", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("screen_id", name=op.f("pk_schedule_requests")),
    )


def downgrade() -> None:
    op.drop_table("schedule_requests")
