"""The language a user chose with the navbar's switch, kept on the account.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 05:00:00
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable, no default: existing accounts keep following their browser's language.
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locale")
