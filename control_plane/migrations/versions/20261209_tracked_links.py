"""tracked links: campaigns' short links and QR codes, and their scans counted by hour

Revision ID: 20261209_tracked_links
Revises: 20261208_audience_profiles
Create Date: 2026-12-09 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import control_plane.db

revision: str = '20261209_tracked_links'
down_revision: str | None = '20261208_audience_profiles'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tracked_links',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('advertiser_org_id', sa.String(length=40), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('landing_url', sa.String(length=2000), nullable=False),
    sa.Column('created_at', control_plane.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', control_plane.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', control_plane.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                            name=op.f('fk_tracked_links_campaign_id_campaigns'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracked_links')),
    sa.UniqueConstraint('campaign_id', name=op.f('uq_tracked_links_campaign_id')),
    sa.UniqueConstraint('code', name=op.f('uq_tracked_links_code'))
    )
    with op.batch_alter_table('tracked_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tracked_links_advertiser_org_id'),
                              ['advertiser_org_id'], unique=False)
    op.create_table('scan_hours',
    sa.Column('link_id', sa.String(length=40), nullable=False),
    sa.Column('hour', sa.Integer(), nullable=False),
    sa.Column('scans', sa.BigInteger(), nullable=False),
    sa.Column('unique_scanners', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['tracked_links.id'],
                            name=op.f('fk_scan_hours_link_id_tracked_links'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('link_id', 'hour', name=op.f('pk_scan_hours'))
    )
    op.create_table('scan_days',
    sa.Column('link_id', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('unique_scanners', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['tracked_links.id'],
                            name=op.f('fk_scan_days_link_id_tracked_links'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('link_id', 'day', name=op.f('pk_scan_days'))
    )
    op.create_table('scan_salts',
    sa.Column('day', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('salt', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_scan_salts'))
    )
    op.create_table('scan_visitors_hourly',
    sa.Column('hour', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.String(length=40), nullable=False),
    sa.Column('visitor', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['tracked_links.id'],
                            name=op.f('fk_scan_visitors_hourly_link_id_tracked_links'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('hour', 'link_id', 'visitor', name=op.f('pk_scan_visitors_hourly'))
    )
    op.create_table('scan_visitors_daily',
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.String(length=40), nullable=False),
    sa.Column('visitor', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['tracked_links.id'],
                            name=op.f('fk_scan_visitors_daily_link_id_tracked_links'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('day', 'link_id', 'visitor', name=op.f('pk_scan_visitors_daily'))
    )


def downgrade() -> None:
    op.drop_table('scan_visitors_daily')
    op.drop_table('scan_visitors_hourly')
    op.drop_table('scan_salts')
    op.drop_table('scan_days')
    op.drop_table('scan_hours')
    with op.batch_alter_table('tracked_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tracked_links_advertiser_org_id'))
    op.drop_table('tracked_links')
