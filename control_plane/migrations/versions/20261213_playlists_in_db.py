"""playlists in the database: each screen's published playlist kept beside its plan in
`screen_plans`, instead of one object per screen in the object store

Rows kept before this have no playlist: the device's next poll finds none, forgets the row and
asks for a rebuild of its screen, which writes it (the agent plays on from its cache meanwhile).
The objects at `playlists/<screen_id>.json` are no longer read and may be deleted.

Revision ID: 20261213_playlists_in_db
Revises: 20261212_screen_plans
Create Date: 2026-12-13 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261213_playlists_in_db'
down_revision: str | None = '20261212_screen_plans'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("screen_plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("playlist_zlib", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("screen_plans", schema=None) as batch_op:
        batch_op.drop_column("playlist_zlib")
