"""Back-offs for repeated failed passwords and recovery codes, kept per email.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 02:00:00
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    # Keyed by the normalized email, not the user: an unknown email is throttled alike, so
    # the answers do not tell which emails have accounts.
    op.create_table(
        "sign_in_throttles",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("backoff_seconds", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("email"),
    )


def downgrade():
    op.drop_table("sign_in_throttles")
