"""Database models, in SQLAlchemy 2's typed style."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_login import UserMixin
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db

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


def normalize_username(username: str) -> str:
    """Return `username` as stored: trimmed and in Unicode NFC."""
    return unicodedata.normalize("NFC", username.strip())


def username_key(username: str) -> str:
    """Return the key that usernames equal but for case share."""
    # casefold() in Python: SQLite's lower() only folds ASCII, and Zoë must clash with ZOË.
    return normalize_username(username).casefold()


def normalize_email(email: str) -> str:
    """Return `email` as stored: trimmed and lower-cased as a whole."""
    return email.strip().lower()


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

    def __init__(self, *, username: str, email: str, password: str) -> None:
        super().__init__(
            username=normalize_username(username),
            username_key=username_key(username),
            email=normalize_email(email),
        )
        self.set_password(password)

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

    def record_login(self) -> None:
        """Note the time of a successful login."""
        self.last_login_at = utcnow()

    @classmethod
    def by_email(cls, email: str) -> User | None:
        """Return the user with this email, ignoring case and surrounding spaces."""
        return db.session.scalar(select(cls).where(cls.email == normalize_email(email)))

    @classmethod
    def by_username(cls, username: str) -> User | None:
        """Return the user with this username, ignoring case."""
        return db.session.scalar(select(cls).where(cls.username_key == username_key(username)))


def password_hasher() -> PasswordHasher:
    """Return the app's Argon2id hasher, built once from its ARGON2_* settings."""
    hasher = current_app.extensions.get("doorstep.password_hasher")
    if hasher is None:
        config = current_app.config
        hasher = PasswordHasher(
            time_cost=config["ARGON2_TIME_COST"],
            memory_cost=config["ARGON2_MEMORY_COST"],
            parallelism=config["ARGON2_PARALLELISM"],
            type=Type.ID,
        )
        current_app.extensions["doorstep.password_hasher"] = hasher
    return hasher
