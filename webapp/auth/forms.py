"""Forms of the auth blueprint; every rule on user input lives here."""

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


def email_field() -> EmailField:
    """Return the Email field both forms share: trimmed, required, well-formed, <= 254 chars."""
    return EmailField(
        "Email",
        filters=[_strip],
        validators=[
            InputRequired("Enter your email address."),
            Length(max=254, message="Email addresses are at most 254 characters long."),
            Email("Enter a valid email address, like mei@example.com."),
        ],
    )


class RegistrationForm(FlaskForm):
    """Create an account."""

    username = StringField(
        "Username",
        filters=[_strip],
        validators=[
            InputRequired("Choose a username."),
            Length(3, 32, "Username must be 3 to 32 characters long."),
        ],
    )
    email = email_field()
    password = PasswordField(
        "Password",
        validators=[
            InputRequired("Choose a password."),
            Length(8, 128, "Password must be 8 to 128 characters long."),
        ],
    )
    confirm = PasswordField(
        "Confirm password",
        validators=[
            InputRequired("Type the password again."),
            EqualTo("password", "The two passwords do not match."),
        ],
    )

    def validate_username(self, field: StringField) -> None:
        """Allow letters, digits, `_.-`, and only names nobody has yet (ignoring case)."""
        # Only reached past InputRequired, which stops the chain when there is no text.
        username = cast(str, field.data)
        if not USERNAME_PATTERN.fullmatch(username):
            raise ValidationError(
                "Use only letters, digits, underscores, dots and hyphens (no spaces)."
            )
        if User.by_username(username) is not None:
            raise ValidationError("That username is taken. Try another one.")

    def validate_email(self, field: EmailField) -> None:
        """Allow each email address once, ignoring case."""
        if User.by_email(cast(str, field.data)) is not None:  # past InputRequired
            raise ValidationError("An account already uses that email. Log in instead.")


class LoginForm(FlaskForm):
    """Log in with email and password."""

    email = email_field()
    password = PasswordField(
        "Password",
        validators=[
            InputRequired("Enter your password."),
            Length(max=128, message="Passwords are at most 128 characters long."),
        ],
    )
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
