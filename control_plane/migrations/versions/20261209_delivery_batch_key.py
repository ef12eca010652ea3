"""delivery batch key: the emails sent together in one request, and their idempotency key

Revision ID: 20261209_delivery_batch_key
Revises: 20261209_tracked_links
Create Date: 2026-12-09 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261209_delivery_batch_key'
down_revision: str | None = '20261209_tracked_links'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('batch_key', sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f('ix_notification_deliveries_batch_key'),
                              ['batch_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_batch_key'))
        batch_op.drop_column('batch_key')
