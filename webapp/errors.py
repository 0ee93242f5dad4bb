"""Error pages in the app's own layout."""

from __future__ import annotations

import logging
import math
import os
import time

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError

from desktop.fatal import sentence
from desktop.languages import N_
from webapp.database import DatabaseFileMoved, DatabaseRefused, sqlite_path
from webapp.extensions import db, limiter, login_manager

log = logging.getLogger("doorstep.errors")

# Werkzeug's names of the statuses Doorstep's pages can answer with, to translate them.
TITLES = {
    400: N_("Bad Request"),
    403: N_("Forbidden"),
    404: N_("Not Found"),
    405: N_("Method Not Allowed"),
    413: N_("Request Entity Too Large"),
    429: N_("Too Many Requests"),
    500: N_("Internal Server Error"),
}
MESSAGES = {
    400: N_("The request could not be understood."),
    403: N_("You are not allowed to do that."),
    404: N_("There is no page at this address."),
    405: N_("This page cannot be used that way."),
    413: N_("That was more than this app accepts in one go."),
    # Flask-Limiter's per-client limit on the auth forms (webapp.auth.views).
    429: N_("This form was sent too many times from this computer. Wait a minute and try again."),
    500: N_("Something went wrong on our side. Your data is safe; please try again."),
}

# SQLite's primary result codes (sqlite.org/rescode.html). The sqlite3 module names them
# only from Python 3.11 on, and this module must import on 3.10 too.
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26
# Why a read or write failed, in plain words.
DISK_FULL = N_("the disk is full")
FILE_READ_ONLY = N_("its database file is read-only")
CANNOT_OPEN = N_("its database file cannot be opened")
DISK_ERROR = N_("the disk reported an error")
IN_USE = N_("another program is using the database; please try again")
DAMAGED = N_("its database file is damaged")
MOVED = N_("its database file was moved or deleted while Doorstep was running. Restart Doorstep")
# By SQLite's (extended) result code, as Python 3.11+ reports it.
SQLITE_REASONS = {
    SQLITE_FULL: DISK_FULL,
    SQLITE_READONLY: FILE_READ_ONLY,
    SQLITE_CANTOPEN: CANNOT_OPEN,
    SQLITE_IOERR: DISK_ERROR,
    SQLITE_BUSY: IN_USE,
    SQLITE_LOCKED: IN_USE,
    SQLITE_CORRUPT: DAMAGED,
    SQLITE_NOTADB: N_("its database file is not a database"),
}
SQLITE_READONLY_DBMOVED = 1032  # not in the sqlite3 module's constants before Python 3.11
# By the driver's message, for Pythons without sqlite_errorcode and for other databases.
MESSAGE_REASONS = [
    ("disk is full", DISK_FULL),
    ("no space left", DISK_FULL),
    ("readonly database", FILE_READ_ONLY),
    ("read-only", FILE_READ_ONLY),
    ("unable to open database", CANNOT_OPEN),
    ("disk i/o error", DISK_ERROR),
    ("database is locked", IN_USE),
    ("malformed", DAMAGED),
    ("connection", N_("the database server cannot be reached")),
]


def register(app: Flask) -> None:
    """Render HTTP errors, CSRF failures, database failures and crashes with the app's layout."""
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    app.register_error_handler(DBAPIError, _database_failed)
    app.register_error_handler(DatabaseFileMoved, _database_failed)
    app.register_error_handler(DatabaseRefused, _database_refused)
    app.register_error_handler(InternalServerError, _server_error)


def _render(code: int, title: str, message: str):
    return render_template("errors/error.html", code=code, title=title, message=message), code


def _csrf_failed(error: CSRFError):
    return _render(
        400,
        _("This form has expired"),
        _(
            "The form was open too long or came from somewhere else. "
            "Go back, reload the page and try again."
        ),
    )


def _http_error(error: HTTPException):
    code = error.code or 500
    title = _(TITLES[code]) if code in TITLES else error.name
    message = _(MESSAGES[code]) if code in MESSAGES else error.description or ""
    return _render(code, title, message)


def _rate_limited(error: RateLimitExceeded):
    page, code = _http_error(error)
    # When the broken limit's window ends; Flask-Limiter's own headers option would put
    # its X-RateLimit-* headers on every response of the limited forms instead.
    limit = limiter.current_limit
    if limit is None:
        return page, code
    resets_at = limit.window[0]  # reset_at would round it up by a second more
    return page, code, {"Retry-After": str(max(1, math.ceil(resets_at - time.time())))}


def _database_failed(error: DBAPIError | DatabaseFileMoved):
    db.session.rollback()  # nothing half-done may be committed by a later request
    try:
        current_user.is_authenticated  # noqa: B018  (the navbar would load the user again)
    except DBAPIError:
        db.session.rollback()
        login_manager._update_request_context_with_user()  # shown as logged out, not a 500
    reason = MOVED if isinstance(error, DatabaseFileMoved) else database_failure_reason(error)
    log.error("Database failure on %s %s: %s", request.method, request.path, reason)
    # The reasons are English for the log, and translated for the page.
    if request.method in ("GET", "HEAD"):
        return _render(
            503,
            _("Doorstep cannot read its data"),
            _("Doorstep could not read your data: %(reason)s.", reason=_(reason)),
        )
    return _render(
        503,
        _("Your changes were not saved"),
        _("Doorstep could not save your changes: %(reason)s.", reason=_(reason)),
    )


def _database_refused(error: DatabaseRefused):
    # Under `flask run`, where nothing else would say it: the shell stops before serving.
    # The reason stays English: DatabaseRefused is worded before any request, for the shell too.
    return _render(503, _("Doorstep cannot open your data"), sentence(str(error)))


def database_failure_reason(error: DBAPIError) -> str:
    """Say in plain words why the database refused, from SQLite's code or the driver's message."""
    code = getattr(error.orig, "sqlite_errorcode", None)
    if code == SQLITE_READONLY_DBMOVED:
        return MOVED
    reason = None
    if code is not None and (code & 0xFF) in SQLITE_REASONS:
        reason = SQLITE_REASONS[code & 0xFF]
    else:
        text = str(error.orig).lower()
        reason = next((why for fragment, why in MESSAGE_REASONS if fragment in text), None)
    if reason in (FILE_READ_ONLY, CANNOT_OPEN):
        # SQLite cannot tell a read-only folder (no room for its -wal file) from a lost file.
        return where_the_file_is_stuck() or reason
    return reason or N_("the database reported an error")


def where_the_file_is_stuck() -> str | None:
    """Tell whether the data folder is read-only or the database file is gone, if either."""
    path = sqlite_path(db.engine.url)
    if path is None:
        return None
    if not os.access(path.parent, os.W_OK):
        return N_("its data folder is read-only")
    if not path.exists():
        return N_("its database file is missing")
    if not os.access(path, os.W_OK):
        return FILE_READ_ONLY
    return None


def _server_error(error: InternalServerError):
    db.session.rollback()  # a half-done write must not leak into the error page
    return _render(500, _("Something went wrong"), _(MESSAGES[500]))
