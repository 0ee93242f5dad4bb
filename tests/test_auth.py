"""Creating accounts, logging in and logging out, as the forms present them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.support.data import PASSWORD
from tests.support.forms import csrf_token_from, recovery_code_from
from webapp.extensions import db
from webapp.models import User


@pytest.fixture
def database_url(sqlite_and_postgresql):
    """Every test here runs on SQLite and on a real PostgreSQL server."""
    return sqlite_and_postgresql


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def test_register_page_has_the_labelled_fields(client):
    html = client.get("/register").get_data(as_text=True)
    for label in ("Username", "Email", "Password", "Confirm password"):
        assert f">{label}</label>" in html
    assert ">Create account</button>" in html


def test_register_stores_the_user_and_sends_them_to_log_in(client, auth, app):
    response = auth.register(username="Mei", email="  Mei.Chen@Example.COM ")
    assert response.status_code == 200
    recovery_code_from(response.get_data(as_text=True))  # shown once, before the login page
    response = auth.saved_recovery_code()
    assert response.status_code == 302
    assert response.location.startswith("/login")
    with app.app_context():
        user = User.by_username("mei")
        assert user.username == "Mei"
        assert user.email == "mei.chen@example.com"
        assert user.password_hash.startswith("$argon2id$")
        assert user.created_at is not None and user.last_login_at is None
    page = client.get(response.location).get_data(as_text=True)
    assert "Your account is ready — log in to continue." in page
    assert "alert alert-success" in page
    assert 'value="mei.chen@example.com"' in page


def test_chinese_username_is_welcome(client, auth):
    assert auth.register(username="陈美玲", email="meiling@example.com").status_code == 200
    auth.login(email="meiling@example.com")
    assert "Welcome back, 陈美玲!" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": "a"}, "Username must be 2 to 32 characters long."),
        ({"username": "a" * 33}, "Username must be 2 to 32 characters long."),
        ({"username": "mei chen"}, "Use only letters, digits, underscores, dots and hyphens"),
        ({"username": "mei<script>"}, "Use only letters, digits, underscores, dots and hyphens"),
        ({"username": ""}, "Choose a username."),
        ({"email": "not-an-email"}, "Enter a valid email address"),
        ({"email": "a@" + "b" * 250 + ".com"}, "Email addresses are at most 254 characters long."),
        ({"email": ""}, "Enter your email address."),
        ({"password": "short", "confirm": "short"}, "Password must be 8 to 128 characters long."),
        (
            {"password": "x" * 129, "confirm": "x" * 129},
            "Password must be 8 to 128 characters long.",
        ),
        ({"confirm": "something else"}, "The two passwords do not match."),
        ({"password": "", "confirm": ""}, "Choose a password."),
    ],
)
def test_register_rejects_bad_input_with_a_field_message(client, app, fields, message):
    data = {
        "username": "Mei",
        "email": "mei@example.com",
        "password": PASSWORD,
        "confirm": PASSWORD,
    }
    data.update(fields)
    response = client.post("/register", data=data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in html
    assert 'class="invalid-feedback"' in html
    assert user_count(app) == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": "MEI", "email": "other@example.com"}, "That username is taken."),
        ({"username": "Other", "email": "MEI@EXAMPLE.COM"}, "An account already uses that email."),
    ],
)
def test_register_refuses_duplicates_ignoring_case(client, auth, app, fields, message):
    auth.register()
    response = auth.register(**fields)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert user_count(app) == 1
    with app.app_context():  # the first account is untouched
        assert User.by_email("mei@example.com").username == "Mei"


def test_unicode_usernames_are_unique_ignoring_case(auth, app):
    auth.register(username="Zoë", email="zoe@example.com")
    response = auth.register(username="ZOË", email="zoe2@example.com")
    assert "That username is taken." in response.get_data(as_text=True)
    assert user_count(app) == 1


def test_password_may_hold_any_characters(client, auth):
    odd_password = "  pässwörd 密码 \"'<>  "
    auth.register(password=odd_password)
    assert auth.login(password=odd_password).location == "/"


def test_login_page_has_the_labelled_fields(client):
    html = client.get("/login").get_data(as_text=True)
    for label in ("Email", "Password", "Remember me"):
        assert f">{label}</label>" in html
    assert ">Log in</button>" in html


def test_login_with_unknown_email_offers_to_create_an_account(client):
    response = client.post("/login", data={"email": "New@Example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response.location.startswith("/register?email=")
    page = client.get(response.location).get_data(as_text=True)
    assert "No account uses that email yet" in page
    assert "alert alert-info" in page
    assert 'value="new@example.com"' in page.lower()


def test_login_with_wrong_password_says_so_on_the_form(client, auth):
    auth.register()
    response = auth.login(password="wrong password")
    assert response.status_code == 200
    assert "Incorrect email or password." in response.get_data(as_text=True)
    with client.session_transaction() as flask_session:
        assert "username" not in flask_session


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "nonsense"}, "Enter a valid email address"),
        ({"password": ""}, "Enter your password."),
        ({"password": "p" * 129}, "Passwords are at most 128 characters long."),
    ],
)
def test_login_rejects_bad_input_with_a_field_message(client, auth, fields, message):
    auth.register()
    response = client.post(
        "/login", data={"email": "mei@example.com", "password": PASSWORD, **fields}
    )
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)


def test_login_puts_the_username_in_a_fresh_session(client, auth, app):
    auth.register()
    with client.session_transaction() as flask_session:
        flask_session["planted"] = "by an attacker"
    response = auth.login(email="  MEI@example.com ")
    assert response.location == "/"
    with client.session_transaction() as flask_session:
        assert flask_session["username"] == "Mei"
        assert "planted" not in flask_session
    with app.app_context():
        assert User.by_email("mei@example.com").last_login_at is not None


@pytest.mark.parametrize(
    ("next_url", "lands_on"),
    [
        ("/account", "/account"),
        ("/account?tab=1", "/account?tab=1"),
        ("http://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("https:evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_login_follows_only_a_safe_next(client, auth, next_url, lands_on):
    auth.register()
    response = client.post(
        "/login",
        query_string={"next": next_url},
        data={"email": "mei@example.com", "password": PASSWORD},
    )
    assert response.location == lands_on


def test_remember_me_restores_login_and_greeting_without_a_session(client, auth, make_app):
    auth.register()
    auth.login(remember=True)
    remember = client.get_cookie("doorstep_remember")
    assert remember is not None and remember.http_only

    # The session is gone (the app was restarted, the window closed); the cookie stays.
    later = make_app().test_client()
    later.set_cookie("doorstep_remember", remember.value)
    html = later.get("/").get_data(as_text=True)
    assert "Welcome back, Mei!" in html
    assert later.get("/account").status_code == 200


def test_without_remember_me_no_remember_cookie_is_set(client, auth):
    auth.register()
    auth.login(remember=False)
    assert client.get_cookie("doorstep_remember") is None


def test_login_upgrades_a_hash_made_with_weaker_parameters(make_app, data_dir):
    weak = make_app()
    weak.test_client().post(
        "/register",
        data={
            "username": "Mei",
            "email": "mei@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    stronger = make_app(ARGON2_TIME_COST=2, ARGON2_MEMORY_COST=16)
    with stronger.app_context():
        old_hash = User.by_email("mei@example.com").password_hash
    stronger.test_client().post("/login", data={"email": "mei@example.com", "password": PASSWORD})
    with stronger.app_context():
        new_hash = User.by_email("mei@example.com").password_hash
    assert old_hash.startswith("$argon2id$v=19$m=8,t=1")
    assert new_hash.startswith("$argon2id$v=19$m=16,t=2")


def test_default_argon2_parameters_meet_owasp_minimum(tmp_path):
    from webapp import create_app

    config = create_app({"DATA_DIR": str(tmp_path)}).config
    assert config["ARGON2_MEMORY_COST"] >= 19 * 1024
    assert config["ARGON2_TIME_COST"] >= 2


def test_logout_flashes_success_and_forgets_the_greeting(client, auth):
    auth.register()
    auth.login()
    response = auth.logout()
    assert response.status_code == 302 and response.location == "/"
    html = client.get("/").get_data(as_text=True)
    assert "You have been logged out." in html
    assert "alert alert-success alert-dismissible" in html
    assert "Welcome back" not in html
    with client.session_transaction() as flask_session:
        assert "username" not in flask_session
        assert "_user_id" not in flask_session


def test_get_logout_does_not_log_anyone_out(client, auth):
    auth.register()
    auth.login()
    response = client.get("/logout")
    assert response.status_code == 405
    assert "Welcome back, Mei!" in client.get("/").get_data(as_text=True)


def test_logout_when_anonymous_asks_to_log_in_without_coming_back_to_logout(client):
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.location == "/login"


def test_logout_requires_a_csrf_token_when_csrf_is_on(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    register_page = client.get("/register").get_data(as_text=True)
    client.post(
        "/register",
        data={
            "csrf_token": csrf_token_from(register_page),
            "username": "Mei",
            "email": "mei@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    login_page = client.get("/login").get_data(as_text=True)
    client.post(
        "/login",
        data={
            "csrf_token": csrf_token_from(login_page),
            "email": "mei@example.com",
            "password": PASSWORD,
        },
    )
    home = client.get("/").get_data(as_text=True)
    assert "Welcome back, Mei!" in home

    forged = client.post("/logout")
    assert forged.status_code == 400
    assert "This form has expired" in forged.get_data(as_text=True)
    assert "Welcome back, Mei!" in client.get("/").get_data(as_text=True)

    genuine = client.post("/logout", data={"csrf_token": csrf_token_from(home)})
    assert genuine.location == "/"
    assert "You have been logged out." in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/register", "/login"])
def test_forms_without_csrf_token_are_rejected_when_csrf_is_on(make_app, path):
    app = make_app(WTF_CSRF_ENABLED=True)
    response = app.test_client().post(
        path,
        data={
            "username": "Mei",
            "email": "mei@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 400
    assert "Back to the start page" in response.get_data(as_text=True)
    assert user_count(app) == 0


def test_session_cookie_is_named_and_locked_down(client, auth):
    auth.register()
    response = auth.login()
    cookie_header = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("doorstep_session=")
    )
    assert "HttpOnly" in cookie_header
    assert "SameSite=Lax" in cookie_header


def test_landing_page_copes_with_a_session_that_has_no_username(client):
    # The article's KeyError case: a session exists but holds no username.
    with client.session_transaction() as flask_session:
        flask_session["something_else"] = 1
    response = client.get("/")
    assert response.status_code == 200
    assert "Welcome back" not in response.get_data(as_text=True)
