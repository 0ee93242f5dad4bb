"""Shared fixtures: an app on a temporary data dir, its client, and an auth helper."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

import pytest

from tests.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)
from webapp import create_app
from webapp.database import prepare_database
from webapp.extensions import db

# Cheap enough for a test run, still Argon2id; production uses RFC 9106's parameters.
FAST_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}
PASSWORD = "correct horse"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The accounts in the database Doorstep 0.1.0 made (fixtures/doorstep-0.1.0.sql).
V0_1_0_ACCOUNTS = [
    ("Mei", "mei@example.com", "correct horse"),
    ("陈美玲", "meiling@example.com", "长城 battery staple"),
    ("Zoë", "zoe@example.com", "zoë's password 1"),
]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Keep every test away from the real per-user data dir."""
    monkeypatch.delenv("DOORSTEP_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A per-test data dir."""
    return tmp_path / "data"


@pytest.fixture
def database_url() -> str:
    """The app's database: "" for SQLite in the data dir (a module may run on both, below)."""
    return ""


@pytest.fixture(params=["sqlite", "postgresql"])
def sqlite_and_postgresql(request) -> str:
    """SQLite in the data dir, then a fresh database on a real PostgreSQL server."""
    return "" if request.param == "sqlite" else request.getfixturevalue("postgres_url")


@pytest.fixture
def make_app(data_dir, database_url):
    """Build apps on the test's data dir (and database); keyword overrides go on top."""
    apps = []

    def make(**overrides):
        config = {"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False}
        config.update(FAST_ARGON2, DATABASE_URL=database_url)
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        prepare_database(app)  # as the desktop shell does before it serves
        return app

    yield make
    for app in apps:  # a PostgreSQL database cannot be dropped while connections stay open
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    """The app under test, CSRF off (one test turns it on)."""
    return make_app()


@pytest.fixture
def client(app):
    """A test client for `app`."""
    return app.test_client()


class AuthActions:
    """Registers, logs in and logs out through the real forms."""

    def __init__(self, client):
        self._client = client

    def register(self, username="Mei", email="mei@example.com", password=PASSWORD, confirm=None):
        """Post the registration form."""
        return self._client.post(
            "/register",
            data={
                "username": username,
                "email": email,
                "password": password,
                "confirm": password if confirm is None else confirm,
            },
        )

    def login(self, email="mei@example.com", password=PASSWORD, remember=False, next=None):
        """Post the login form."""
        data = {"email": email, "password": password}
        if remember:
            data["remember"] = "y"
        url = "/login" if next is None else f"/login?next={next}"
        return self._client.post(url, data=data)

    def logout(self):
        """Press the navbar's Log out button."""
        return self._client.post("/logout")


@pytest.fixture
def auth(client) -> AuthActions:
    """Auth actions on `client`."""
    return AuthActions(client)


def csrf_token_from(html: str) -> str:
    """Return the CSRF token a rendered form carries."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


def load_0_1_0_database(data_dir: Path) -> Path:
    """Put the database Doorstep 0.1.0 made into `data_dir` (as 0.1.0 left it: WAL mode)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "doorstep.db"
    connection = sqlite3.connect(path)
    try:
        connection.executescript((FIXTURES / "doorstep-0.1.0.sql").read_text(encoding="utf-8"))
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return path


def load_newer_database(data_dir: Path, revision: str = "9999") -> Path:
    """Put a database that a newer Doorstep (at `revision`) wrote into `data_dir`."""
    path = load_0_1_0_database(data_dir)
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
            connection.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    finally:
        connection.close()
    return path


def sha256(path: Path) -> str:
    """The file's digest, to prove it was not touched."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_rows(path: Path, query: str = "SELECT * FROM users ORDER BY id") -> list[tuple]:
    """Rows of a SQLite file, read without changing it."""
    connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()
