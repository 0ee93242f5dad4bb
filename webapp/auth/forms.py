"""Forms of the auth blueprint; every rule on user input lives here, and the account pages'
forms build on the fields and checks below."""

from __future__ import annotations

import re
from typing import cast

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import Email, EqualTo, InputRequired, Length, ValidationError

from webapp.models import User

USERNAME_PATTERN = re.compile(r"[\w.-]+")  # \w is Unicode-aware: 美玲 and Zoë are fine


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def username_field() -> StringField:
    """Return the Username field: trimmed, required, 3 to 32 characters."""
    return StringField(
        "Username",
        filters=[_strip],
        validators=[
            InputRequired("Choose a username."),
            Length(3, 32, "Username must be 3 to 32 characters long."),
        ],
    )


def email_field() -> EmailField:
    """Return the Email field: trimmed, required, well-formed, <= 254 chars."""
    return EmailField(
        "Email",
        filters=[_strip],
        validators=[
            InputRequired("Enter your email address."),
            Length(max=254, message="Email addresses are at most 254 characters long."),
            Email("Enter a valid email address, like mei@example.com."),
        ],
    )


def new_password_field(label: str = "Password") -> PasswordField:
    """Return a field that sets a password: 8 to 128 characters."""
    return PasswordField(
        label,
        validators=[
            InputRequired("Choose a password."),
            Length(8, 128, "Password must be 8 to 128 characters long."),
        ],
    )


def confirm_field(label: str, new_password: str) -> PasswordField:
    """Return a field that must repeat the `new_password` field."""
    return PasswordField(
        label,
        validators=[
            InputRequired("Type the password again."),
            EqualTo(new_password, "The two passwords do not match."),
        ],
    )


def password_field(label: str, required_message: str) -> PasswordField:
    """Return a field that asks for an existing password."""
    return PasswordField(
        label,
        validators=[
            InputRequired(required_message),
            Length(max=128, message="Passwords are at most 128 characters long."),
        ],
    )


def check_username(username: str, owner: User | None = None) -> None:
    """Allow letters, digits, `_.-`, and only names no one but `owner` has (ignoring case)."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise ValidationError(
            "Use only letters, digits, underscores, dots and hyphens (no spaces)."
        )
    holder = User.by_username(username)
    if holder is not None and (owner is None or holder.id != owner.id):
        raise ValidationError("That username is taken. Try another one.")


def check_email(email: str, owner: User | None = None) -> None:
    """Allow each email address once, ignoring case."""
    holder = User.by_email(email)
    if holder is not None and (owner is None or holder.id != owner.id):
        raise ValidationError("An account already uses that email. Log in instead.")


class RegistrationForm(FlaskForm):
    """Create an account."""

    username = username_field()
    email = email_field()
    password = new_password_field()
    confirm = confirm_field("Confirm password", "password")

    def validate_username(self, field: StringField) -> None:
        """Allow only well-formed names nobody has yet."""
        # Only reached past InputRequired, which stops the chain when there is no text.
        check_username(cast(str, field.data))

    def validate_email(self, field: EmailField) -> None:
        """Allow only addresses no account uses."""
        check_email(cast(str, field.data))  # past InputRequired


class LoginForm(FlaskForm):
    """Log in with email and password."""

    email = email_field()
    password = password_field("Password", "Enter your password.")
    remember = BooleanField("Remember me")

    user: User | None = None

    def validate_password(self, field: PasswordField) -> None:
        """Check the password of the account the email names, if there is one."""
        if self.email.errors:
            return
        # Both fields passed InputRequired (the email's errors are empty): both hold text.
        self.user = User.by_email(cast(str, self.email.data))
        # No account is not an error here: the view sends the visitor to create one.
        if self.user is not None and not self.user.check_password(cast(str, field.data)):
            self.user = None
            raise ValidationError("Incorrect email or password.")

    @property
    def has_no_account(self) -> bool:
        """Whether the form is valid but no account uses the email."""
        return self.user is None


class RecoverForm(FlaskForm):
    """Set a new password with the account's recovery code."""

    email = email_field()
    recovery_code = StringField(
        "Recovery code",
        filters=[_strip],
        validators=[
            InputRequired("Enter the recovery code you saved."),
            Length(max=64, message="That recovery code does not match."),
        ],
    )
    password = new_password_field("New password")
    confirm = confirm_field("Confirm new password", "password")

    user: User | None = None

    def validate_recovery_code(self, field: StringField) -> None:
        """Accept only the current code of the account the email names."""
        if self.email.errors:
            return
        user = User.by_email(cast(str, self.email.data))
        # The same words for an unknown email: the form does not tell who has an account.
        if user is None or not user.check_recovery_code(cast(str, field.data)):
            raise ValidationError("That recovery code does not match.")
        self.user = user
