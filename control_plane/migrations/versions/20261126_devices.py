"""devices and pairings

Revision ID: 20261126_devices
Revises: 20261126_venues
Create Date: 2026-11-26 01:34:24.956011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import control_plane.db

revision: str = "20261126_devices"
down_revision: str | None = "20261126_venues"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("screen_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("fingerprint", sa.String(length=200), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("display", sa.JSON(), nullable=False),
        sa.Column("token_prefix", sa.String(length=32), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("agent_version", sa.String(length=50), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", control_plane.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("health", sa.JSON(), nullable=False),
        sa.Column("created_at", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", control_plane.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_devices_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["screen_id"],
            ["screens.id"],
            name=op.f("fk_devices_screen_id_screens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("token_prefix", name=op.f("uq_devices_token_prefix")),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devices_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_devices_screen_id_status", ["screen_id", "status"], unique=False)

    op.create_table(
        "pairings",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("fingerprint", sa.String(length=200), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("display", sa.JSON(), nullable=False),
        sa.Column("agent_version", sa.String(length=50), nullable=False),
        sa.Column("expires_at", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", control_plane.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", control_plane.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=40), nullable=True),
        sa.Column("screen_id", sa.String(length=40), nullable=True),
        sa.Column("device_id", sa.String(length=40), nullable=True),
        sa.Column("delivered_at", control_plane.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["claimed_by"],
            ["users.id"],
            name=op.f("fk_pairings_claimed_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_pairings_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["screen_id"],
            ["screens.id"],
            name=op.f("fk_pairings_screen_id_screens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairings")),
        sa.UniqueConstraint("code", name=op.f("uq_pairings_code")),
    )


def downgrade() -> None:
    op.drop_table("pairings")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index("ix_devices_screen_id_status")
        batch_op.drop_index(batch_op.f("ix_devices_org_id"))

    op.drop_table("devices")
