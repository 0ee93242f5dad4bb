"""Flask extensions, created unbound here and bound to an app in `create_app`.

Flask-Migrate is the exception: webapp.database binds it when a migration is needed.
"""

from flask import Flask
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for Doorstep's typed models."""


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()  # bound with its selectors by webapp.i18n.init_app


class DecoratorLimiter(Limiter):
    """Flask-Limiter for limits set with its decorator only, checked by the views they wrap."""

    def init_app(self, app: Flask) -> None:
        """Bind to `app`; without app-wide limits, drop the check that runs before every request."""
        super().init_app(app)
        # That hook only finds something to check when default or application-wide limits are
        # set; otherwise it costs about a sixth of the landing page's time (docs/server.md).
        # The decorated views check their own limits either way.
        app_wide = self.limit_manager.default_limits or self.limit_manager.application_limits
        hooks = app.before_request_funcs.setdefault(None, [])
        if not (app_wide or self._meta_limits) and self._check_request_limit in hooks:
            hooks.remove(self._check_request_limit)


# Per client address; the limits and the storage come from the app's RATELIMIT_* settings.
limiter = DecoratorLimiter(key_func=get_remote_address)
