"""Fixtures: the command under test, an app on a temporary data dir, its client, auth
actions, and a PostgreSQL server. The helpers they use live in tests/support/."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from tests.support.bundle import frozen_executable_or_skip
from tests.support.data import FAST_ARGON2
from tests.support.forms import AuthActions
from tests.support.postgres import PostgresServer, pg_bin_or_skip
from tests.support.processes import doorstep_command
from webapp import create_app
from webapp.database import prepare_database
from webapp.extensions import db

# Fuzzing (tests/test_fuzz.py): "ci", the default, is bounded (about half a minute on 2 cores),
# reproducible (derandomized) and keeps no example database; "deep" digs locally
# (HYPOTHESIS_PROFILE=deep) and remembers failing examples. Hypothesis's own files (its
# caches, that database) go to the temporary folder, never into the checkout.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "doorstep-hypothesis")
settings.register_profile("ci", max_examples=500, deadline=None, derandomize=True, database=None)
settings.register_profile("deep", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Keep every test away from the real per-user data dir."""
    monkeypatch.delenv("DOORSTEP_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


@pytest.fixture
def doorstep(request) -> list[str]:
    """The command under test: `python -m desktop` from the checkout ($DOORSTEP_COMMAND, if
    set), or the frozen bundle where @source_and_frozen (tests/support/bundle.py) asks."""
    if getattr(request, "param", "source") == "frozen":
        return frozen_executable_or_skip()
    return doorstep_command()


@pytest.fixture(scope="session")
def frozen_app() -> Path:
    """The bundle's executable; skips (or fails, with DOORSTEP_REQUIRE_FROZEN=1) when not built."""
    return Path(frozen_executable_or_skip()[0])


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


@pytest.fixture
def auth(client) -> AuthActions:
    """Auth actions on `client`."""
    return AuthActions(client)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session."""
    with PostgresServer(pg_bin_or_skip()) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The SQLAlchemy URL of a fresh, empty database for this test."""
    url = postgres_server.new_database(request.node.name)
    yield url
    postgres_server.drop_database(url.rsplit("/", 1)[1])
