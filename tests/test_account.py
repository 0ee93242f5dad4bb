"""The account's life cycle: logins that end, password, profile, recovery codes, export and
deletion, as the forms and cookies present them (Flask's test client, SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.support.data import PASSWORD, load_0_1_0_database
from tests.support.forms import RECOVERY_CODE, AuthActions, recovery_code_from
from tests.support.forms import recover as post_recover
from webapp.auth.logins import describe_client
from webapp.extensions import db
from webapp.models import Login, User, normalize_recovery_code, utcnow

NEW_PASSWORD = "a new battery staple"
SESSION = "doorstep_session"
REMEMBER = "doorstep_remember"


@pytest.fixture
def database_url(sqlite_and_postgresql):
    """Every test here runs on SQLite and on a real PostgreSQL server."""
    return sqlite_and_postgresql


@pytest.fixture
def code(auth) -> str:
    """Register Mei; return the recovery code the registration showed."""
    return recovery_code_from(auth.register().get_data(as_text=True))


@pytest.fixture
def logged_in(client, auth, code):
    """Mei, registered and logged in with Remember me on `client`."""
    assert auth.login(remember=True).status_code == 302
    return client


def page(response) -> str:
    return response.get_data(as_text=True)


def greeting(client) -> str | None:
    match = re.search(r"Welcome back, ([^!]+)!", page(client.get("/")))
    return match.group(1) if match else None


def is_logged_in(client) -> bool:
    return client.get("/account").status_code == 200


def saved_cookies(client) -> dict[str, str]:
    """The session and remember-me cookies as a thief would copy them."""
    return {
        name: cookie.value
        for name in (SESSION, REMEMBER)
        if (cookie := client.get_cookie(name)) is not None
    }


def replay(app, cookies: dict[str, str]):
    """A new client that presents `cookies`."""
    thief = app.test_client()
    for name, value in cookies.items():
        thief.set_cookie(name, value)
    return thief


def second_client(app, email="mei@example.com", password=PASSWORD):
    """Another browser, logged in to the same account."""
    other = app.test_client()
    assert AuthActions(other).login(email=email, password=password).status_code == 302
    return other


def logins_of(app, email="mei@example.com") -> list[Login]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(Login).join(User).where(User.email == email).order_by(Login.id)
            )
        )


def user(app, email="mei@example.com") -> User | None:
    with app.app_context():
        return User.by_email(email)


# --- logins that end -----------------------------------------------------------------------


def test_a_login_is_a_row_and_the_cookies_name_it_not_the_user(app, logged_in):
    (login,) = logins_of(app)
    with logged_in.session_transaction() as session:
        token = session["_user_id"]
    assert token != str(user(app).id) and len(token) >= 40
    # Only a digest is stored: the database alone cannot make a cookie.
    assert token not in login.token_hash
    assert login.client == "Werkzeug"


def test_log_out_ends_the_login_and_its_copied_cookies(app, logged_in):
    cookies = saved_cookies(logged_in)
    assert set(cookies) == {SESSION, REMEMBER}
    assert is_logged_in(replay(app, cookies))  # a copy works while the login lasts

    logged_in.post("/logout")
    assert logins_of(app) == []
    thief = replay(app, cookies)
    assert not is_logged_in(thief)
    assert greeting(thief) is None
    # Each cookie alone is as dead as both together.
    assert not is_logged_in(replay(app, {SESSION: cookies[SESSION]}))
    assert not is_logged_in(replay(app, {REMEMBER: cookies[REMEMBER]}))


def test_an_ended_remember_me_cookie_is_deleted_from_the_browser(app, logged_in):
    cookies = saved_cookies(logged_in)
    logged_in.post("/logout")
    thief = replay(app, {REMEMBER: cookies[REMEMBER]})
    response = thief.get("/")
    assert response.status_code == 200
    assert f"{REMEMBER}=;" in response.headers["Set-Cookie"]


def test_a_cookie_from_before_logins_existed_is_anonymous(app, client, auth, code):
    auth.login()
    # 0.1.0's cookies named the user id; after a reset the id may belong to someone else.
    with client.session_transaction() as session:
        session["_user_id"] = str(user(app).id)
    response = client.get("/account")
    assert response.status_code == 302
    assert greeting(client) is None


def test_log_out_everywhere_ends_every_login(app, logged_in):
    other = second_client(app)
    cookies = saved_cookies(logged_in)
    assert len(logins_of(app)) == 2

    response = logged_in.post("/account/logout-everywhere", follow_redirects=True)
    assert response.request.path == "/"
    assert "You have been logged out everywhere." in page(response)
    assert "alert alert-success" in page(response)
    assert "Welcome back" not in page(response)
    assert logins_of(app) == []
    assert not is_logged_in(logged_in)
    assert not is_logged_in(other)
    assert greeting(other) is None
    assert not is_logged_in(replay(app, cookies))


def test_log_out_everywhere_is_a_post_with_its_csrf_token(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    html = page(client.get("/register"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    fields = {"username": "Mei", "email": "mei@example.com", "password": PASSWORD}
    client.post("/register", data={**fields, "confirm": PASSWORD, "csrf_token": token})
    html = page(client.get("/login"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    client.post("/login", data={**fields, "csrf_token": token})
    assert client.get("/account/logout-everywhere").status_code == 405
    assert client.post("/account/logout-everywhere").status_code == 400
    assert is_logged_in(client)
    account = page(client.get("/account"))
    assert re.search(
        r'<form method="post" action="/account/logout-everywhere">\s*'
        r'<input type="hidden" name="csrf_token" value="[^"]+">\s*'
        r'<button type="submit" class="btn btn-outline-danger">Log out everywhere</button>',
        account,
    )


def test_the_account_page_lists_the_logins_and_marks_this_one(app, logged_in):
    second_client(app)
    html = page(logged_in.get("/account"))
    table = html[html.index('data-testid="logins"') :]
    assert table.count("<tr") == 3  # the header and two logins
    assert table.count("this window") == 1
    this_row = re.search(r'<tr data-testid="this-login">(.*?)</tr>', table, re.S).group(1)
    assert "Werkzeug" in this_row


def test_last_seen_is_written_at_most_once_a_minute(app, logged_in):
    (login,) = logins_of(app)
    logged_in.get("/")
    assert logins_of(app)[0].last_seen_at == login.last_seen_at
    an_hour_ago = utcnow() - timedelta(hours=1)
    with app.app_context():
        db.session.execute(update(Login).values(last_seen_at=an_hour_ago))
        db.session.commit()
    logged_in.get("/")
    seen = logins_of(app)[0].last_seen_at
    assert seen > an_hour_ago + timedelta(minutes=59)


def test_logins_no_cookie_can_use_any_more_are_forgotten_at_the_next_login(app, logged_in):
    with app.app_context():
        db.session.execute(update(Login).values(last_seen_at=utcnow() - timedelta(days=40)))
        db.session.commit()
    second_client(app)
    assert len(logins_of(app)) == 1


@pytest.mark.parametrize(
    ("user_agent", "described"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "QtWebEngine/6.8.1 Chrome/122.0.6261.171 Safari/537.36",
            "Doorstep window",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox on Linux",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.5 Safari/605.1.15",
            "Safari on macOS",
        ),
        ("curl/8.5.0", "curl"),
        ("python-requests/2.32.3", "python-requests"),
        ("", "Unknown program"),
    ],
)
def test_a_login_is_described_by_its_program(user_agent, described):
    assert describe_client(user_agent) == described


# --- password ------------------------------------------------------------------------------


def test_the_password_page_has_the_labelled_fields(logged_in):
    html = page(logged_in.get("/account/password"))
    for label in ("Current password", "New password", "Confirm new password"):
        assert f">{label}</label>" in html
    assert ">Change password</button>" in html


def test_changing_the_password_keeps_this_login_and_ends_the_others(app, logged_in):
    other = second_client(app)
    response = logged_in.post(
        "/account/password",
        data={"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        follow_redirects=True,
    )
    assert response.request.path == "/account"
    assert "Your password has been changed." in page(response)
    assert is_logged_in(logged_in)
    assert not is_logged_in(other)
    with app.app_context():
        assert User.by_email("mei@example.com").check_password(NEW_PASSWORD)
        assert not User.by_email("mei@example.com").check_password(PASSWORD)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"current_password": "wrong one"}, "That is not your current password."),
        ({"current_password": ""}, "Enter your current password."),
        ({"password": "short", "confirm": "short"}, "Password must be 8 to 128 characters long."),
        ({"confirm": "something else"}, "The two passwords do not match."),
    ],
)
def test_a_bad_password_change_says_why_and_changes_nothing(app, logged_in, fields, message):
    other = second_client(app)
    data = {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    response = logged_in.post("/account/password", data={**data, **fields})
    assert response.status_code == 200
    assert message in page(response)
    assert is_logged_in(other)
    with app.app_context():
        assert User.by_email("mei@example.com").check_password(PASSWORD)


# --- profile -------------------------------------------------------------------------------


def test_the_profile_page_shows_the_current_values(logged_in):
    html = page(logged_in.get("/account/profile"))
    for label in ("Username", "Email", "Current password"):
        assert f">{label}</label>" in html
    assert 'value="Mei"' in html and 'value="mei@example.com"' in html
    assert ">Save changes</button>" in html


def test_a_new_username_shows_in_the_greeting_at_once(app, logged_in):
    response = logged_in.post(
        "/account/profile",
        data={"username": "陈美玲", "email": "mei@example.com"},
        follow_redirects=True,
    )
    assert response.request.path == "/account"
    assert "Your profile has been saved." in page(response)
    assert greeting(logged_in) == "陈美玲"
    assert user(app).username == "陈美玲"


def test_a_rename_reaches_the_greeting_of_the_other_logins_too(app, logged_in):
    other = second_client(app)
    logged_in.post("/account/profile", data={"username": "Meiling", "email": "mei@example.com"})
    assert greeting(other) == "Meiling"


def test_a_new_email_needs_the_current_password(app, logged_in):
    fields = {"username": "Mei", "email": "mei.chen@example.com"}
    response = logged_in.post("/account/profile", data=fields)
    assert "Enter your current password to change your email." in page(response)
    response = logged_in.post("/account/profile", data={**fields, "current_password": "nope"})
    assert "That is not your current password." in page(response)
    assert user(app, "mei.chen@example.com") is None

    response = logged_in.post("/account/profile", data={**fields, "current_password": PASSWORD})
    assert response.status_code == 302
    assert user(app, "mei.chen@example.com") is not None
    assert AuthActions(app.test_client()).login(email="mei.chen@example.com").status_code == 302


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": "ADA"}, "That username is taken. Try another one."),
        ({"username": "a"}, "Username must be 2 to 32 characters long."),
        ({"username": "mei chen"}, "Use only letters, digits, underscores, dots and hyphens"),
        (
            {"email": "Ada@Example.org", "current_password": PASSWORD},
            "An account already uses that email. Log in instead.",
        ),
        ({"email": "not-an-email"}, "Enter a valid email address"),
    ],
)
def test_a_profile_follows_the_registration_rules(app, logged_in, fields, message):
    AuthActions(app.test_client()).register(username="Ada", email="ada@example.org")
    data = {"username": "Mei", "email": "mei@example.com", **fields}
    response = logged_in.post("/account/profile", data=data)
    assert response.status_code == 200
    assert message in page(response)
    assert (user(app).username, user(app).email) == ("Mei", "mei@example.com")


def test_the_own_name_in_another_case_is_not_taken(app, logged_in):
    response = logged_in.post(
        "/account/profile", data={"username": "MEI", "email": "mei@example.com"}
    )
    assert response.status_code == 302
    assert user(app).username == "MEI"


# --- recovery codes ------------------------------------------------------------------------


def test_registration_shows_a_recovery_code_once_and_stores_only_its_hash(app, auth):
    response = auth.register()
    code = recovery_code_from(page(response))
    assert RECOVERY_CODE.fullmatch(code) and len(code) == 19
    assert not set(code) & set("ILOU")
    assert response.headers["Cache-Control"] == "no-store"
    assert ">I have saved my recovery code</button>" in page(response)
    stored = user(app).recovery_code_hash
    assert stored.startswith("$argon2id$") and code not in stored
    assert normalize_recovery_code(code) not in stored


def test_the_button_under_the_code_goes_on_to_log_in_with_the_email_filled_in(client, auth):
    auth.register()
    response = auth.saved_recovery_code()
    assert response.location == "/login?email=mei@example.com"
    html = page(client.get(response.location))
    assert "Your account is ready — log in to continue." in html
    assert 'value="mei@example.com"' in html
    # Pressed again (a second tab, the back button): nowhere odd, no second flash.
    assert auth.saved_recovery_code().location == "/"


def test_codes_differ(auth):
    codes = {
        recovery_code_from(page(auth.register(username=f"user{n}", email=f"u{n}@example.com")))
        for n in range(5)
    }
    assert len(codes) == 5


def recover(client, code, email="mei@example.com", password=NEW_PASSWORD, confirm=None):
    return post_recover(client, code, email, password, confirm)


def test_the_login_page_links_to_recovery(client):
    html = page(client.get("/login?email=mei@example.com"))
    assert (
        '<a href="/recover?email=mei@example.com" data-carries-email>Forgot your password?</a>'
        in html
    )
    html = page(client.get("/recover?email=mei@example.com"))
    for label in ("Email", "Recovery code", "New password", "Confirm new password"):
        assert f">{label}</label>" in html
    assert 'value="mei@example.com"' in html
    assert ">Reset password</button>" in html


def test_recovering_sets_the_password_ends_every_login_and_spends_the_code(
    app, client, logged_in, code
):
    other = second_client(app)
    stranger = app.test_client()
    response = recover(stranger, code)
    assert response.status_code == 200
    new_code = recovery_code_from(page(response))
    assert new_code != code
    assert response.headers["Cache-Control"] == "no-store"
    assert not is_logged_in(logged_in) and not is_logged_in(other)

    response = AuthActions(stranger).saved_recovery_code()
    assert response.location == "/login?email=mei@example.com"
    html = page(stranger.get(response.location))
    assert "Your password has been reset." in html and "alert alert-success" in html
    assert AuthActions(stranger).login(password=NEW_PASSWORD).status_code == 302
    assert AuthActions(app.test_client()).login(password=PASSWORD).status_code == 200

    # The used code is spent; the new one works.
    again = recover(app.test_client(), code, password="yet another password")
    assert "That recovery code does not match." in page(again)
    assert recover(app.test_client(), new_code, password="yet another password").status_code == 200


@pytest.mark.parametrize(
    "typed",
    [
        lambda code: code.lower(),
        lambda code: code.replace("-", ""),
        lambda code: " ".join(code.split("-")),
        lambda code: f"  {code}  ",
    ],
    ids=["lower-case", "no-hyphens", "spaces", "padded"],
)
def test_a_code_is_read_ignoring_case_and_hyphens(app, code, typed):
    assert recovery_code_from(page(recover(app.test_client(), typed(code))))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"recovery_code": "0000-0000-0000-0000"}, "That recovery code does not match."),
        ({"email": "nobody@example.com"}, "That recovery code does not match."),
        ({"recovery_code": ""}, "Enter the recovery code you saved."),
        ({"recovery_code": "x" * 500}, "That recovery code does not match."),
        ({"password": "short"}, "Password must be 8 to 128 characters long."),
        ({"confirm": "something else"}, "The two passwords do not match."),
    ],
)
def test_a_bad_recovery_says_why_and_changes_nothing(app, client, code, fields, message):
    data = {"email": "mei@example.com", "recovery_code": code, **fields}
    response = recover(client, **{"code": data.pop("recovery_code"), **data})
    assert response.status_code == 200
    assert message in page(response)
    assert "recovery-code" not in page(response).split("<form", 1)[0]
    with app.app_context():
        mei = User.by_email("mei@example.com")
        assert mei.check_password(PASSWORD) and mei.check_recovery_code(code)


def test_a_new_recovery_code_from_the_account_page_replaces_the_old(app, logged_in, code):
    html = page(logged_in.get("/account/recovery-code"))
    assert ">Current password</label>" in html and ">Make a new recovery code</button>" in html
    wrong = logged_in.post("/account/recovery-code", data={"current_password": "nope"})
    assert "That is not your current password." in page(wrong)

    response = logged_in.post("/account/recovery-code", data={"current_password": PASSWORD})
    new_code = recovery_code_from(page(response))
    response = AuthActions(logged_in).saved_recovery_code()
    assert response.location == "/account"
    assert "the old one no longer works" in page(logged_in.get("/account"))
    with app.app_context():
        mei = User.by_email("mei@example.com")
        assert not mei.check_recovery_code(code) and mei.check_recovery_code(new_code)
    assert is_logged_in(logged_in)  # making a code ends no login


# --- export --------------------------------------------------------------------------------


def test_export_downloads_the_account_as_json_without_secrets(app, logged_in):
    second_client(app)
    assert 'href="/account/export">Download my data</a>' in page(logged_in.get("/account"))
    response = logged_in.get("/account/export")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Content-Disposition"] == 'attachment; filename="doorstep-Mei.json"'
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.get_data(as_text=True))
    assert data["username"] == "Mei" and data["email"] == "mei@example.com"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", data["created_at"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", data["last_login_at"])
    assert [login["current"] for login in data["logins"]] == [True, False]
    assert set(data["logins"][0]) == {"client", "created_at", "last_seen_at", "current"}
    text = response.get_data(as_text=True)
    assert "argon2" not in text and "token" not in text and "hash" not in text


def test_export_names_the_file_after_a_chinese_username_too(app, client, auth):
    auth.register(username="陈美玲", email="meiling@example.com")
    auth.login(email="meiling@example.com")
    disposition = client.get("/account/export").headers["Content-Disposition"]
    assert disposition == (
        'attachment; filename="doorstep-___.json"; '
        "filename*=UTF-8''doorstep-%E9%99%88%E7%BE%8E%E7%8E%B2.json"
    )


# --- delete --------------------------------------------------------------------------------


def test_deleting_the_account_removes_it_and_its_logins(app, logged_in):
    other = second_client(app)
    html = page(logged_in.get("/account/delete"))
    assert ">Password</label>" in html and ">Delete account</button>" in html

    wrong = logged_in.post("/account/delete", data={"password": "nope"})
    assert "That is not your current password." in page(wrong)
    assert user(app) is not None

    response = logged_in.post("/account/delete", data={"password": PASSWORD}, follow_redirects=True)
    assert response.request.path == "/"
    assert "Your account has been deleted." in page(response)
    assert "alert alert-success" in page(response)
    assert user(app) is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Login)) == 0
    assert not is_logged_in(logged_in) and not is_logged_in(other)

    # The email and the username are free again.
    again = AuthActions(app.test_client())
    assert again.register().status_code == 200
    assert again.login().status_code == 302


def test_every_account_page_needs_a_login(client):
    for path in ("/account", "/account/password", "/account/profile", "/account/delete",
                 "/account/export", "/account/recovery-code"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 302
        assert response.location == f"/login?next={path}"


# --- data from 0.1.0 -----------------------------------------------------------------------


@pytest.mark.parametrize("database_url", [""], ids=["sqlite"])
def test_a_0_1_0_account_logs_in_and_its_login_is_listed(make_app, data_dir, database_url):
    load_0_1_0_database(data_dir)
    client = make_app().test_client()
    assert (
        AuthActions(client).login(email="zoe@example.com", password="zoë's password 1").status_code
        == 302
    )
    html = page(client.get("/account"))
    assert 'data-testid="this-login"' in html
    # 0.1.0 made no recovery code: the account page offers one.
    assert 'data-testid="no-recovery-code"' in html
