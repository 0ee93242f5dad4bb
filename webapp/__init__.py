"""Doorstep's Flask app: local accounts, a personal greeting and a flash alert."""

from __future__ import annotations

from flask import Flask

from webapp import account, auth, database, errors, i18n, main, security
from webapp.cli import users
from webapp.config import configure
from webapp.extensions import csrf, db, limiter, login_manager
from webapp.paths import resource_root
from webapp.sessions import CookieSessionInterface


def create_app(config: dict | None = None) -> Flask:
    """Create and configure a Doorstep app; `config` overrides every other layer."""
    resources = resource_root()
    app = Flask(
        __name__,
        template_folder=str(resources / "templates"),
        static_folder=str(resources / "static"),
    )
    configure(app, config)
    app.session_interface = CookieSessionInterface()

    db.init_app(app)  # also puts `db` and the models in `flask shell`
    database.init_app(app)  # upgraded before the first request; `flask db` for developers
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)  # the auth forms' POSTs, per client address
    i18n.init_app(app)  # Flask-Babel: English or Simplified Chinese, dates in the local zone

    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    errors.register(app)
    security.register(app)  # headers on every response, error pages included
    app.cli.add_command(users)  # `flask users ...`; `doorstep users ...` runs it too
    return app
