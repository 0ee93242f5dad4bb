"""Opening the user's database safely: recognise it, back it up, bring it to the newest revision.

People keep this database for years, across many versions of Doorstep. So a database this
code does not recognise, a damaged one, or one a newer Doorstep wrote is never touched, and a
SQLite file is copied to `<data dir>/backups/` before any change to its schema.

The desktop shell (window, `serve`, `--dev`) calls prepare_database() before it serves
anything, and stops with the message of a DatabaseRefused. Under `flask run` or another WSGI
server the first request does it. `flask db ...` never does: it manages revisions itself.

Flask-Migrate, and with it Alembic, is bound and imported only when a migration runs or a
`flask db` command is asked for: the import is a fifth of the webapp's, on the path of every
start, while a database already at the newest revision is told by its version table and the
migration files' names alone (docs/startup.md).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

import click
from flask import Flask, current_app
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from desktop import __version__
from webapp.extensions import db
from webapp.paths import ensure_private_dir, migrations_dir

if TYPE_CHECKING:
    from alembic.config import Config
    from flask_migrate import Migrate

log = logging.getLogger("doorstep.database")

BACKUP_FOLDER = "backups"
BACKUPS_KEPT = 5
# Databases made by 0.1.0 carry no revision; this one describes exactly their schema.
FIRST_REVISION = "0001"
UNVERSIONED_LABEL = "0.1.0"
V0_1_0_USERS_COLUMNS = {
    "id", "username", "username_key", "email", "password_hash", "created_at", "last_login_at",
}  # fmt: skip
SQLITE_HEADER = b"SQLite format 3\x00"


class DatabaseFileMoved(Exception):
    """The SQLite file the app opened was moved or deleted; a commit would write into the void."""


class DatabaseRefused(Exception):
    """The database cannot be used as it is; the message says why and that nothing changed."""


@dataclass(frozen=True)
class DatabaseState:
    """What a database holds, as far as upgrading it is concerned."""

    tables: frozenset[str]
    revisions: tuple[str, ...]
    users_columns: frozenset[str]

    @property
    def is_empty(self) -> bool:
        """Whether the database has no tables at all (a new data dir)."""
        return not self.tables

    @property
    def is_0_1_0(self) -> bool:
        """Whether this is a database made by Doorstep 0.1.0: its users table, no revision."""
        return (
            not self.revisions
            and self.tables == {"users"}
            and self.users_columns == V0_1_0_USERS_COLUMNS
        )


READY_KEY = "doorstep.database_ready"
# Revision files are named NNNN_slug.py with NNNN their revision id, in order (a test checks).
REVISION_FILE_GLOB = "[0-9][0-9][0-9][0-9]_*.py"


def init_app(app: Flask) -> None:
    """Tune `app`'s SQLite connections, prepare its database before its first request, and
    offer Flask-Migrate's `flask db` commands."""
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _tune_sqlite)
            path = sqlite_path(db.engine.url)
            if path is not None:
                watch_for_a_moved_file(db.engine, path)
    app.extensions[READY_KEY] = False
    app.cli.add_command(MigrationCommands("db", help="Perform database migrations."))
    lock = threading.Lock()

    @app.before_request
    def prepare_before_the_first_request() -> None:
        if not app.extensions[READY_KEY]:  # after that, one dictionary look-up per request
            with lock:
                if not app.extensions[READY_KEY]:
                    prepare_database(app)


class MigrationCommands(click.Group):
    """`flask db ...`: Flask-Migrate's own command group, bound and imported once asked for."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Bind Flask-Migrate and let its `db` group parse the command line from here on."""
        bind_migrate(current_app)  # FlaskGroup has pushed the app's context for app.cli
        from flask_migrate.cli import db as flask_migrate_commands

        return flask_migrate_commands.make_context(info_name, args, parent=parent, **extra)


def bind_migrate(app: Flask) -> Migrate:
    """Return `app`'s Flask-Migrate, binding it (to the app's migrations folder) the first time."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        # Batch mode: SQLite alters a table by copying it, which Alembic does only when asked.
        Migrate(app, db, directory=str(migrations_folder(app)), render_as_batch=True)
    return app.extensions["migrate"].migrate


def migrations_folder(app: Flask) -> Path:
    """The folder of `app`'s migrations: the package's, or MIGRATIONS_DIR (tests)."""
    return Path(app.config.get("MIGRATIONS_DIR") or migrations_dir())


def newest_revision(folder: Path) -> str | None:
    """The head revision, read from the revision files' names without importing Alembic."""
    names = [path.name.split("_", 1)[0] for path in (folder / "versions").glob(REVISION_FILE_GLOB)]
    return max(names, default=None)


def watch_for_a_moved_file(engine: Engine, path: Path) -> None:
    """Refuse commits once the file a connection opened is no longer at `path`."""
    # In WAL mode SQLite goes on writing into a deleted file (its own check covers rollback
    # journals only), and everything saved would vanish with the last connection.

    def identity() -> tuple[int, int] | None:
        try:
            status = path.stat()
        except FileNotFoundError:
            return None
        return status.st_dev, status.st_ino

    def remember(_dbapi_connection: object, record: Any) -> None:
        record.info["doorstep.file"] = identity()

    def check(connection: Connection) -> None:
        if identity() != connection.connection.info.get("doorstep.file"):
            raise DatabaseFileMoved(f"{path} was moved or deleted while Doorstep was running")

    event.listen(engine, "connect", remember)
    event.listen(engine, "commit", check)


def _tune_sqlite(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # WAL lets the page threads read while one writes; the busy timeout covers the rest.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def prepare_database(app: Flask) -> Path | None:
    """Bring `app`'s database to the newest revision, backing it up first; return the backup.

    Raises DatabaseRefused, with nothing changed, for a database that is damaged, not
    Doorstep's, written by a newer Doorstep, or whose upgrade failed.
    """
    with app.app_context():
        engine = db.engine
        path = sqlite_path(engine.url)
        if path is not None:
            create_private_file(path)
            check_sqlite_file(path)
        state = read_state(engine, path)
        if state.revisions == (newest_revision(migrations_folder(app)),):
            app.extensions[READY_KEY] = True
            return None
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError

        script = ScriptDirectory.from_config(alembic_config())
        head = script.get_current_head()
        where = describe(engine.url, path)
        if not state.revisions and not state.is_empty and not state.is_0_1_0:
            raise DatabaseRefused(
                f"{where} holds tables Doorstep does not recognise "
                f"({', '.join(sorted(state.tables))}), so it is not a Doorstep database. "
                "Nothing was changed."
            )
        for revision in state.revisions:
            try:
                script.get_revision(revision)
            except CommandError:
                raise DatabaseRefused(
                    f"{where} was written by a newer version of Doorstep "
                    f"(database revision {revision}); this is Doorstep {__version__}. "
                    "Nothing was changed."
                ) from None

        backup = None
        if path is not None and not state.is_empty:
            label = "-".join(state.revisions) or UNVERSIONED_LABEL
            backup = back_up(path, label)
            log.info("Backed up %s to %s before upgrading it", path, backup)
        try:
            upgrade(stamp_first=state.is_0_1_0)
        except Exception as exc:
            log.exception("Upgrading %s to revision %s failed", where, head)
            kept = f" A copy from before the upgrade is at {backup}." if backup else ""
            raise DatabaseRefused(
                f"Doorstep could not upgrade {where} to this version ({exc}). "
                f"Nothing was changed.{kept}"
            ) from exc
        log.info("Database %s is now at revision %s", where, head)
        app.extensions[READY_KEY] = True
        return backup


def alembic_config() -> Config:
    """Return the current app's Alembic configuration (Flask-Migrate's, for its folder)."""
    # Flask-Migrate's Config is Alembic's with a template folder added; its stubs cannot
    # declare the subclass yet.
    return cast("Config", bind_migrate(current_app).get_config())


def upgrade(stamp_first: bool = False) -> None:
    """Upgrade the current app's database to head in one transaction (stamping 0.1.0's first)."""
    from alembic import command

    config = alembic_config()
    with db.engine.connect() as connection, migration_transaction(connection):
        # env.py runs on this connection, so every step shares the one transaction.
        config.attributes["connection"] = connection
        if stamp_first:
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, "head")


@contextlib.contextmanager
def migration_transaction(connection: Connection) -> Iterator[None]:
    """Run the block in one transaction, so a failed migration leaves the database as it was."""
    if connection.dialect.name != "sqlite":
        with connection.begin():
            yield
        return
    # Batch mode rebuilds tables, which needs foreign keys off: a PRAGMA SQLite ignores inside
    # a transaction. And pysqlite begins no transaction before DDL: without an explicit BEGIN,
    # each statement of a migration would be committed on its own.
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        yield
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migration left {len(broken)} broken references")
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def read_state(engine: Engine, path: Path | None) -> DatabaseState:
    """Return the tables and revisions of the database, reading a SQLite file read-only."""
    # For a file: read-only and untuned; the app's engine would switch a database to WAL on
    # connect, which writes to a file that may turn out not to be ours to change.
    reader = (
        engine
        if path is None
        else create_engine("sqlite://", creator=lambda: read_only(path), poolclass=NullPool)
    )
    try:
        with reader.connect() as connection:
            inspector = inspect(connection)
            tables = set(inspector.get_table_names())
            revisions: tuple[str, ...] = ()
            if "alembic_version" in tables:
                rows = connection.execute(text("SELECT version_num FROM alembic_version"))
                revisions = tuple(sorted(row[0] for row in rows))
            users_columns = set()
            if "users" in tables:
                users_columns = {column["name"] for column in inspector.get_columns("users")}
    finally:
        if reader is not engine:
            reader.dispose()
    tables.discard("alembic_version")
    return DatabaseState(frozenset(tables), revisions, frozenset(users_columns))


def check_sqlite_file(path: Path) -> None:
    """Raise DatabaseRefused unless `path` is empty or a SQLite database that passes quick_check."""
    size = path.stat().st_size
    if size == 0:
        return  # created just now, or by a first launch that stopped before writing
    with path.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise DatabaseRefused(
            f"{path} is not a Doorstep database (it is not a SQLite file). Nothing was changed: "
            "move it elsewhere to start afresh, or put back a copy you kept."
        )
    try:
        with contextlib.closing(read_only(path)) as connection:
            problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems != ["ok"]:
        backups = path.parent / BACKUP_FOLDER
        restore = f" or restore a copy from {backups}" if backups.is_dir() else ""
        raise DatabaseRefused(
            f"{path} is damaged (SQLite's check says: {problems[0]}). Nothing was changed: "
            f"move it elsewhere to start afresh{restore}."
        )


def read_only(path: Path) -> sqlite3.Connection:
    """Open the SQLite file at `path` for reading only."""
    return sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)


def create_private_file(path: Path) -> None:
    """Create the database file owner-only if missing, and tighten it and its WAL files if not."""
    ensure_private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        # SQLite gives its -wal and -shm files the database file's permissions. On Windows
        # all three inherit the folder's DACL instead (ensure_private_dir above).
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    if os.name == "posix":
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                if file.stat().st_mode & 0o077:
                    file.chmod(0o600)


def back_up(path: Path, label: str) -> Path:
    """Copy the database consistently (SQLite's backup API) to the backups folder; return it."""
    folder = ensure_private_dir(path.parent / BACKUP_FOLDER)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for attempt in itertools.count(1):
        suffix = "" if attempt == 1 else f"-{attempt}"
        target = folder / f"doorstep-{stamp}-{label}{suffix}.db"
        try:
            # Owner-only from the start; on Windows through the backups folder's DACL.
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        break
    with (
        contextlib.closing(read_only(path)) as source,
        contextlib.closing(sqlite3.connect(target)) as copy,
    ):
        source.backup(copy)
    prune_backups(folder)
    return target


def prune_backups(folder: Path, keep: int = BACKUPS_KEPT) -> None:
    """Delete all but the newest `keep` backups Doorstep made in `folder`."""
    backups = sorted(folder.glob("doorstep-*.db"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    for old in backups[:-keep]:
        old.unlink()


def sqlite_path(url: URL) -> Path | None:
    """Return the file of a SQLite URL, or None for other databases and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    database = url.database
    if database.startswith("file:"):  # a URI filename (uri=true): drop its query
        database = unquote(urlsplit(database).path)
    return Path(database)


def describe(url: URL, path: Path | None) -> str:
    """Name the database in a message a user reads."""
    if path is not None:
        return f"this data folder ({path.parent})"
    return f"the database at {url.render_as_string(hide_password=True)}"
