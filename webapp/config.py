"""Configuration in layers: defaults here, then the data dir's files and the environment."""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask

from webapp.paths import default_data_dir, ensure_private_dir

DATABASE_FILENAME = "doorstep.db"
SECRET_KEY_FILENAME = "secret_key"
CONFIG_FILENAME = "config.json"
ENV_PREFIX = "DOORSTEP"

DEFAULTS: dict[str, object] = {
    # Other Flask apps a tester runs on localhost use `session`, and cookies ignore ports.
    "SESSION_COOKIE_NAME": "doorstep_session",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_NAME": "doorstep_remember",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_DURATION": timedelta(days=30),
    # A desktop window can sit open for hours; the token is still bound to the session.
    "WTF_CSRF_TIME_LIMIT": None,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # Empty: SQLite in the data dir. Or a PostgreSQL URL (DOORSTEP_DATABASE_URL, config.json).
    "DATABASE_URL": "",
    # Logs must never hold an email or a password hash from a failed statement.
    "SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": True},
    # Argon2id; RFC 9106's low-memory profile, above OWASP's minimum (19 MiB, t=2).
    "ARGON2_TIME_COST": 3,
    "ARGON2_MEMORY_COST": 64 * 1024,
    "ARGON2_PARALLELISM": 4,
    # Flask-Limiter, on the POSTs of /login, /register and /recover, per client address and
    # per form: far above what a person mistyping sends. Stated, not left to the extension's
    # defaults, because one Limiter serves every app a process makes (the tests make many).
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_AUTH_FORMS": "30 per minute",
    # memory:// counts per process; servers in several processes share e.g. redis://HOST:6379.
    "RATELIMIT_STORAGE_URI": "memory://",
}


def configure(app: Flask, overrides: dict | None) -> None:
    """Load config in layers: defaults, `<data dir>/config.json`, DOORSTEP_* env, overrides."""
    overrides = dict(overrides or {})
    app.config.from_mapping(DEFAULTS)

    data_dir = Path(overrides.get("DATA_DIR") or default_data_dir())
    ensure_private_dir(data_dir)
    app.config.from_file(str(data_dir / CONFIG_FILENAME), load=json.load, silent=True)
    app.config.from_prefixed_env(ENV_PREFIX)
    app.config.from_mapping(overrides)
    app.config["DATA_DIR"] = str(data_dir)

    database_url = app.config["DATABASE_URL"] or f"sqlite:///{data_dir / DATABASE_FILENAME}"
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", sqlalchemy_url(database_url))
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    )
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_secret_key(data_dir / SECRET_KEY_FILENAME)


def sqlalchemy_url(url: str) -> str:
    """Return `url` with the driver Doorstep ships for it (psycopg 3 for PostgreSQL)."""
    # SQLAlchemy reads a bare postgresql:// as psycopg2, which Doorstep does not depend on.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def engine_options(url: str, options: dict) -> dict:
    """Return the engine options for `url`: `options` plus each database's own timeouts."""
    options = {**options, "connect_args": dict(options.get("connect_args", {}))}
    if url.startswith("sqlite"):
        # Another Doorstep (a `serve` beside the window) may hold the write lock a moment.
        options["connect_args"].setdefault("timeout", 15)
    elif url.startswith("postgresql"):
        options["connect_args"].setdefault("connect_timeout", 10)
        options.setdefault("pool_pre_ping", True)  # a restarted server drops idle connections
    return options


def load_or_create_secret_key(path: Path) -> str:
    """Return the key stored at `path`, creating it (owner-only) on first run."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    try:
        # O_EXCL: two processes starting at once must not both write a key. Windows ignores
        # the mode: the file inherits the data folder's DACL (webapp.paths.ensure_private_dir).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as key_file:
        key_file.write(key)
    return key
