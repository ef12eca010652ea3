"""account emails: verified addresses, invitations that carry their role

Revision ID: 20261207_account_emails
Revises: 20261206_phone_numbers
Create Date: 2026-12-07 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import control_plane.db

revision: str = '20261207_account_emails'
down_revision: str | None = '20261206_phone_numbers'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_verified_at",
                                      control_plane.db.UTCDateTime(timezone=True),
                                      nullable=True))
    # Accounts made before addresses were verified keep buying and being paid: they are taken
    # as verified since they were made (a new rule must not lock out customers who signed up
    # under the old one). Invited users who never accepted are not.
    op.execute("UPDATE users SET email_verified_at = created_at WHERE status = 'active'")
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=20), nullable=False,
                                      server_default="member"))
        batch_op.add_column(sa.Column("invited_by", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_invitations_invited_by_users"), "users",
                                    ["invited_by"], ["id"], ondelete="SET NULL")
    # invitations made before carry the role of the membership they were made with
    op.execute("UPDATE invitations SET role = (SELECT m.role FROM memberships m "
               "WHERE m.org_id = invitations.org_id AND m.user_id = invitations.user_id) "
               "WHERE EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = invitations.org_id "
               "AND m.user_id = invitations.user_id)")


def downgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_invitations_invited_by_users"),
                                 type_="foreignkey")
        batch_op.drop_column("invited_by")
        batch_op.drop_column("role")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email_verified_at")
