"""venues: an optional public name, what advertisers see the venue called

Revision ID: 20261206_venue_public_name
Revises: 20261203_reporting
Create Date: 2026-12-06 19:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_venue_public_name"
down_revision: str | None = "20261203_reporting"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # nullable, no default: the venues that exist stay unnamed to advertisers until their owner
    # chooses a public name
    with op.batch_alter_table("venues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("venues", schema=None) as batch_op:
        batch_op.drop_column("public_name")
