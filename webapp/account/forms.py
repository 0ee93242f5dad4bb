"""Forms of the account pages; each asks for the password before it changes anything."""

from __future__ import annotations

from typing import cast

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import ValidationError

from webapp.auth.forms import (
    Form,
    check_email,
    check_new_password,
    check_username,
    confirm_field,
    email_field,
    new_password_field,
    password_field,
    username_field,
)
from webapp.models import normalize_email

WRONG_PASSWORD = _l("That is not your current password.")


def check_current_password(field: PasswordField) -> None:
    """Accept only the logged-in user's password."""
    if not current_user.check_password(cast(str, field.data)):
        raise ValidationError(WRONG_PASSWORD)


class ChangePasswordForm(Form):
    """Change the password, knowing the current one."""

    current_password = password_field(_l("Current password"), _l("Enter your current password."))
    password = new_password_field(_l("New password"))
    confirm = confirm_field(_l("Confirm new password"), "password")

    def validate_current_password(self, field: PasswordField) -> None:
        """Accept only the current password."""
        check_current_password(field)

    def validate_password(self, field: PasswordField) -> None:
        """Refuse a common password, or one holding the user's username or email."""
        check_new_password(field, username=current_user.username, email=current_user.email)


class ProfileForm(Form):
    """Change the username and email; a new email needs the current password."""

    username = username_field()
    email = email_field()
    # No validators of its own: needed only when the email changes (below).
    current_password = PasswordField(_l("Current password"))

    def validate_username(self, field: StringField) -> None:
        """Allow the user's own name, or one nobody has."""
        check_username(cast(str, field.data), owner=current_user)

    def validate_email(self, field: EmailField) -> None:
        """Allow the user's own email, or one no account uses."""
        check_email(cast(str, field.data), owner=current_user)

    @property
    def changes_email(self) -> bool:
        """Whether the form asks for a different email address."""
        return normalize_email(self.email.data or "") != current_user.email

    def validate_current_password(self, field: PasswordField) -> None:
        """Ask for the password when the email changes: the email is how the account logs in."""
        if not self.changes_email:
            return
        if not field.data:
            raise ValidationError(_("Enter your current password to change your email."))
        check_current_password(field)


class DeleteAccountForm(Form):
    """Delete the account, knowing its password."""

    password = password_field(_l("Password"), _l("Enter your password to delete your account."))

    def validate_password(self, field: PasswordField) -> None:
        """Accept only the current password."""
        check_current_password(field)


class NewRecoveryCodeForm(Form):
    """Replace the recovery code, knowing the current password."""

    current_password = password_field(_l("Current password"), _l("Enter your current password."))

    def validate_current_password(self, field: PasswordField) -> None:
        """Accept only the current password."""
        check_current_password(field)
