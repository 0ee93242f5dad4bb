"""Creating accounts, logging in and out, and getting back in with a recovery code."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from webapp.auth import logins, views  # noqa: E402,F401  (registers the loader and routes)
