"""Username keys under NFKC and case folding, so that ａｌｉｃｅ is alice; no account renamed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 02:30:00
"""

import logging
import unicodedata

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("doorstep.migrations")

# The width of users.username_key.
KEY_LENGTH = 128

users = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("username", sa.String),
    sa.column("username_key", sa.String),
    sa.column("created_at", sa.DateTime),
)


# Both rules are copied here, not imported from webapp.models: a later change to the app's
# rule must not change what this revision did to a database.
def new_key(username):
    """The key from this revision on: NFKC, trimmed, case-folded, NFKC again."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).strip().casefold())


def old_key(username):
    """The key before this revision: trimmed, NFC, case-folded."""
    return unicodedata.normalize("NFC", username.strip()).casefold()


def upgrade():
    rekey(new_key)


def downgrade():
    rekey(old_key)


def rekey(key_of):
    """Give every account the key `key_of` makes of its username, the oldest account first;
    an account whose key an older one took keeps a distinct key instead."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(users.c.id, users.c.username, users.c.username_key).order_by(
            users.c.created_at, users.c.id
        )
    ).all()
    holders: dict[str, int] = {}  # key -> the id of the oldest account with it
    clashes: dict[int, list[int]] = {}  # that id -> the ids of newer accounts with that key
    wanted = {}
    for user_id, username, _ in rows:
        key = key_of(username)
        if key in holders:
            clashes.setdefault(holders[key], []).append(user_id)
            wanted[user_id] = distinct_key(key, user_id)
        elif len(key) > KEY_LENGTH:  # a name that NFKC lengthens past the column
            wanted[user_id] = distinct_key(key, user_id)
        else:
            holders[key] = user_id
            wanted[user_id] = key
    for holder, others in clashes.items():
        # Ids only: the log is no place for the names people chose.
        log.warning(
            "Accounts %s have the same username under the new rule: account %d keeps it, "
            "the others keep their names and log in by email as before; the username is "
            "taken for them until they choose another one",
            ", ".join(str(user_id) for user_id in [holder, *others]),
            holder,
        )
    changed = [
        {"user_id": user_id, "key": wanted[user_id]}
        for user_id, _, current in rows
        if wanted[user_id] != current
    ]
    if not changed:
        return
    update = (
        sa.update(users)
        .where(users.c.id == sa.bindparam("user_id"))
        .values(username_key=sa.bindparam("key"))
    )
    # Through placeholders first: the key unique constraint is checked row by row, and one
    # account's new key may be another's old one. No key holds a `#`: no username can.
    connection.execute(update, [{**row, "key": f"#{row['user_id']}"} for row in changed])
    connection.execute(update, changed)


def distinct_key(key, user_id):
    """A key for account `user_id` that no username can produce: it holds ` #`."""
    suffix = f" #{user_id}"
    return key[: KEY_LENGTH - len(suffix)] + suffix
