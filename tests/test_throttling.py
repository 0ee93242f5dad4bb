"""Throttled guessing: per email, back-offs kept in the database that double up to 15 minutes
(SQLite and PostgreSQL, and over HTTP across `doorstep serve` processes and restarts); per
client address, Flask-Limiter on the auth forms' POSTs."""

from __future__ import annotations

import re
import threading
import urllib.error
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.support.data import CHEAP_HASHING, PASSWORD
from tests.support.forms import Browser, recovery_code_from
from tests.support.forms import recover as post_recover
from tests.support.processes import serving
from webapp.auth import throttling
from webapp.extensions import db
from webapp.models import SignInThrottle, User, utcnow

MEI = "mei@example.com"
WRONG = "not the password"
WRONG_CODE = "0000-0000-0000-0000"
NEW_PASSWORD = "a new battery staple"
BLOCKED = re.compile(r"Too many attempts\. Try again in (\d+) seconds\.")
INCORRECT = "Incorrect email or password."
NO_MATCH = "That recovery code does not match."

on_both_databases = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def database_url(request):
    """SQLite in the data dir, unless a test asks for each database (on_both_databases)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("postgres_url")
    return ""


@pytest.fixture
def code(auth) -> str:
    """Register Mei; return her recovery code."""
    return recovery_code_from(auth.register().get_data(as_text=True))


class Clock:
    """The throttle's idea of now, moved by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """Replace the throttle's clock with one the test moves."""
    fake = Clock()
    monkeypatch.setattr(throttling, "utcnow", fake)
    return fake


def page(response) -> str:
    return response.get_data(as_text=True)


def wait_shown(response) -> int | None:
    """The N of "Try again in N seconds." on the page, if it is there."""
    match = BLOCKED.search(page(response))
    return int(match.group(1)) if match else None


def throttle(app, email=MEI) -> SignInThrottle | None:
    with app.app_context():
        return db.session.get(SignInThrottle, email)


def fail(auth, times: int, email=MEI) -> None:
    """Log in with a wrong password `times` times, each one checked and refused."""
    for _ in range(times):
        response = auth.login(email=email, password=WRONG)
        assert response.status_code == 200
        assert INCORRECT in page(response)


def assert_refused(response, seconds: int) -> None:
    """The answer to an attempt made during a back-off."""
    assert response.status_code == 429
    assert wait_shown(response) == seconds
    assert response.headers["Retry-After"] == str(seconds)
    assert '<form method="post"' in page(response)  # the same form, to try again later


# --- per email ----------------------------------------------------------------------------


@on_both_databases
def test_five_failures_start_a_30_second_back_off_that_checks_nothing(
    app, client, auth, code, clock, monkeypatch
):
    fail(auth, 4)
    assert throttle(app).failures == 4 and throttle(app).blocked_until is None
    fail(auth, 1)  # the fifth is still checked, and starts the back-off
    state = throttle(app)
    assert (state.failures, state.backoff_seconds) == (5, 30)
    assert state.blocked_until == clock.now + timedelta(seconds=30)

    # The right password is not even checked: the answer is the same 429.
    checked: list[str] = []
    monkeypatch.setattr(User, "check_password", lambda user, password: checked.append(password))
    response = auth.login(password=PASSWORD)
    assert_refused(response, 30)
    assert checked == []
    assert 'value="mei@example.com"' in page(response)  # the form keeps what was typed
    assert INCORRECT not in page(response)
    assert client.get("/account").status_code == 302  # not logged in


@on_both_databases
def test_refused_attempts_are_not_counted_and_do_not_extend_the_back_off(app, auth, code, clock):
    fail(auth, 5)
    before = throttle(app)
    clock.advance(10)
    for _ in range(5):
        assert_refused(auth.login(password=WRONG), 20)
    after = throttle(app)
    assert (after.failures, after.backoff_seconds, after.blocked_until) == (
        before.failures,
        before.backoff_seconds,
        before.blocked_until,
    )


def test_the_wait_is_rounded_up_to_whole_seconds(app, auth, code, clock):
    fail(auth, 5)
    clock.advance(19.8)  # 10.2 s left
    assert_refused(auth.login(), 11)
    clock.advance(10.1)  # 0.1 s left
    assert_refused(auth.login(), 1)


@on_both_databases
def test_each_failure_after_a_back_off_doubles_it_up_to_15_minutes(app, auth, code, clock):
    fail(auth, 5)
    backoffs = [throttle(app).backoff_seconds]
    for _ in range(7):
        clock.advance(backoffs[-1])  # the back-off is over: the next attempt is checked
        fail(auth, 1)
        backoffs.append(throttle(app).backoff_seconds)
        assert_refused(auth.login(), backoffs[-1])
    assert backoffs == [30, 60, 120, 240, 480, 900, 900, 900]


@on_both_databases
def test_a_success_forgets_the_failures_and_the_back_offs(app, client, auth, code, clock):
    fail(auth, 4)
    assert auth.login().status_code == 302
    assert throttle(app) is None
    auth.logout()
    fail(auth, 4)  # four again, not eight: no back-off
    assert throttle(app).blocked_until is None

    fail(auth, 1)
    clock.advance(30)
    fail(auth, 1)  # a 60 s back-off now
    clock.advance(60)
    assert auth.login().status_code == 302
    auth.logout()
    fail(auth, 4)
    assert throttle(app).backoff_seconds == 0
    fail(auth, 1)
    assert throttle(app).backoff_seconds == 30  # from the start again


def test_the_email_is_throttled_whatever_its_case_or_spaces(app, auth, code, clock):
    fail(auth, 5, email=" MEI@Example.com ")
    assert throttle(app, MEI).failures == 5
    assert_refused(auth.login(email="mei@EXAMPLE.COM"), 30)


def test_other_emails_are_not_throttled(app, auth, code, clock):
    auth.register(username="Zoe", email="zoe@example.com")
    fail(auth, 5)
    assert auth.login(email="zoe@example.com").status_code == 302


@on_both_databases
def test_recovery_codes_and_passwords_share_one_counter(app, client, auth, code, clock):
    fail(auth, 3)
    for _ in range(2):
        response = post_recover(client, WRONG_CODE, MEI, NEW_PASSWORD)
        assert response.status_code == 200
        assert NO_MATCH in page(response)
    assert throttle(app).backoff_seconds == 30

    # The right code and the right password alike are refused unchecked.
    response = post_recover(client, code, MEI, NEW_PASSWORD)
    assert_refused(response, 30)
    assert "Reset your password" in page(response)
    assert_refused(auth.login(), 30)

    clock.advance(30)
    response = post_recover(client, code, MEI, NEW_PASSWORD)
    assert recovery_code_from(page(response)) != code  # the code works again, and resets it
    assert throttle(app) is None
    assert auth.login(password=NEW_PASSWORD).status_code == 302


def test_an_unknown_email_is_throttled_alike_at_recover(app, client, clock):
    def attempt():
        return post_recover(client, WRONG_CODE, "nobody@example.com", NEW_PASSWORD)

    for _ in range(5):
        response = attempt()
        assert response.status_code == 200 and NO_MATCH in page(response)
    assert_refused(attempt(), 30)


def test_an_unknown_email_at_login_still_goes_to_registration(app, auth, clock):
    for _ in range(8):
        response = auth.login(email="nobody@example.com")
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/register?email=nobody")
    assert throttle(app, "nobody@example.com") is None


@on_both_databases
def test_failures_recorded_at_once_are_all_counted_and_start_one_back_off(app, clock):
    # Eight requests fail together for an email never seen: the row is made once, no count is
    # lost, the fifth starts the back-off and the three after it do not extend it.
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def record() -> None:
        with app.app_context():
            try:
                start.wait(10)
                throttling.record_failure("race@example.com")
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    state = throttle(app, "race@example.com")
    assert (state.failures, state.backoff_seconds) == (5, 30)
    assert state.blocked_until == clock.now + timedelta(seconds=30)


def test_the_back_off_is_read_from_the_database(app, auth, code):
    # Another process (or the same one before a restart) wrote it: nothing is kept in memory.
    fail(auth, 5)
    with app.app_context():
        db.session.execute(
            update(SignInThrottle).values(blocked_until=utcnow() + timedelta(seconds=300))
        )
        db.session.commit()
    assert 299 <= wait_shown(auth.login()) <= 300
    with app.app_context():
        db.session.execute(update(SignInThrottle).values(blocked_until=utcnow()))
        db.session.commit()
    assert auth.login().status_code == 302


# --- per client ---------------------------------------------------------------------------


def test_the_31st_post_of_a_form_within_a_minute_gets_a_429_page(app, client, auth):
    for number in range(30):
        assert auth.login(email=f"nobody{number}@example.com").status_code == 302
    response = auth.login(email="someone@example.com")
    assert response.status_code == 429
    html = page(response)
    assert 'data-testid="error"' in html and "Too Many Requests" in html
    assert "This form was sent too many times from this computer." in html
    assert 1 <= int(response.headers["Retry-After"]) <= 60  # when this minute's window ends
    # Showing the forms is never limited, and each form counts for itself.
    assert all(client.get("/login").status_code == 200 for _ in range(40))
    assert auth.register().status_code == 200
    assert post_recover(client, WRONG_CODE, MEI, NEW_PASSWORD).status_code == 200


def test_the_per_client_limit_is_a_setting(make_app):
    client = make_app(RATELIMIT_AUTH_FORMS="2 per minute").test_client()
    statuses = [client.post("/register", data={}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_the_per_client_limit_keys_on_the_client_address(app):
    one, other = app.test_client(), app.test_client()
    for _ in range(30):
        one.post("/login", data={}, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert one.post("/login", environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 429
    assert other.post("/login", environ_base={"REMOTE_ADDR": "192.0.2.2"}).status_code == 200


# --- over HTTP ----------------------------------------------------------------------------


def new_browser(server) -> Browser:
    """A browser past the token handshake."""
    browser = Browser()
    browser.get(server.url)
    return browser


def post(browser: Browser, url: str, fields: dict[str, str]) -> tuple[int, str]:
    """POST the last page's form; return the status and the page, whatever the status."""
    try:
        return 200, browser.post(url, fields)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode("utf-8")


def try_login(server, password: str = WRONG) -> tuple[int, str]:
    browser = new_browser(server)
    browser.get(server.base_url + "login")
    return post(browser, server.base_url + "login", {"email": MEI, "password": password})


def test_a_back_off_holds_across_serve_processes_and_restarts(doorstep, data_dir):
    with serving(doorstep, data_dir, env=CHEAP_HASHING) as first:
        new_browser(first).register(first.base_url, "Mei", MEI, PASSWORD)
        for _ in range(5):
            status, html = try_login(first)
            assert (status, INCORRECT in html) == (200, True)
        status, html = try_login(first, PASSWORD)
        assert status == 429 and BLOCKED.search(html), html

        # A second server on the same data dir knows of it too.
        with serving(doorstep, data_dir, env=CHEAP_HASHING) as second:
            status, html = try_login(second, PASSWORD)
            assert status == 429 and BLOCKED.search(html), html

    # And the first one, restarted.
    with serving(doorstep, data_dir, env=CHEAP_HASHING) as restarted:
        status, html = try_login(restarted, PASSWORD)
        assert status == 429 and BLOCKED.search(html), html
        seconds = int(BLOCKED.search(html).group(1))
        assert 0 < seconds <= 30


def test_the_31st_login_post_within_a_minute_is_refused_over_http(doorstep, data_dir):
    with serving(doorstep, data_dir, env=CHEAP_HASHING) as server:
        browser = new_browser(server)
        login = server.base_url + "login"
        browser.get(login)
        for number in range(30):
            status, _ = post(browser, login, {"email": f"n{number}@example.com", "password": WRONG})
            assert status == 200  # handed to the registration page
            browser.get(login)
        status, html = post(browser, login, {"email": MEI, "password": WRONG})
        assert status == 429
        assert 'data-testid="error"' in html and "Too Many Requests" in html
        browser.get(login)  # GETs go on
        assert browser.path == "/login"
