"""Views of the main blueprint."""

from flask import render_template, session
from flask_login import current_user

from webapp.main import bp


@bp.get("/")
def index():
    """Show the landing page, greeting the user whose name the session holds."""
    # Touch current_user first: loading the login puts the username in the session (back
    # from a remember-me cookie, or renamed elsewhere), or takes it out if the login ended.
    current_user.is_authenticated  # noqa: B018
    # .get, not ["username"]: first visits and logged-out sessions have no username.
    return render_template("main/index.html", username=session.get("username"))
