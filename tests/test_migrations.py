"""Versioned migrations, and the upgrade of a user's database at every start.

Nothing a user stored may be lost: a 0.1.0 database upgrades and its accounts log in, every
upgrade of a file starts with a backup, and a database Doorstep does not recognise, a
damaged one or one a newer Doorstep wrote is refused without a byte changed.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from desktop import __version__
from tests.support import REPO_ROOT
from tests.support.data import (
    FAST_ARGON2,
    PASSWORD,
    V0_1_0_ACCOUNTS,
    load_0_1_0_database,
    load_newer_database,
    read_rows,
    sha256,
)
from tests.support.forms import AuthActions
from tests.support.processes import child_env
from webapp import create_app
from webapp.database import DatabaseRefused, alembic_config, back_up, newest_revision
from webapp.extensions import db
from webapp.models import User
from webapp.paths import migrations_dir

HEAD = ScriptDirectory(str(migrations_dir())).get_current_head()

# A revision after head that adds a column, and one whose upgrade fails halfway.
ADDS_A_COLUMN = """
import sqlalchemy as sa
from alembic import op
revision = "9001"
down_revision = {head!r}
def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("nickname", sa.String(32), nullable=True))
def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("nickname")
"""
FAILS_HALFWAY = """
import sqlalchemy as sa
from alembic import op
revision = "9001"
down_revision = {head!r}
def upgrade():
    op.create_table("halfway", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("UPDATE users SET username = 'overwritten'")
    raise RuntimeError("the disk gave up mid-upgrade")
def downgrade():
    pass
"""


@pytest.fixture
def database_url(request):
    """SQLite in the data dir, unless a test asks for each database (ON_EACH_DATABASE)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("postgres_url")
    return ""


ON_EACH_DATABASE = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def migrations_with(tmp_path: Path, revision_source: str) -> Path:
    """A copy of the migrations folder with one more revision after head."""
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / "9001_next.py").write_text(revision_source.format(head=HEAD))
    return folder


def backups(data_dir: Path) -> list[Path]:
    """The backups in the data dir, oldest first."""
    return sorted((data_dir / "backups").glob("doorstep-*.db"))


# --- the migrations themselves (SQLite and PostgreSQL) ------------------------------------


@ON_EACH_DATABASE
def test_models_match_the_migrations(app):
    # A model changed without a migration shows here as a difference.
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == HEAD
        assert compare_metadata(context, db.metadata) == []


@ON_EACH_DATABASE
def test_every_revision_downgrades_and_upgrades_with_data_kept(app, auth):
    auth.register()
    script = ScriptDirectory.from_config(app_config(app))
    revisions = [rev.revision for rev in script.walk_revisions()]  # head first
    with app.app_context():
        for older in revisions[1:]:
            downgrade(revision=older)
            assert current_revision() == older
            assert emails() == ["mei@example.com"]
        downgrade(revision="base")
        assert "users" not in table_names()
        upgrade(revision=revisions[-1])
        db.session.execute(
            text(
                "INSERT INTO users (username, username_key, email, password_hash, created_at) "
                "VALUES ('Mei', 'mei', 'mei@example.com', 'x', '2026-01-01 00:00:00')"
            )
        )
        db.session.commit()
        for newer in reversed(revisions[:-1]):
            upgrade(revision=newer)
            assert current_revision() == newer
            assert emails() == ["mei@example.com"]
        assert current_revision() == HEAD


def app_config(app):
    with app.app_context():
        return alembic_config()


def current_revision() -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def emails() -> list[str]:
    with db.engine.connect() as connection:  # not the session: its open transaction
        # would hold a lock that PostgreSQL's next ALTER TABLE waits for
        return list(connection.scalars(text("SELECT email FROM users ORDER BY id")))


def table_names() -> set[str]:
    with db.engine.connect() as connection:
        return set(inspect(connection).get_table_names())


# Accounts a Doorstep before 0004 let live side by side: their keys differed under its rule
# (trimmed, NFC, case-folded) but are the same under NFKC. The fullwidth one is the newer.
CLASHING_ACCOUNTS = [
    ("Alice", "alice", "alice@example.com", "2026-01-01 00:00:00"),
    ("ａｌｉｃｅ", "ａｌｉｃｅ", "fullwidth@example.com", "2026-02-01 00:00:00"),
    ("ｂｏｂ", "ｂｏｂ", "bob@example.com", "2026-03-01 00:00:00"),
]


def insert_clashing_accounts(execute) -> None:
    """Add CLASHING_ACCOUNTS, with the password PASSWORD, through `execute(sql, params)`."""
    hasher = PasswordHasher(
        time_cost=FAST_ARGON2["ARGON2_TIME_COST"],
        memory_cost=FAST_ARGON2["ARGON2_MEMORY_COST"],
        parallelism=FAST_ARGON2["ARGON2_PARALLELISM"],
    )
    for username, key, email, created_at in CLASHING_ACCOUNTS:
        execute(
            "INSERT INTO users (username, username_key, email, password_hash, created_at) "
            "VALUES (:username, :key, :email, :hash, :created_at)",
            {"username": username, "key": key, "email": email, "hash": hasher.hash(PASSWORD),
             "created_at": created_at},
        )  # fmt: skip


def username_keys() -> dict[str, str]:
    with db.engine.connect() as connection:
        return dict(connection.execute(text("SELECT email, username_key FROM users")).all())


@ON_EACH_DATABASE
def test_0004_gives_new_keys_keeps_clashing_accounts_apart_and_downgrades(app, caplog):
    with app.app_context():
        downgrade(revision="0003")
        with db.engine.begin() as connection:
            insert_clashing_accounts(lambda sql, params: connection.execute(text(sql), params))
        ids = {email: user_id for user_id, email in read_ids()}
        with caplog.at_level(logging.WARNING, "doorstep.migrations"):
            upgrade(revision="0004")
        assert username_keys() == {
            "alice@example.com": "alice",
            "fullwidth@example.com": f"alice #{ids['fullwidth@example.com']}",
            "bob@example.com": "bob",
        }
        (warning,) = [r.getMessage() for r in caplog.records if r.name == "doorstep.migrations"]
        alice, fullwidth = ids["alice@example.com"], ids["fullwidth@example.com"]
        assert warning.startswith(f"Accounts {alice}, {fullwidth} have the same username")
        assert f"account {alice} keeps it" in warning
        assert "ａｌｉｃｅ" not in warning and "Alice" not in warning  # ids only
        # The names themselves are kept; the new rule finds the older account by either.
        upgrade()  # to head: the model has the later revisions' columns too
        assert User.by_username("ａｌｉｃｅ").email == "alice@example.com"
        assert db.session.get(User, fullwidth).username == "ａｌｉｃｅ"
        db.session.rollback()
        downgrade(revision="0003")
        assert username_keys() == {email: key for _, key, email, _ in CLASHING_ACCOUNTS}


def read_ids() -> list[tuple[int, str]]:
    with db.engine.connect() as connection:
        return list(connection.execute(text("SELECT id, email FROM users")).all())


def test_0004_upgrades_a_0_1_0_database_with_clashing_accounts_that_all_log_in(
    make_app, data_dir, caplog
):
    database = load_0_1_0_database(data_dir)
    with sqlite3.connect(database) as connection:
        insert_clashing_accounts(connection.execute)
    connection.close()
    with caplog.at_level(logging.WARNING, "doorstep.migrations"):
        app = make_app()
    assert "Accounts 4, 5 have the same username" in caplog.text
    keys = read_rows(database, "SELECT id, username, username_key FROM users ORDER BY id")
    assert keys == [
        (1, "Mei", "mei"),
        (2, "陈美玲", "陈美玲"),
        (3, "Zoë", "zoë"),
        (4, "Alice", "alice"),
        (5, "ａｌｉｃｅ", "alice #5"),
        (6, "ｂｏｂ", "bob"),
    ]
    for _, _, email, _ in CLASHING_ACCOUNTS:  # by email, as before: nobody is locked out
        client = app.test_client()
        assert AuthActions(client).login(email=email, password=PASSWORD).status_code == 302
    # Taken like the name it clashes with; the newer account renames itself when it likes.
    response = AuthActions(app.test_client()).register(username="ALICE", email="x@example.com")
    assert "That username is taken. Try another one." in response.get_data(as_text=True)


@ON_EACH_DATABASE
def test_a_newer_database_is_refused_and_left_alone(make_app, app):
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        db.session.commit()
    with pytest.raises(DatabaseRefused) as refused:
        make_app()
    assert "was written by a newer version of Doorstep (database revision 9999); " in str(
        refused.value
    )
    assert str(refused.value).endswith(f"this is Doorstep {__version__}. Nothing was changed.")
    with app.app_context():
        assert current_revision() == "9999"


def test_revision_files_are_named_by_their_ids_in_order():
    # Start-up tells a database at head from the file names alone, without importing Alembic.
    script = ScriptDirectory(str(migrations_dir()))
    revisions = list(reversed(list(script.walk_revisions())))  # base first
    assert [Path(rev.path).name.split("_", 1)[0] for rev in revisions] == [
        rev.revision for rev in revisions
    ]
    assert [rev.revision for rev in revisions] == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    assert newest_revision(migrations_dir()) == HEAD
    assert len(list((migrations_dir() / "versions").glob("*.py"))) == len(revisions)


def test_a_database_at_head_starts_without_importing_alembic(make_app, data_dir):
    make_app()  # created at head
    script = """
import sys
from webapp import create_app
from webapp.database import prepare_database
prepare_database(create_app({"DATA_DIR": sys.argv[1]}))
print(sorted(name for name in sys.modules if name.split(".")[0] in ("alembic", "flask_migrate")))
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(data_dir)],
        capture_output=True, text=True, env=child_env(), cwd=REPO_ROOT, timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout.strip() == "[]"


# --- a user's SQLite file at start -------------------------------------------------------


def test_a_new_data_dir_gets_a_database_at_head_and_no_backup(app, data_dir):
    assert read_rows(data_dir / "doorstep.db", "SELECT version_num FROM alembic_version") == [
        (HEAD,)
    ]
    assert not (data_dir / "backups").exists()


def test_a_relaunch_at_head_changes_nothing(make_app, app, data_dir):
    with app.app_context():
        db.engine.dispose()  # SQLite folds the WAL into the file when the last connection ends
    before = sha256(data_dir / "doorstep.db")
    make_app()
    assert sha256(data_dir / "doorstep.db") == before
    assert not (data_dir / "backups").exists()


V0_1_0_USERS = (
    "SELECT id, username, username_key, email, password_hash, created_at, last_login_at"
    " FROM users ORDER BY id"
)


def test_a_0_1_0_database_is_backed_up_and_upgraded(make_app, data_dir):
    database = load_0_1_0_database(data_dir)
    stored = read_rows(database)
    make_app()
    assert read_rows(database, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert read_rows(database, V0_1_0_USERS) == stored  # every value kept, beside new columns
    (backup,) = backups(data_dir)
    assert backup.name.startswith("doorstep-") and backup.name.endswith("-0.1.0.db")
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert read_rows(backup) == stored
    assert read_rows(backup, "SELECT name FROM sqlite_master WHERE name = 'alembic_version'") == []


@pytest.mark.parametrize(("username", "email", "password"), V0_1_0_ACCOUNTS)
def test_0_1_0_accounts_log_in_after_the_upgrade(make_app, data_dir, username, email, password):
    load_0_1_0_database(data_dir)
    # Production's Argon2 parameters, as 0.1.0 hashed with: no rehash on this login.
    client = make_app(ARGON2_TIME_COST=3, ARGON2_MEMORY_COST=64 * 1024, ARGON2_PARALLELISM=4)
    client = client.test_client()
    response = AuthActions(client).login(email=email, password=password)
    assert response.status_code == 302
    assert f"Welcome back, {username}!" in client.get("/").get_data(as_text=True)


def test_a_database_behind_head_is_backed_up_then_upgraded(make_app, app, auth, data_dir, tmp_path):
    auth.register()
    with app.app_context():
        db.engine.dispose()
    stored = read_rows(data_dir / "doorstep.db")
    make_app(MIGRATIONS_DIR=str(migrations_with(tmp_path, ADDS_A_COLUMN)))
    (backup,) = backups(data_dir)
    assert backup.name.endswith(f"-{HEAD}.db")
    assert read_rows(backup) == stored
    upgraded = read_rows(data_dir / "doorstep.db", "SELECT id, email, nickname FROM users")
    assert upgraded == [(1, "mei@example.com", None)]


def test_a_failed_upgrade_leaves_the_database_as_it_was(
    make_app, app, auth, data_dir, tmp_path, caplog
):
    auth.register()
    with app.app_context():
        db.engine.dispose()
    stored = read_rows(data_dir / "doorstep.db")
    with (
        caplog.at_level(logging.ERROR, "doorstep.database"),
        pytest.raises(DatabaseRefused) as refused,
    ):
        make_app(MIGRATIONS_DIR=str(migrations_with(tmp_path, FAILS_HALFWAY)))
    (backup,) = backups(data_dir)
    message = str(refused.value)
    assert "the disk gave up mid-upgrade" in message and "Nothing was changed." in message
    assert f"A copy from before the upgrade is at {backup}." in message
    assert "the disk gave up mid-upgrade" in caplog.text
    database = data_dir / "doorstep.db"
    assert read_rows(database) == stored
    assert read_rows(database, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert read_rows(database, "SELECT name FROM sqlite_master WHERE name = 'halfway'") == []


def test_a_failed_upgrade_of_a_0_1_0_database_leaves_it_unversioned(make_app, data_dir, tmp_path):
    database = load_0_1_0_database(data_dir)
    stored = read_rows(database)
    with pytest.raises(DatabaseRefused):
        make_app(MIGRATIONS_DIR=str(migrations_with(tmp_path, FAILS_HALFWAY)))
    assert read_rows(database) == stored
    assert read_rows(database, "SELECT name FROM sqlite_master WHERE type = 'table'") == [
        ("users",)
    ]


def test_a_sqlite_file_from_a_newer_doorstep_keeps_every_byte(make_app, app, data_dir):
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        db.session.commit()
        db.engine.dispose()
    database = data_dir / "doorstep.db"
    before = sha256(database)
    with pytest.raises(DatabaseRefused) as refused:
        make_app()
    assert str(refused.value) == (
        f"this data folder ({data_dir}) was written by a newer version of Doorstep "
        f"(database revision 9999); this is Doorstep {__version__}. Nothing was changed."
    )
    assert sha256(database) == before
    assert not (data_dir / "backups").exists()


@pytest.mark.parametrize(
    "content",
    [b"These are my notes, not a database.\n", b"", bytes(range(256)) * 64],
    ids=["text", "empty-is-new", "binary"],
)
def test_a_file_that_is_not_sqlite_is_refused_untouched(make_app, data_dir, content):
    data_dir.mkdir(parents=True)
    database = data_dir / "doorstep.db"
    database.write_bytes(content)
    if not content:  # an empty file is what a first launch leaves: it becomes the database
        make_app()
        assert read_rows(database, "SELECT version_num FROM alembic_version") == [(HEAD,)]
        return
    with pytest.raises(DatabaseRefused) as refused:
        make_app()
    assert str(refused.value).startswith(f"{database} is not a Doorstep database")
    assert database.read_bytes() == content


def test_a_damaged_database_is_refused_untouched(make_app, data_dir):
    database = load_0_1_0_database(data_dir)
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    damaged = bytearray(database.read_bytes())
    page_size = int.from_bytes(damaged[16:18], "big")
    damaged[page_size : page_size + 64] = b"\xff" * 64  # the users table's page header
    database.write_bytes(damaged)
    with pytest.raises(DatabaseRefused) as refused:
        make_app()
    assert str(refused.value).startswith(f"{database} is damaged (SQLite's check says: ")
    assert database.read_bytes() == damaged


@pytest.mark.parametrize(
    ("schema", "refusal"),
    [
        ("CREATE TABLE notes (body TEXT)", "holds tables Doorstep does not recognise \\(notes\\)"),
        ("CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT)", "not a Doorstep database"),
    ],
    ids=["another-apps-tables", "unversioned-users-unlike-0.1.0"],
)
def test_an_unversioned_database_doorstep_did_not_make_is_refused_untouched(
    make_app, data_dir, schema, refusal
):
    data_dir.mkdir(parents=True)
    database = data_dir / "doorstep.db"
    with sqlite3.connect(database) as connection:
        connection.execute(schema)
    connection.close()
    before = sha256(database)
    with pytest.raises(DatabaseRefused, match=refusal):
        make_app()
    assert sha256(database) == before


def test_only_the_newest_five_backups_are_kept(app, data_dir):
    database = data_dir / "doorstep.db"
    made = [back_up(database, f"r{number}") for number in range(7)]
    assert [path.name for path in backups(data_dir)] == sorted(path.name for path in made[2:])


def test_the_data_dir_and_its_database_files_are_private(make_app, data_dir):
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)  # as a user's own folder, or an older Doorstep, may have left it
    load_0_1_0_database(data_dir).chmod(0o644)
    AuthActions(make_app().test_client()).register(username="Ada", email="ada@example.com")
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    files = [data_dir / name for name in ("doorstep.db", "doorstep.db-wal", "doorstep.db-shm")]
    files += backups(data_dir)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


# --- the flask db commands ----------------------------------------------------------------


def flask(*args: str, data_dir: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "webapp", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=child_env({"DOORSTEP_DATA_DIR": str(data_dir)}),
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )


def test_flask_db_commands_work_on_the_data_dir(data_dir):
    load_0_1_0_database(data_dir)
    # `flask db` manages revisions itself: loading the app for it upgrades nothing.
    current = flask("db", "current", data_dir=data_dir)
    assert current.returncode == 0, current.stderr
    assert HEAD not in current.stdout
    assert flask("db", "stamp", "0001", data_dir=data_dir).returncode == 0
    upgraded = flask("db", "upgrade", data_dir=data_dir)
    assert upgraded.returncode == 0, upgraded.stderr
    current = flask("db", "current", data_dir=data_dir)
    assert f"{HEAD} (head)" in current.stdout
    history = flask("db", "history", data_dir=data_dir)
    assert "<base> -> 0001" in history.stdout
    downgraded = flask("db", "downgrade", "base", data_dir=data_dir)
    assert downgraded.returncode == 0, downgraded.stderr
    assert (
        read_rows(data_dir / "doorstep.db", "SELECT name FROM sqlite_master WHERE name='users'")
        == []
    )


def test_flask_db_migrate_finds_nothing_to_do(data_dir):
    assert flask("db", "upgrade", data_dir=data_dir).returncode == 0
    migrate = flask("db", "migrate", "-m", "nothing", data_dir=data_dir)
    assert migrate.returncode == 0, migrate.stderr
    assert "No changes in schema detected." in migrate.stderr


def test_flask_shell_has_db_and_user(data_dir):
    shell = flask(
        "shell", data_dir=data_dir, stdin="print(db.engine.url.database, User.__tablename__)\n"
    )
    assert shell.returncode == 0, shell.stderr
    assert f"{data_dir / 'doorstep.db'} users" in shell.stdout


def test_under_flask_run_the_first_request_shows_why_the_database_is_refused(data_dir):
    # `flask run` and other WSGI servers make the app and serve: its first request checks.
    database = load_newer_database(data_dir)
    before = sha256(database)
    client = create_app({"DATA_DIR": str(data_dir)}).test_client()
    for path in ("/", "/login"):
        response = client.get(path)
        assert response.status_code == 503
        assert "Doorstep cannot open your data" in response.get_data(as_text=True)
        assert "(database revision 9999)" in response.get_data(as_text=True)
    assert sha256(database) == before
    assert not (data_dir / "backups").exists()


def test_under_flask_run_the_first_request_upgrades_a_0_1_0_database(data_dir):
    load_0_1_0_database(data_dir)
    app = create_app({"DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False})
    response = AuthActions(app.test_client()).login(
        email="mei@example.com", password="correct horse"
    )
    assert response.status_code == 302
    assert len(backups(data_dir)) == 1


def test_0005_gives_0_1_0_accounts_an_empty_language_choice_and_keeps_everything(
    make_app, data_dir
):
    database = load_0_1_0_database(data_dir)
    stored = read_rows(database)
    app = make_app()
    assert read_rows(database, V0_1_0_USERS) == stored
    # No choice yet: each account follows its browser's language until its user picks one.
    assert read_rows(database, "SELECT locale FROM users") == [(None,)] * len(stored)
    username, email, password = V0_1_0_ACCOUNTS[1]
    client = app.test_client()
    AuthActions(client).login(email=email, password=password)
    client.post("/language", data={"locale": "zh_Hans"})
    assert read_rows(database, f"SELECT locale FROM users WHERE email = '{email}'") == [
        ("zh_Hans",)
    ]
    assert f"欢迎回来，{username}！" in client.get("/").get_data(as_text=True)
