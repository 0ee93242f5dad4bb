"""Fuzzing every route and form with Hypothesis: random and malformed requests, anonymous and
logged in, never get a 5xx, and a request that is refused changes nothing stored.

The profiles (tests/conftest.py): "ci" by default, 500 examples a test, derandomized;
HYPOTHESIS_PROFILE=deep for a long local search.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from werkzeug.datastructures import MultiDict

from tests.support.data import PASSWORD
from tests.support.forms import csrf_token_from
from webapp.extensions import db
from webapp.models import Login, User

EMAIL = "mei@example.com"
GET_PATHS = [
    "/", "/register", "/login", "/recover", "/account", "/account/profile",
    "/account/password", "/account/recovery-code", "/account/export", "/account/delete",
    "/static/app.css",
]  # fmt: skip
POST_PATHS = [
    "/register", "/login", "/logout", "/recover", "/recovery-code/saved", "/account/profile",
    "/account/password", "/account/recovery-code", "/account/delete",
    "/account/logout-everywhere", "/language",
]  # fmt: skip
FIELDS = [
    "username", "email", "password", "confirm", "remember", "recovery_code",
    "current_password", "csrf_token", "locale", "next",
]  # fmt: skip
# Values that pass some checks, so examples reach past the first validator.
PLAUSIBLE = [
    "", " ", EMAIL, " MEI@Example.com ", "someone@example.com", PASSWORD, "Mei", "Zoë", "美玲",
    "y", "on", "new password 12", "en", "zh_Hans", "0000-0000-0000-0000", "/account", "//evil.example",
    "/\\evil.example", "https://evil.example/", "a" * 32, "a" * 33, "a" * 128, "a" * 129,
    "x" * 250 + "@example.com", "\x00", "mei@example.com\x00", "\u200b", "\ufeffMei",
]  # fmt: skip
# Tables whose rows a refused request may change by design: the per-email back-off counts
# refused passwords (issue #11), and Alembic's version is nobody's data.
BOOKKEEPING = {"sign_in_throttles", "alembic_version"}
ODD_CONTENT_TYPES = [
    None, "text/plain", "application/json", "application/xml", "multipart/form-data",
    "multipart/form-data; boundary=", "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=bogus", "application/octet-stream", "\x00/\x00",
]  # fmt: skip

# Any code point, lone surrogates included: they reach the server percent-encoded as the
# (invalid) UTF-8 bytes of the surrogate, the only way they can travel in a URL or a form.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
values = st.one_of(
    st.sampled_from(PLAUSIBLE),
    any_text,
    st.text(max_size=300),
    st.integers(0, 3000).map(lambda n: "é" * n),
)


def encode(text: str) -> str:
    """Percent-encode `text` as UTF-8, lone surrogates as their bytes (surrogatepass)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def urlencoded(pairs: list[tuple[str, str]]) -> str:
    """A query string or form body of `pairs`, repeats and surrogates kept."""
    return "&".join(f"{encode(key)}={encode(value)}" for key, value in pairs)


pairs = st.lists(
    st.tuples(st.one_of(st.sampled_from(FIELDS), any_text, st.just("next")), values), max_size=8
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS), children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Keyword arguments for the test client's open(): a body of any kind, or none."""
    # A form, a multipart form with files, a JSON document, raw bytes under an odd content
    # type, or one past MAX_CONTENT_LENGTH.
    kind = draw(st.sampled_from(["form", "multipart", "json", "raw", "none", "huge"]))
    if kind == "form":
        return {
            "data": urlencoded(draw(pairs)),
            "content_type": "application/x-www-form-urlencoded",
        }
    if kind == "multipart":
        # Files where text is expected: Flask-WTF's forms read request.files too.
        form: MultiDict[str, Any] = MultiDict()
        for key, value in draw(pairs):
            key, text = (
                part.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
                for part in (key, value)
            )  # multipart carries UTF-8 text: no lone surrogates
            if draw(st.booleans()):
                form.add(key, (io.BytesIO(text.encode()), draw(st.sampled_from(["", "a.txt"]))))
            else:
                form.add(key, text)
        return {"data": form, "content_type": "multipart/form-data"}
    if kind == "json":
        return {"json": draw(json_values)}
    if kind == "raw":
        return {
            "data": draw(st.binary(max_size=300)),
            "content_type": draw(st.sampled_from(ODD_CONTENT_TYPES)),
        }
    if kind == "huge":  # past MAX_CONTENT_LENGTH: refused before any form reads it
        return {
            "data": "email=" + "a" * (1024 * 1024 + 1),
            "content_type": "application/x-www-form-urlencoded",
        }
    return {}


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """A request for the test client: method, path, query string and body."""
    method = draw(st.sampled_from(["GET", "POST", "POST", "POST", "HEAD", "PUT", "DELETE"]))
    known = GET_PATHS if method in ("GET", "HEAD") else POST_PATHS
    path = draw(
        st.one_of(
            st.sampled_from(known),
            st.sampled_from(GET_PATHS + POST_PATHS),
            any_text.map(lambda text: "/" + encode(text)),
            st.sampled_from(["/account/", "/account/nothing", "//", "/static/../webapp"]),
        )
    )
    query = draw(
        st.lists(st.tuples(st.sampled_from(["next", "email", "token", "x"]), values), max_size=3)
    )
    return {"method": method, "path": path, "query_string": urlencoded(query), **draw(bodies())}


def snapshot(database: Path) -> dict[str, list[tuple]]:
    """Every row of every table but the bookkeeping ones, read without changing anything."""
    connection = sqlite3.connect(f"{database.absolute().as_uri()}?mode=ro", uri=True)
    try:
        tables = [
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if name not in BOOKKEEPING
        ]
        return {
            table: sorted(connection.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
            for table in tables
        }
    finally:
        connection.close()


def without_last_seen(rows: dict[str, list[tuple]], database: Path) -> dict[str, list[tuple]]:
    """`rows` with the logins' last-seen time blanked: any page a login uses may note it."""
    connection = sqlite3.connect(f"{database.absolute().as_uri()}?mode=ro", uri=True)
    try:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(logins)")]
    finally:
        connection.close()
    seen = columns.index("last_seen_at")
    return {
        **rows,
        "logins": [row[:seen] + (None,) + row[seen + 1 :] for row in rows.get("logins", [])],
    }


def reset_account(app: Any) -> None:
    """Make the one account exist with its known password and no logins."""
    # Whatever the last example did to it: examples share the app and its database.
    with app.app_context():
        user = User.by_email(EMAIL)
        if user is not None and user.username == "Mei" and user.check_password(PASSWORD):
            db.session.execute(delete(Login))
            db.session.commit()
            return
        db.session.execute(delete(Login))
        db.session.execute(delete(User))
        db.session.commit()
        User.create(username="Mei", email=EMAIL, password=PASSWORD)


def changed_on_purpose(method: str, response: Any) -> bool:
    """Whether a response says its request was accepted, and so may have changed data."""
    if method != "POST":
        return False
    if response.status_code in (302, 303):
        # Sent to log in (or to register an unknown email) is a refusal.
        location = response.headers.get("Location", "")
        return not location.startswith(("/login", "/register"))
    # A new recovery code (register, recover, replace) is shown on a page of its own.
    return response.status_code == 200 and b'data-testid="recovery-code"' in response.data


def database_of(app: Any) -> Path:
    """The app's SQLite file."""
    return Path(app.config["DATA_DIR"]) / "doorstep.db"


@pytest.fixture
def fuzz_app(make_app):
    """An app whose limits would otherwise turn most examples into the same 429."""
    return make_app(RATELIMIT_ENABLED=False)


def send_and_check(app: Any, request: dict[str, Any], logged_in: bool) -> None:
    """Send `request`; check: no 5xx, and nothing stored changes unless it was accepted."""
    reset_account(app)
    client = app.test_client()
    if logged_in:
        login = client.post("/login", data={"email": EMAIL, "password": PASSWORD})
        assert login.status_code == 302, login.status_code
    database = database_of(app)
    before = snapshot(database)

    response = client.open(**request)
    response.close()  # a static file's response holds the file open
    event(f"{request['method']} {response.status_code}")  # --hypothesis-show-statistics

    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True))
    if not changed_on_purpose(request["method"], response):
        assert without_last_seen(snapshot(database), database) == without_last_seen(
            before, database
        ), (response.status_code, response.headers.get("Location"))


# Hypothesis runs every example in the same app: reset_account() restores what they share.
FUZZ_SETTINGS = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@FUZZ_SETTINGS
@given(request=requests(), logged_in=st.booleans())
def test_no_request_to_any_route_is_a_server_error_or_changes_data_when_refused(
    fuzz_app, request, logged_in
):
    send_and_check(fuzz_app, request, logged_in)


@FUZZ_SETTINGS
@given(
    path=st.sampled_from(POST_PATHS),
    query=st.lists(st.tuples(st.sampled_from(["next", "email"]), values), max_size=2),
    body=bodies(),
    logged_in=st.booleans(),
)
def test_no_body_posted_to_a_form_is_a_server_error_or_changes_data_when_refused(
    fuzz_app, path, query, body, logged_in
):
    request = {"method": "POST", "path": path, "query_string": urlencoded(query), **body}
    send_and_check(fuzz_app, request, logged_in)


@pytest.fixture
def csrf_app(make_app):
    """An app with CSRF protection on, as shipped (the limiter off: this is about CSRF)."""
    return make_app(WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=False)


@FUZZ_SETTINGS
@given(
    path=st.sampled_from(POST_PATHS),
    token=st.one_of(st.none(), st.just(""), any_text, st.text("0123456789abcdef.-_", max_size=90)),
    fields=pairs,
    logged_in=st.booleans(),
)
def test_a_missing_or_forged_csrf_token_is_a_400_page(csrf_app, path, token, fields, logged_in):
    reset_account(csrf_app)
    client = csrf_app.test_client()
    if logged_in:
        form = client.get("/login").get_data(as_text=True)
        fields_in = {"csrf_token": csrf_token_from(form), "email": EMAIL, "password": PASSWORD}
        assert client.post("/login", data=fields_in).status_code == 302
    database = database_of(csrf_app)
    before = snapshot(database)
    body = [(key, value) for key, value in fields if key != "csrf_token"]
    if token is not None:
        body.append(("csrf_token", token))

    response = client.post(
        path, data=urlencoded(body), content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400, response.status_code
    assert "This form has expired" in response.get_data(as_text=True)
    assert without_last_seen(snapshot(database), database) == without_last_seen(before, database)
