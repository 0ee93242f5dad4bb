"""Shared fixtures: an app on a temporary data dir, its client, and an auth helper."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from webapp import create_app

# Cheap enough for a test run, still Argon2id; production uses RFC 9106's parameters.
FAST_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}
PASSWORD = "correct horse"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


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
def make_app(data_dir):
    """Build apps on the test's data dir; keyword overrides go on top."""

    def make(**overrides):
        config = {"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False}
        config.update(FAST_ARGON2)
        config.update(overrides)
        return create_app(config)

    return make


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
