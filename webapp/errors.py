"""Error pages in the app's own layout."""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.extensions import db

MESSAGES = {
    400: "The request could not be understood.",
    403: "You are not allowed to do that.",
    404: "There is no page at this address.",
    405: "This page cannot be used that way.",
    413: "That was more than this app accepts in one go.",
    500: "Something went wrong on our side. Your data is safe; please try again.",
}


def register(app: Flask) -> None:
    """Render HTTP errors, CSRF failures and crashes with the app's layout."""
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _server_error)


def _render(code: int, title: str, message: str):
    return render_template("errors/error.html", code=code, title=title, message=message), code


def _csrf_failed(error: CSRFError):
    return _render(
        400,
        "This form has expired",
        "The form was open too long or came from somewhere else. "
        "Go back, reload the page and try again.",
    )


def _http_error(error: HTTPException):
    code = error.code or 500
    return _render(code, error.name, MESSAGES.get(code, error.description or ""))


def _server_error(error: InternalServerError):
    db.rollback()  # a half-done write must not leak into the error page
    return _render(500, "Something went wrong", MESSAGES[500])
