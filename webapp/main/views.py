"""Views of the main blueprint."""

from typing import cast

from flask import abort, redirect, render_template, session, url_for
from flask_login import current_user

from webapp.auth.views import safe_next_url
from webapp.extensions import db
from webapp.i18n import remember_locale
from webapp.main import bp
from webapp.main.forms import LanguageForm


@bp.get("/")
def index():
    """Show the landing page, greeting the user whose name the session holds."""
    # Touch current_user first: loading the login puts the username in the session (back
    # from a remember-me cookie, or renamed elsewhere), or takes it out if the login ended.
    current_user.is_authenticated  # noqa: B018
    # .get, not ["username"]: first visits and logged-out sessions have no username.
    return render_template("main/index.html", username=session.get("username"))


@bp.post("/language")
def set_language():
    """Switch the language: a cookie for this browser, and the account's choice if logged in."""
    form = LanguageForm()
    if not form.validate():  # only a hand-made request names another locale
        abort(400)
    locale = cast(str, form.locale.data)  # validated: one of LOCALES
    if current_user.is_authenticated:
        current_user.locale = locale
        db.session.commit()
    response = redirect(safe_next_url(form.next.data) or url_for("main.index"))
    remember_locale(response, locale)
    return response
