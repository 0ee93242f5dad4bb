"""Views of the main blueprint."""

from flask import render_template, session
from flask_login import current_user, login_required

from webapp.main import bp


@bp.get("/")
def index():
    """Show the landing page, greeting the user whose name the session holds."""
    # Touch current_user first: restoring a remembered user puts the username back in the
    # session, and that has to happen before we read it.
    current_user.is_authenticated  # noqa: B018
    # .get, not ["username"]: first visits and logged-out sessions have no username.
    return render_template("main/index.html", username=session.get("username"))


@bp.get("/account")
@login_required
def account():
    """Show the logged-in user's account details."""
    return render_template("main/account.html", user=current_user)
