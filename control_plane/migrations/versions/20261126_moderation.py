"""venue moderation and house content

Revision ID: 20261126_moderation
Revises: 20261126_schedule
Create Date: 2026-11-26 02:53:44.203702
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import control_plane.db

revision: str = "20261126_moderation"
down_revision: str | None = "20261126_schedule"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "moderation_decisions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("venue_id", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=40), nullable=True),
        sa.Column("decided_at", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["users.id"],
            name=op.f("fk_moderation_decisions_decided_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"],
            ["venues.id"],
            name=op.f("fk_moderation_decisions_venue_id_venues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_decisions")),
        sa.UniqueConstraint(
            "venue_id",
            "scope",
            "subject_id",
            name=op.f("uq_moderation_decisions_venue_id_scope_subject_id"),
        ),
    )
    with op.batch_alter_table("moderation_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_moderation_decisions_venue_id"), ["venue_id"], unique=False
        )

    with op.batch_alter_table("venues", schema=None) as batch_op:
        # server defaults fill the rows that exist already
        batch_op.add_column(
            sa.Column("moderation", sa.String(length=10), nullable=False, server_default="auto")
        )
        batch_op.add_column(
            sa.Column("house_media_ids", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("venues", schema=None) as batch_op:
        batch_op.drop_column("house_media_ids")
        batch_op.drop_column("moderation")

    with op.batch_alter_table("moderation_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_moderation_decisions_venue_id"))

    op.drop_table("moderation_decisions")
