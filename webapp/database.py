"""The database: SQLAlchemy, set up on first use, one session per app context.

The landing page needs no database, and importing SQLAlchemy is the slowest part of starting
Doorstep (about 0.3 s of CPU), so nothing here imports it until a request asks for the
engine or a session. Flask-SQLAlchemy cannot wait like that: it imports SQLAlchemy when it is
created and must be bound before the first request. docs/startup.md has the measurements.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from flask import Flask, current_app, g

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

EXTENSION_KEY = "doorstep.database"


class Database:
    """SQLAlchemy for a Flask app: created unbound, bound in `init_app`, set up on first use."""

    def init_app(self, app: Flask) -> None:
        """Bind to `app`; its SQLALCHEMY_DATABASE_URI is opened on first use."""
        app.extensions[EXTENSION_KEY] = _AppDatabase(
            app.config["SQLALCHEMY_DATABASE_URI"], app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        )
        app.teardown_appcontext(self._close_session)

    @property
    def engine(self) -> Engine:
        """The current app's engine, set up (tables created) on first use."""
        return _state(current_app).ready().engine

    @property
    def session(self) -> Session:
        """The session of the current app context, opened on first use."""
        if "db_session" not in g:
            state = _state(current_app).ready()
            state.used = True
            g.db_session = state.make_session()
        return g.db_session

    def used(self, app: Flask) -> bool:
        """Whether anything (a page, not a warm-up) has opened a session on `app`'s database."""
        return _state(app).used

    def rollback(self) -> None:
        """Discard this app context's uncommitted changes, if it has a session."""
        if "db_session" in g:
            g.db_session.rollback()

    def warm_up(self, app: Flask) -> None:
        """Import SQLAlchemy, open the database and create its tables now, not on first use."""
        _state(app).ready()

    def dispose(self, app: Flask) -> None:
        """Close `app`'s pooled connections, if it ever opened any."""
        engine = _state(app).engine
        if engine is not None:
            engine.dispose()

    @staticmethod
    def _close_session(_exc: BaseException | None) -> None:
        # Closing rolls back whatever the request left uncommitted.
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


class _AppDatabase:
    """One app's engine and session factory, made once by whichever thread needs them first."""

    def __init__(self, uri: str, engine_options: dict) -> None:
        self.uri = uri
        self.engine_options = engine_options
        self.engine: Engine | None = None
        self.used = False  # set by the first session, which warm_up() never opens
        self.make_session: sessionmaker[Session]
        self._lock = threading.Lock()

    def ready(self) -> _AppDatabase:
        """Create the engine, the tables and the session factory unless done already."""
        if self.engine is None:
            with self._lock:
                if self.engine is None:
                    self._set_up()
        return self

    def _set_up(self) -> None:
        from sqlalchemy import create_engine, event
        from sqlalchemy.orm import sessionmaker

        from webapp.models import Base

        engine = create_engine(self.uri, **self.engine_options)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _tune_sqlite)
        Base.metadata.create_all(engine)
        self.make_session = sessionmaker(engine)
        self.engine = engine  # last: other threads take a set engine to mean "ready"


def _state(app: Flask) -> _AppDatabase:
    return app.extensions[EXTENSION_KEY]


def _tune_sqlite(dbapi_connection, _record) -> None:
    # WAL lets the page threads read while one writes; the busy timeout covers the rest.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
