"""Logins end for real, tried over HTTP against `doorstep serve` (source and bundle): cookies
copied before a logout, a "Log out everywhere" or a password change never work after it."""

from __future__ import annotations

import pytest

from tests.support.bundle import source_and_frozen
from tests.support.data import CHEAP_HASHING
from tests.support.forms import Browser, recovery_code_from
from tests.support.processes import serving

PASSWORD = "correct horse"
NEW_PASSWORD = "a new battery staple"


@pytest.fixture
def server(doorstep, data_dir):
    """`doorstep serve` on a temporary data dir."""
    with serving(doorstep, data_dir, env=CHEAP_HASHING) as running:
        yield running


@pytest.fixture
def base(server) -> str:
    return server.base_url


def new_browser(server) -> Browser:
    """A browser past the token handshake."""
    browser = Browser()
    browser.get(server.url)
    return browser


def log_in(browser: Browser, base: str, password: str = PASSWORD) -> None:
    browser.get(base + "login")
    browser.post(
        base + "login", {"email": "mei@example.com", "password": password, "remember": "y"}
    )
    assert "Welcome back, Mei!" in browser.html, browser.alerts()


def is_logged_in(browser: Browser, base: str) -> bool:
    browser.get(base + "account")
    return browser.path == "/account"


@pytest.fixture
def mei(server, base) -> Browser:
    """Mei, registered and logged in with Remember me."""
    browser = new_browser(server)
    browser.register(base, "Mei", "mei@example.com", PASSWORD)
    log_in(browser, base)
    return browser


@source_and_frozen
def test_cookies_copied_before_logout_are_anonymous_after_it(mei, base):
    names = {cookie.name for cookie in mei.jar}
    assert {"doorstep_session", "doorstep_remember"} <= names
    copied = mei.copy()
    assert is_logged_in(mei.copy(), base)  # the copy works while the login lasts

    mei.get(base)
    mei.post(base + "logout", {})
    assert "You have been logged out." in mei.alerts()
    assert not is_logged_in(copied, base)
    copied.get(base)
    assert "Welcome back" not in copied.html


def test_log_out_everywhere_ends_the_other_browsers_too(server, mei, base):
    other = new_browser(server)
    log_in(other, base)
    copied = other.copy()

    mei.get(base + "account")
    mei.post(base + "account/logout-everywhere", {})
    assert mei.path == "/"
    assert "You have been logged out everywhere." in mei.alerts()
    for browser in (mei, other, copied):
        assert not is_logged_in(browser, base)


def test_a_password_change_ends_the_other_logins(server, mei, base):
    other = new_browser(server)
    log_in(other, base)
    copied = other.copy()

    mei.get(base + "account/password")
    mei.post(
        base + "account/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert "Your password has been changed." in mei.alerts()
    assert is_logged_in(mei, base)
    assert not is_logged_in(other, base)
    assert not is_logged_in(copied, base)
    log_in(other, base, NEW_PASSWORD)


@source_and_frozen
def test_the_recovery_code_gets_back_in_over_http(server, base):
    browser = new_browser(server)
    code = browser.register(base, "Mei", "mei@example.com", PASSWORD)
    browser.get(base + "recover")
    fields = {"email": "mei@example.com", "recovery_code": code.lower()}
    page = browser.post(
        base + "recover", {**fields, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert recovery_code_from(page) != code
    browser.post(base + "recovery-code/saved", {})
    assert browser.path == "/login"
    assert "Your password has been reset." in browser.alerts()
    log_in(browser, base, NEW_PASSWORD)
