"""domain events: the outbox and each subscriber's deliveries

Revision ID: 20261206_outbox
Revises: 20261206_venue_public_name
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import control_plane.db

revision: str = "20261206_outbox"
down_revision: str | None = "20261206_venue_public_name"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_until", control_plane.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", control_plane.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_events_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_events_created_at"), ["created_at"],
                              unique=False)
    op.create_table(
        "event_deliveries",
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("subscriber", sa.String(length=200), nullable=False),
        sa.Column("delivered_at", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["outbox_events.id"],
                                name=op.f("fk_event_deliveries_event_id_outbox_events"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id", "subscriber", name=op.f("pk_event_deliveries")),
    )


def downgrade() -> None:
    op.drop_table("event_deliveries")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_events_created_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_events_status"))
    op.drop_table("outbox_events")
