"""Views of the auth blueprint."""

from __future__ import annotations

from typing import cast
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import login_required, login_user, logout_user, user_loaded_from_cookie
from sqlalchemy.exc import IntegrityError

from webapp.auth import bp
from webapp.auth.forms import LoginForm, RegistrationForm
from webapp.extensions import db, login_manager
from webapp.models import User


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Return the user a session or remember-me cookie names."""
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


@user_loaded_from_cookie.connect
def restore_greeting(_app, user: User) -> None:
    """Put the username back in a session rebuilt from the remember-me cookie."""
    session["username"] = user.username


@login_manager.unauthorized_handler
def ask_to_log_in():
    """Send anonymous visitors to the login page, coming back afterwards to what they asked for."""
    flash("Please log in to see that page.", "info")
    # Only a GET can be repeated after login: a POST (say, log out) would come back as a 405.
    next_url = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=next_url))


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Create an account, then send the new user to log in."""
    form = RegistrationForm()
    prefill_email(form)
    if form.validate_on_submit():
        # Validated: every field holds text.
        user = User(
            username=cast(str, form.username.data),
            email=cast(str, form.email.data),
            password=cast(str, form.password.data),
        )
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:
            # Someone else took the name or email between validation and commit.
            db.session.rollback()
            # A list once the form is validated (the stubs say Sequence).
            cast(list[str], form.username.errors).append(
                "That username or email was just taken. Try again."
            )
        else:
            flash("Your account is ready — log in to continue.", "success")
            return redirect(url_for("auth.login", email=user.email))
    return render_template("auth/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in, then go to a safe `next` page or the landing page."""
    form = LoginForm()
    prefill_email(form)
    if form.validate_on_submit():
        if form.has_no_account:
            flash("No account uses that email yet — create one below.", "info")
            return redirect(url_for("auth.register", email=form.email.data))
        user = form.user
        assert user is not None  # not has_no_account: the form found the account
        # Saved first: if the disk refuses the write, the visitor is not logged in either.
        user.record_login()
        db.session.commit()
        session.clear()  # a fresh session at every login: no session fixation
        login_user(user, remember=form.remember.data)
        session["username"] = user.username
        return redirect(safe_next_url(request.args.get("next")) or url_for("main.index"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    """Log out and say so in a flash alert."""
    logout_user()
    session.pop("username", None)
    flash("You have been logged out.", "success")
    return redirect(url_for("main.index"))


def prefill_email(form: LoginForm | RegistrationForm) -> None:
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
