"""The landing page, the account page, the navbar, flash alerts and error pages."""

from __future__ import annotations

import re

import pytest

from tests.support.forms import AuthActions
from webapp.extensions import db
from webapp.models import User


def test_first_visit_shows_the_landing_page_without_a_greeting(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<title>Doorstep</title>" in html
    assert "Welcome back" not in html
    assert 'role="alert"' not in html


def test_landing_page_greets_the_logged_in_user(client, auth):
    auth.register()
    auth.login()
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'<h1 class="card-title[^"]*">Welcome back, Mei!</h1>', html)


def test_greeting_is_escaped(client, auth):
    # The username rules forbid markup, so plant one in the session directly.
    with client.session_transaction() as flask_session:
        flask_session["username"] = "<b>Mei</b>"
    html = client.get("/").get_data(as_text=True)
    assert "Welcome back, &lt;b&gt;Mei&lt;/b&gt;!" in html


def test_navbar_when_logged_out(client):
    html = client.get("/").get_data(as_text=True)
    assert 'class="navbar-brand fw-semibold" href="/">Doorstep</a>' in html
    assert ">Log in</a>" in html and ">Create account</a>" in html
    assert ">Log out</button>" not in html


def test_navbar_when_logged_in(client, auth):
    auth.register()
    auth.login()
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="nav-username">Mei</span>' in html
    assert ">Account</a>" in html
    assert re.search(
        r'<form method="post" action="/logout"[^>]*>\s*<input type="hidden" name="csrf_token"', html
    )
    assert ">Log out</button>" in html
    assert ">Log in</a>" not in html


def test_account_page_shows_the_users_details(client, auth):
    auth.register()
    auth.login()
    html = client.get("/account").get_data(as_text=True)
    assert 'data-testid="account-username">Mei<' in html
    assert 'data-testid="account-email">mei@example.com<' in html
    assert "Member since" in html and "Last login" in html
    assert "never" not in html


def test_account_page_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.location == "/login?next=/account"
    html = client.get(response.location).get_data(as_text=True)
    assert "Please log in to see that page." in html
    assert "alert alert-info" in html


def test_after_asking_to_log_in_the_user_comes_back(client, auth):
    auth.register()
    location = client.get("/account").location
    response = client.post(location, data={"email": "mei@example.com", "password": "correct horse"})
    assert response.location == "/account"


def test_flashes_use_a_third_of_large_screens_and_all_of_small_ones(client, auth):
    auth.register()
    auth.login()
    auth.logout()
    html = client.get("/").get_data(as_text=True)
    alert = re.search(
        r'<div class="col-12 col-lg-4">\s*<div class="alert alert-success alert-dismissible fade show" role="alert">\s*'
        r'You have been logged out.\s*<button type="button" class="btn-close" data-bs-dismiss="alert" aria-label="Close">',
        html,
    )
    assert alert, html


def test_several_flashes_stack(client, auth):
    auth.register()
    auth.saved_recovery_code()  # flashes "account ready"; not shown before the next page
    client.get("/account")  # flashes "please log in"
    html = client.get("/login").get_data(as_text=True)
    assert html.count('role="alert"') == 2
    assert html.index("Your account is ready") < html.index("Please log in")


def test_flashes_show_once(client, auth):
    auth.register()
    auth.saved_recovery_code()
    client.get("/login")
    assert 'role="alert"' not in client.get("/login").get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path", "status", "text"),
    [
        ("get", "/no/such/page", 404, "There is no page at this address."),
        ("get", "/logout", 405, "This page cannot be used that way."),
        ("put", "/login", 405, "This page cannot be used that way."),
    ],
)
def test_error_pages_use_the_layout_and_lead_home(client, method, path, status, text):
    response = getattr(client, method)(path)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert text in html
    assert 'class="navbar-brand' in html
    assert '<a class="btn btn-primary" href="/">Back to the start page</a>' in html


def test_oversized_request_is_refused_with_413(client):
    response = client.post("/register", data={"username": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert "Back to the start page" in response.get_data(as_text=True)


def test_a_crash_shows_the_500_page_and_keeps_stored_data(make_app):
    app = make_app(TESTING=False, PROPAGATE_EXCEPTIONS=False)

    @app.get("/boom")
    def boom():
        db.session.add(User(username="Half", email="half@example.com", password="half-done!"))
        db.session.flush()
        raise RuntimeError("simulated bug")

    client = app.test_client()
    AuthActions(client).register(password="correct horse")
    response = client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)
    with app.app_context():
        assert User.by_email("mei@example.com") is not None
        assert User.by_email("half@example.com") is None


def test_pages_load_nothing_from_other_hosts(client, auth):
    auth.register()
    pages = [client.get(path).get_data(as_text=True) for path in ("/", "/login", "/register")]
    auth.login()
    pages += [client.get(path).get_data(as_text=True) for path in ("/", "/account")]
    for html in pages:
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert url.startswith(("/", "#")), url


def test_bootstrap_is_served_locally(client):
    response = client.get("/static/vendor/bootstrap/bootstrap.min.css")
    assert response.status_code == 200
    assert b"Bootstrap" in response.data[:200]
    response.close()


def test_a_checkbox_with_an_error_is_tied_to_it_like_any_field(app):
    # No form of Doorstep's can fail a checkbox yet: the macro is ready for the first that does.
    from webapp.auth.forms import LoginForm

    with app.test_request_context():
        form = LoginForm()
        form.remember.errors = ["Tick this to go on."]
        macros = app.jinja_env.get_template("_forms.html").module
        html = str(macros.checkbox(form.remember, help="Stays logged in."))
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="remember-help remember-errors"' in html
    assert re.search(r'id="remember-errors">\s*<div>Tick this to go on.</div>', html)
    assert 'class="form-check-input is-invalid"' in html


def test_autofocus_goes_to_the_first_field_still_to_fill(client, auth):
    # A fresh form focuses its first field; with the email known, the password.
    assert html_autofocus(client.get("/login")) == ["email"]
    assert html_autofocus(client.get("/login?email=mei%40example.com")) == ["password"]
    assert html_autofocus(client.get("/register")) == ["username"]
    assert html_autofocus(client.get("/recover?email=mei%40example.com")) == ["recovery_code"]


def html_autofocus(response) -> list[str]:
    """The ids of the inputs a page autofocuses."""
    html = response.get_data(as_text=True)
    return re.findall(r'<input[^>]*\bautofocus\b[^>]*\bid="([^"]+)"', html) + re.findall(
        r'<input[^>]*\bid="([^"]+)"[^>]*\bautofocus\b', html
    )
