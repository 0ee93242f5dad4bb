"""The account pages: details and logins, password, profile, recovery code, export, delete."""

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from webapp.account import views  # noqa: E402,F401  (registers the routes)
