"""phone code windows: the codes texted per user and per number, counted in the database

Revision ID: 20261208_phone_code_windows
Revises: 20261207_account_emails
Create Date: 2026-12-08 00:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import control_plane.db

revision: str = '20261208_phone_code_windows'
down_revision: str | None = '20261207_account_emails'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('phone_code_windows',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('window_started_at', control_plane.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('codes', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_phone_code_windows'))
    )


def downgrade() -> None:
    op.drop_table('phone_code_windows')
