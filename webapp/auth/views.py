"""Views of the auth blueprint."""

from __future__ import annotations

import math
from typing import cast
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from desktop.languages import N_
from webapp.auth import bp
from webapp.auth.forms import LoginForm, RecoverForm, RegistrationForm, ThrottledForm
from webapp.auth.logins import AFTER_RECOVERY_CODE, log_in, log_out, show_recovery_code
from webapp.extensions import db, limiter, login_manager
from webapp.i18n import remember_locale
from webapp.models import AccountTaken, User


@login_manager.unauthorized_handler
def ask_to_log_in():
    """Send anonymous visitors to the login page, coming back afterwards to what they asked for."""
    flash(_("Please log in to see that page."), "info")
    # Only a GET can be repeated after login: a POST (say, log out) would come back as a 405.
    next_url = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=next_url))


def auth_forms_limit() -> str:
    """Return how many POSTs of each auth form one client address may send (Flask-Limiter)."""
    return current_app.config["RATELIMIT_AUTH_FORMS"]


# Only the POSTs: showing a form costs nothing, and a person reloading it is never refused.
limit_posts = limiter.limit(auth_forms_limit, methods=["POST"])


@bp.route("/register", methods=["GET", "POST"])
@limit_posts
def register():
    """Create an account, show its recovery code once, then send the new user to log in."""
    form = RegistrationForm()
    prefill_email(form)
    if form.validate_on_submit():
        # Validated: every field holds text.
        try:
            user, code = User.create(
                username=cast(str, form.username.data),
                email=cast(str, form.email.data),
                password=cast(str, form.password.data),
            )
        except AccountTaken:
            # A list once the form is validated (the stubs say Sequence).
            cast(list[str], form.username.errors).append(
                _("That username or email was just taken. Try again.")
            )
        else:
            return show_recovery_code(
                code,
                then=url_for("auth.login", email=user.email),
                message=N_("Your account is ready — log in to continue."),
            )
    return render_template("auth/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@limit_posts
def login():
    """Log in, then go to a safe `next` page or the landing page."""
    form = LoginForm()
    prefill_email(form)
    if form.validate_on_submit():
        if form.has_no_account:
            flash(_("No account uses that email yet — create one below."), "info")
            return redirect(url_for("auth.register", email=form.email.data))
        assert form.user is not None  # not has_no_account: the form found the account
        log_in(form.user, remember=form.remember.data)
        response = redirect(safe_next_url(request.args.get("next")) or url_for("main.index"))
        if form.user.locale:  # the account's language, here too once logged out again
            remember_locale(response, form.user.locale)
        return response
    return render_form("auth/login.html", form)


@bp.post("/logout")
@login_required
def logout():
    """End this login and say so in a flash alert."""
    db.session.delete(current_user.current_login)
    db.session.commit()  # first: if the disk refuses, the login is not pretended ended
    log_out()
    flash(_("You have been logged out."), "success")
    return redirect(url_for("main.index"))


@bp.route("/recover", methods=["GET", "POST"])
@limit_posts
def recover():
    """Set a new password with the recovery code; end every login; show a new code once."""
    form = RecoverForm()
    prefill_email(form)
    if form.validate_on_submit():
        user = form.user
        assert user is not None  # the code matched this account
        code = user.reset_password(cast(str, form.password.data))
        db.session.commit()
        log_out()  # whoever was logged in here, this browser now starts afresh
        return show_recovery_code(
            code,
            then=url_for("auth.login", email=user.email),
            message=N_("Your password has been reset."),
        )
    return render_form("auth/recover.html", form)


@bp.post("/recovery-code/saved")
def recovery_code_saved():
    """Go on from a recovery code's page to where the flow it ended continues."""
    after = session.pop(AFTER_RECOVERY_CODE, None)
    if not after:  # pressed twice, or in a second tab
        return redirect(url_for("main.index"))
    message = after["message"]  # English, marked with N_ where it was set
    flash(_(message), "success")
    return redirect(safe_next_url(after["url"]) or url_for("main.index"))


def render_form(template: str, form: ThrottledForm):
    """Show `form` again: a 429 saying how long to wait while its email is backed off."""
    if form.retry_after is None:
        return render_template(template, form=form)
    headers = {"Retry-After": str(math.ceil(form.retry_after))}
    return render_template(template, form=form), 429, headers


def prefill_email(form: LoginForm | RegistrationForm | RecoverForm) -> None:
    """Fill in the email passed along in `?email=` when the form is first shown."""
    if not form.is_submitted() and request.args.get("email"):
        form.email.data = request.args["email"]


def safe_next_url(target: str | None) -> str | None:
    """Return `target` if it is a path on this app, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 0x20 for char in target):
        return None  # browsers read "/\evil.com" as "//evil.com"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None
