"""Logins that can be ended one by one, and recovery codes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:30:00
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    # Accounts made before this revision have no recovery code until their owner makes one.
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("recovery_code_hash", sa.String(length=255), nullable=True))
    # No rows: the cookies of earlier versions named a user, not a login, and now mean nobody.
    op.create_table(
        "logins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("logins") as batch_op:
        batch_op.create_index(batch_op.f("ix_logins_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("logins") as batch_op:
        batch_op.drop_index(batch_op.f("ix_logins_user_id"))
    op.drop_table("logins")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("recovery_code_hash")
