"""Logins as Flask-Login sees them: each one a row that its session and remember-me cookie
name by a random token, so that ending the row ends every copy of those cookies."""

from __future__ import annotations

import logging
import re

from flask import Response, current_app, make_response, render_template, request, session
from flask_login import login_user, logout_user
from flask_login.utils import decode_cookie
from sqlalchemy.exc import SQLAlchemyError

from desktop.languages import N_
from webapp.database import DatabaseFileMoved
from webapp.extensions import db, login_manager
from webapp.models import Login, User

log = logging.getLogger("doorstep.logins")

# Where the "I have saved my recovery code" button goes, and what it says when it gets there.
AFTER_RECOVERY_CODE = "doorstep_after_recovery_code"


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """Return the user of the login a session or remember-me cookie names, if it still exists."""
    login = Login.by_token(token)
    if login is None:
        forget_ended_login(token)
        return None
    user = login.user
    user.current_login = login
    if login.seen():
        save_quietly("the time a login was last seen")
    # The greeting lives in the session; a rename elsewhere or a cookie-restored login updates it.
    if session.get("username") != user.username:
        session["username"] = user.username
    return user


def forget_ended_login(token: str) -> None:
    """Make a session whose login was ended anonymous, and drop its remember-me cookie."""
    session.pop("_user_id", None)
    session.pop("username", None)
    cookie = request.cookies.get(current_app.config["REMEMBER_COOKIE_NAME"])
    if cookie is not None and decode_cookie(cookie) == token:
        session["_remember"] = "clear"  # Flask-Login then deletes the cookie in the response


def save_quietly(what: str) -> None:
    """Commit a bookkeeping change; if the disk refuses it, the page is still worth showing."""
    try:
        db.session.commit()
    except (SQLAlchemyError, DatabaseFileMoved) as exc:
        db.session.rollback()
        log.warning("Could not save %s: %s", what, exc)


def log_in(user: User, remember: bool) -> None:
    """Start a new login for `user` in a fresh session (no session fixation)."""
    # Idle longer than this, no cookie for a login can still be valid: it may go.
    config = current_app.config
    unusable_after = max(config["REMEMBER_COOKIE_DURATION"], config["PERMANENT_SESSION_LIFETIME"])
    Login.end_unusable(unusable_after + Login.SEEN_RESOLUTION)
    user.start_login(describe_client(request.user_agent.string))
    # Saved first: if the disk refuses the write, the visitor is not logged in either.
    db.session.commit()
    session.clear()
    login_user(user, remember=remember)
    session["username"] = user.username


def log_out() -> None:
    """Forget the login in this session and its remember-me cookie."""
    logout_user()
    session.pop("username", None)


def describe_client(user_agent: str) -> str:
    """Return a short name for the program behind `user_agent`, like "Firefox on Linux"."""
    if "QtWebEngine" in user_agent:
        return WINDOW
    browser = next(
        (name for marker, name in _BROWSERS if marker in user_agent),
        None,
    )
    if browser is None:
        # An HTTP client names itself first: "python-requests/2.32.3", "curl/8.5.0".
        product = re.match(r"[\w.-]+", user_agent)
        return product.group(0)[:60] if product else UNKNOWN
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    return f"{browser} on {system}" if system else browser


# Stored in English, translated where shown (webapp.i18n.client_name).
WINDOW = N_("Doorstep window")
UNKNOWN = N_("Unknown program")
CLIENT_NAMES = frozenset({WINDOW, UNKNOWN})
# Order matters: Edge's and Chromium's user agents also say Chrome and Safari.
_BROWSERS = [
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("HeadlessChrome/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
]
_SYSTEMS = [
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
]
BROWSERS = frozenset(name for _marker, name in _BROWSERS)
SYSTEMS = frozenset(name for _marker, name in _SYSTEMS)


def show_recovery_code(code: str, *, then: str, message: str) -> Response:
    """Render the page that shows a new recovery code once; its button goes on to `then`,
    where `message` (English, marked with N_) is flashed in the language of that request."""
    # The code itself stays out of the session cookie: it is in this one response only.
    session[AFTER_RECOVERY_CODE] = {"url": then, "message": message}
    # Sent with no-store, as every page is (webapp/security.py): nor kept in a cache on disk.
    return make_response(render_template("auth/recovery_code.html", code=code))
