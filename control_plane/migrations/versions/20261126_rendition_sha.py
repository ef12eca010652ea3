"""index renditions by content hash

Revision ID: 20261126_rendition_sha
Revises: 20261126_campaigns
Create Date: 2026-11-26 02:10:31.643663
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "20261126_rendition_sha"
down_revision: str | None = "20261126_campaigns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("renditions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_renditions_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("renditions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_renditions_sha256"))
