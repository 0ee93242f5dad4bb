"""Database models, in SQLAlchemy 2's typed style."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, joinedload, mapped_column, reconstructor, relationship

from webapp.extensions import db
from webapp.hashing import CappedHasher

if TYPE_CHECKING:
    # mypy cannot take an attribute (db.Model) as a base class; it is Flask-SQLAlchemy's
    # Model on our typed declarative base, which this class spells out for it.
    from flask_sqlalchemy.model import Model as FlaskModel

    from webapp.extensions import Base

    class Model(FlaskModel, Base):
        """What db.Model is, as far as the type checker needs to know."""

else:
    Model = db.Model


def utcnow() -> datetime:
    """Return the current UTC time, naive, as SQLite stores it."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso_utc(value: datetime | None) -> str | None:
    """Return a stored (naive UTC) time in ISO 8601 with its offset, to the second."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc).isoformat(timespec="seconds")


def normalize_username(username: str) -> str:
    """Return `username` as stored: in Unicode NFKC, then trimmed."""
    # NFKC, not NFC: the name shown is the one the rules measured and the key was made from,
    # so a fullwidth ａｌｉｃｅ is stored, and greeted, as alice. Trimmed after, as NFKC
    # turns an ideographic or no-break space into a plain one.
    return unicodedata.normalize("NFKC", username).strip()


def username_key(username: str) -> str:
    """Return the key that usernames equal but for case and compatibility forms share."""
    # casefold() in Python: SQLite's lower() only folds ASCII, and Zoë must clash with ZOË.
    # NFKC again after folding, which can undo it: Unicode's NFKC_Casefold also ends in NFKC.
    return unicodedata.normalize("NFKC", normalize_username(username).casefold())


def normalize_email(email: str) -> str:
    """Return `email` as stored: trimmed and lower-cased as a whole."""
    return email.strip().lower()


# Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand stays unambiguous.
RECOVERY_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECOVERY_CODE_GROUPS = 4
RECOVERY_CODE_GROUP_LENGTH = 4
# Crockford's decoding: the letters people write for the digits they look like.
_CROCKFORD_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})


def new_recovery_code() -> str:
    """Return a random recovery code, like `7KQ2-M9XD-4RTC-W8HN` (80 bits)."""
    return "-".join(
        "".join(secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(RECOVERY_CODE_GROUP_LENGTH))
        for _ in range(RECOVERY_CODE_GROUPS)
    )


def normalize_recovery_code(typed: str) -> str:
    """Return a typed code as it was made: case, hyphens and spaces ignored, I/L/O as 1/1/0."""
    return "".join(typed.split()).replace("-", "").upper().translate(_CROCKFORD_LOOKALIKES)


def hash_login_token(token: str) -> str:
    """Return the stored form of a login token: a database alone cannot forge a cookie."""
    return hashlib.sha256(token.encode()).hexdigest()


class AccountTaken(Exception):
    """The username or email was taken between the form's check and the commit."""


class User(UserMixin, Model):
    """A local account."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    username_key: Mapped[str] = mapped_column(String(128), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    # None for accounts made before recovery codes existed (0.1.0) until they make one.
    recovery_code_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    # The language switch's last choice (a Babel locale, "en" or "zh_Hans"); None until the
    # user picks one, so the browser's language applies.
    locale: Mapped[str | None] = mapped_column(String(16), default=None)

    logins: Mapped[list[Login]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Login.created_at"
    )

    def __init__(self, *, username: str, email: str, password: str) -> None:
        super().__init__()
        self.set_identity(username, email)
        self.set_password(password)
        self.forget_current_login()

    @classmethod
    def create(cls, *, username: str, email: str, password: str) -> tuple[User, str]:
        """Store a new account with a fresh recovery code; return it and the code.

        Raises AccountTaken when someone took the username or email since validation.
        """
        user = cls(username=username, email=email, password=password)
        code = user.make_recovery_code()
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            raise AccountTaken from None
        return user, code

    @reconstructor
    def forget_current_login(self) -> None:
        """Start with no current login (the ORM calls this on every loaded user too)."""
        # The login this request runs under: Flask-Login's id for the user (see get_id).
        self.current_login: Login | None = None

    def set_identity(self, username: str, email: str) -> None:
        """Store the username (with its uniqueness key) and the email, normalized."""
        self.username = normalize_username(username)
        self.username_key = username_key(username)
        self.email = normalize_email(email)

    def set_password(self, password: str) -> None:
        """Store an Argon2id hash of `password`."""
        self.password_hash = password_hasher().hash(password)

    def check_password(self, password: str) -> bool:
        """Return whether `password` matches, upgrading a hash made with older parameters."""
        hasher = password_hasher()
        try:
            hasher.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        if hasher.check_needs_rehash(self.password_hash):
            self.set_password(password)
        return True

    def get_id(self) -> str | None:
        """Return the current login's token: sessions and remember-me cookies carry it,
        never the user id, so ending a login ends every cookie made for it."""
        return self.current_login.token if self.current_login else None

    def start_login(self, client: str) -> Login:
        """Record a new login from `client` (a short description) and make it current."""
        self.last_login_at = utcnow()
        login = Login(user=self, client=client)
        db.session.add(login)
        self.current_login = login
        return login

    def end_logins(self, *, keep_current: bool = False) -> None:
        """Delete the user's logins, all of them or all but the current one."""
        statement = delete(Login).where(Login.user_id == self.id)
        if keep_current and self.current_login is not None:
            statement = statement.where(Login.id != self.current_login.id)
        db.session.execute(statement)
        db.session.expire(self, ["logins"])

    def reset_password(self, password: str) -> str:
        """Set `password`, end every login and replace the recovery code; return the new code."""
        self.set_password(password)
        self.end_logins()
        return self.make_recovery_code()  # the old one is spent, or may be lost with the password

    def make_recovery_code(self) -> str:
        """Replace the recovery code with a new one; return it (it is stored only hashed)."""
        code = new_recovery_code()
        self.recovery_code_hash = password_hasher().hash(normalize_recovery_code(code))
        return code

    def check_recovery_code(self, typed: str) -> bool:
        """Return whether `typed` is the user's current recovery code."""
        if self.recovery_code_hash is None:
            return False
        try:
            return password_hasher().verify(self.recovery_code_hash, normalize_recovery_code(typed))
        except (VerificationError, InvalidHashError):
            return False

    @classmethod
    def by_email(cls, email: str) -> User | None:
        """Return the user with this email, ignoring case and surrounding spaces."""
        return db.session.scalar(select(cls).where(cls.email == normalize_email(email)))

    @classmethod
    def by_username(cls, username: str) -> User | None:
        """Return the user with this username, ignoring case."""
        return db.session.scalar(select(cls).where(cls.username_key == username_key(username)))


class Login(Model):
    """One login: what a session and a remember-me cookie stand for, until it is ended."""

    __tablename__ = "logins"

    # How often last_seen_at is written: reading a page should rarely mean writing the disk.
    SEEN_RESOLUTION = timedelta(minutes=1)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    client: Mapped[str] = mapped_column(String(100), default="")

    user: Mapped[User] = relationship(back_populates="logins")

    def __init__(self, *, user: User, client: str) -> None:
        token = secrets.token_urlsafe(32)
        super().__init__(user=user, client=client[:100], token_hash=hash_login_token(token))
        # The token itself lives only in the cookies, and here for the request that uses it.
        self.token: str | None = token

    @reconstructor
    def _no_token_yet(self) -> None:
        self.token = None

    @classmethod
    def by_token(cls, token: str) -> Login | None:
        """Return the login a cookie's token names, if it has not been ended."""
        # The user comes in the same query: every page a logged-in user sees needs both.
        login = db.session.scalar(
            select(cls)
            .where(cls.token_hash == hash_login_token(token))
            .options(joinedload(cls.user))
        )
        if login is not None:
            login.token = token
        return login

    def seen(self) -> bool:
        """Note that the login was used now; return whether that needs saving."""
        now = utcnow()
        if now - self.last_seen_at < self.SEEN_RESOLUTION:
            return False
        self.last_seen_at = now
        return True

    @classmethod
    def end_unusable(cls, idle_for: timedelta) -> None:
        """Delete logins idle longer than any cookie for them can live."""
        db.session.execute(delete(cls).where(cls.last_seen_at < utcnow() - idle_for))


def password_hasher() -> PasswordHasher:
    """Return the app's Argon2id hasher, built once from its ARGON2_* settings."""
    hasher = current_app.extensions.get("doorstep.password_hasher")
    if hasher is None:
        config = current_app.config
        hasher = CappedHasher(  # at most one hash per core at a time
            time_cost=config["ARGON2_TIME_COST"],
            memory_cost=config["ARGON2_MEMORY_COST"],
            parallelism=config["ARGON2_PARALLELISM"],
            type=Type.ID,
        )
        current_app.extensions["doorstep.password_hasher"] = hasher
    return hasher


class SignInThrottle(Model):
    """Consecutive failed passwords and recovery codes for one email, and its back-off."""

    __tablename__ = "sign_in_throttles"

    # The normalized email, not a user: unknown emails are throttled alike (no enumeration).
    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    # The last back-off's length (0 before the first): the next one is twice as long.
    backoff_seconds: Mapped[int] = mapped_column(default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(default=None)
