"""Views of the account pages."""

from __future__ import annotations

import json
from typing import cast
from urllib.parse import quote

from flask import Response, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from desktop.languages import N_
from webapp.account import bp
from webapp.account.forms import (
    ChangePasswordForm,
    DeleteAccountForm,
    NewRecoveryCodeForm,
    ProfileForm,
)
from webapp.auth.logins import log_out, show_recovery_code
from webapp.extensions import db
from webapp.models import iso_utc


@bp.before_request
@login_required
def require_login() -> None:
    """Every account page is for its logged-in owner only."""


@bp.get("")  # /account, as before the account pages grew
def index():
    """Show the account's details, its logins and what can be done with it."""
    return render_template("account/index.html", user=current_user)


@bp.route("/password", methods=["GET", "POST"])
def password():
    """Change the password; end every other login."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        current_user.set_password(cast(str, form.password.data))
        current_user.end_logins(keep_current=True)
        db.session.commit()
        flash(_("Your password has been changed."), "success")
        return redirect(url_for("account.index"))
    return render_template("account/password.html", form=form)


@bp.route("/profile", methods=["GET", "POST"])
def profile():
    """Change the username and email."""
    form = ProfileForm(data={"username": current_user.username, "email": current_user.email})
    if form.validate_on_submit():
        current_user.set_identity(cast(str, form.username.data), cast(str, form.email.data))
        db.session.commit()
        session["username"] = current_user.username  # the greeting says the new name at once
        flash(_("Your profile has been saved."), "success")
        return redirect(url_for("account.index"))
    return render_template("account/profile.html", form=form)


@bp.route("/recovery-code", methods=["GET", "POST"])
def recovery_code():
    """Replace the recovery code and show the new one once."""
    form = NewRecoveryCodeForm()
    if form.validate_on_submit():
        code = current_user.make_recovery_code()
        db.session.commit()
        return show_recovery_code(
            code,
            then=url_for("account.index"),
            message=N_("Your new recovery code is ready; the old one no longer works."),
        )
    return render_template("account/recovery_code.html", form=form)


@bp.get("/export")
def export():
    """Download what Doorstep keeps about the user, as JSON (never a hash or a token)."""
    user = current_user
    data = {
        "username": user.username,
        "email": user.email,
        "created_at": iso_utc(user.created_at),
        "last_login_at": iso_utc(user.last_login_at),
        "logins": [
            {
                "client": login.client,
                "created_at": iso_utc(login.created_at),
                "last_seen_at": iso_utc(login.last_seen_at),
                "current": login.id == user.current_login.id,
            }
            for login in user.logins
        ],
    }
    response = Response(
        json.dumps(data, ensure_ascii=False, indent=2) + "\n", mimetype="application/json"
    )
    # no-store, as on every page (webapp/security.py).
    response.headers["Content-Disposition"] = attachment(f"doorstep-{user.username}.json")
    return response


def attachment(filename: str) -> str:
    """Return a Content-Disposition that saves the response as `filename`, in any script."""
    # Usernames hold no quotes or backslashes, so the plain form only needs an ASCII stand-in.
    if filename.isascii():
        return f'attachment; filename="{filename}"'
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


@bp.route("/delete", methods=["GET", "POST"])
def delete():
    """Delete the account, its logins and everything of it."""
    form = DeleteAccountForm()
    if form.validate_on_submit():
        db.session.delete(current_user._get_current_object())
        db.session.commit()
        log_out()
        flash(_("Your account has been deleted."), "success")
        return redirect(url_for("main.index"))
    return render_template("account/delete.html", form=form)


@bp.post("/logout-everywhere")
def logout_everywhere():
    """End every login of the account, this one included."""
    current_user.end_logins()
    db.session.commit()
    log_out()
    flash(_("You have been logged out everywhere."), "success")
    return redirect(url_for("main.index"))
