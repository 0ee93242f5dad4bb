"""Back-offs for guessed passwords and recovery codes, per email, kept in the database.

After FAILURES_BEFORE_BACKOFF consecutive failures for one email (passwords and recovery
codes count together), that email is refused for FIRST_BACKOFF; each failure checked after
a back-off ends starts one twice as long as the last, up to LONGEST_BACKOFF. Refused attempts
are neither checked nor counted; a success forgets it all. Rows live in the database, so
every process serving the same data (and a restart) sees the same back-offs.
"""

from __future__ import annotations

import importlib
import math
from datetime import timedelta
from typing import cast

from flask_babel import gettext
from sqlalchemy import CursorResult, delete, select, update

from webapp.extensions import db
from webapp.models import SignInThrottle, normalize_email, utcnow

FAILURES_BEFORE_BACKOFF = 5
FIRST_BACKOFF = timedelta(seconds=30)
LONGEST_BACKOFF = timedelta(minutes=15)


def seconds_blocked(email: str) -> float | None:
    """Return how long attempts for `email` are still refused, or None if they are not."""
    blocked_until = db.session.scalar(
        select(SignInThrottle.blocked_until).where(SignInThrottle.email == normalize_email(email))
    )
    if blocked_until is None:
        return None
    left = (blocked_until - utcnow()).total_seconds()
    return left if left > 0 else None


def too_many_attempts(seconds: float) -> str:
    """Return what a refused attempt is told, the wait rounded up to whole seconds."""
    # "seconds" even for 1, as the English always said (a plural form would change it).
    return gettext(
        "Too many attempts. Try again in %(seconds)s seconds.", seconds=math.ceil(seconds)
    )


def record_failure(email: str) -> None:
    """Count a checked failure for `email`, starting a back-off when one is due; commit."""
    key = normalize_email(email)
    _insert_if_missing(key)
    while True:
        row = db.session.execute(
            select(
                SignInThrottle.failures,
                SignInThrottle.backoff_seconds,
                SignInThrottle.blocked_until,
            ).where(SignInThrottle.email == key)
        ).one()
        now = utcnow()
        if row.blocked_until is not None and row.blocked_until > now:
            break  # another process's failure just started a back-off: never extend it
        backoff = next_backoff(row.failures + 1, row.backoff_seconds)
        # Compare-and-set on the count: if another process counted a failure since the read,
        # nothing is written and the loop reads its result (SQLite and PostgreSQL alike).
        result = db.session.execute(
            update(SignInThrottle)
            .where(SignInThrottle.email == key, SignInThrottle.failures == row.failures)
            .values(
                failures=row.failures + 1,
                backoff_seconds=backoff,
                blocked_until=now + timedelta(seconds=backoff) if backoff else None,
            )
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult, result).rowcount:
            break
    db.session.commit()


def next_backoff(failures: int, last_backoff: int) -> int:
    """Return the back-off in seconds that the `failures`-th consecutive failure starts."""
    if last_backoff:
        return min(last_backoff * 2, int(LONGEST_BACKOFF.total_seconds()))
    if failures >= FAILURES_BEFORE_BACKOFF:
        return int(FIRST_BACKOFF.total_seconds())
    return 0


def record_success(email: str) -> None:
    """Forget the failures of `email` (saved with the caller's commit)."""
    db.session.execute(
        delete(SignInThrottle)
        .where(SignInThrottle.email == normalize_email(email))
        .execution_options(synchronize_session=False)
    )


def _insert_if_missing(key: str) -> None:
    # ON CONFLICT DO NOTHING: two processes failing for a new email at once both go on to
    # the update, where one waits for the other instead of failing on the primary key.
    # Imported here: the PostgreSQL dialect would add about 40 ms to every start on SQLite.
    # (Both have the same insert(...).on_conflict_do_nothing.)
    dialect = importlib.import_module(f"sqlalchemy.dialects.{db.session.get_bind().dialect.name}")
    db.session.execute(
        dialect.insert(SignInThrottle)
        .values(email=key, failures=0, backoff_seconds=0, blocked_until=None)
        .on_conflict_do_nothing(index_elements=["email"])
    )
