"""Forms of the auth blueprint; every rule on user input lives here, and the account pages'
forms build on the fields and checks below."""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path
from typing import cast

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, Field, PasswordField, StringField
from wtforms.validators import (
    Email,
    EqualTo,
    InputRequired,
    Length,
    StopValidation,
    ValidationError,
)

from webapp.auth import throttling
from webapp.models import User, normalize_username, username_key

# Letters and digits of any script (\w is Unicode-aware: 美玲 and Zoë are fine), `_ . -`,
# and the combining marks written on a letter (the vowel signs of हिन्दी, สมศักดิ์).
USERNAME_PATTERN = re.compile(r"[\w.-]+")
# What shows as nothing, or nothing but a gap: format characters (zero-width space and joiners,
# bidi controls), controls, line separators, and the rest Unicode says to render invisibly
# (Default_Ignorable_Code_Point: the Hangul fillers, variation selectors). The Hangul fillers
# are letters to \w, so the pattern above alone would let them through.
INVISIBLE_CHARACTERS = r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]"
# Script_Extensions values that belong to no one writing system: digits, `_ . -` (Common),
# combining marks that take their base letter's script (Inherited).
NEUTRAL_SCRIPTS = frozenset({"Zyyy", "Zinh"})
# The mixes UTS #39's "Highly Restrictive" level allows beside a single script: how Japanese,
# Chinese (with Zhuyin) and Korean are written, each with Latin.
ALLOWED_SCRIPT_MIXES = (
    frozenset({"Latn", "Hani", "Hira", "Kana"}),
    frozenset({"Latn", "Hani", "Bopo"}),
    frozenset({"Latn", "Hani", "Hang"}),
)
# The 10,000 most common passwords of zxcvbn 4.5.0 (source and licence beside it).
COMMON_PASSWORDS = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"
# Names shorter than this are too likely inside any password to refuse it for them.
SHORTEST_NAME_TO_CHECK = 3


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _normalize_username(value: str | None) -> str | None:
    return normalize_username(value) if isinstance(value, str) else value


def username_field() -> StringField:
    """Return the Username field: in NFKC and trimmed, required, 2 to 32 characters."""
    return StringField(
        _l("Username"),
        # Normalized before any check: the length and the rules are those of the stored name.
        filters=[_normalize_username],
        validators=[
            InputRequired(_l("Choose a username.")),
            Length(2, 32, _l("Username must be 2 to 32 characters long.")),
        ],
    )


def email_field() -> EmailField:
    """Return the Email field: trimmed, required, well-formed, <= 254 chars."""
    return EmailField(
        _l("Email"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Enter your email address.")),
            Length(max=254, message=_l("Email addresses are at most 254 characters long.")),
            Email(_l("Enter a valid email address, like mei@example.com.")),
        ],
    )


def new_password_field(label: str = _l("Password")) -> PasswordField:
    """Return a field that sets a password: 8 to 128 characters."""
    return PasswordField(
        label,
        validators=[
            InputRequired(_l("Choose a password.")),
            Length(8, 128, _l("Password must be 8 to 128 characters long.")),
        ],
    )


def confirm_field(label: str, new_password: str) -> PasswordField:
    """Return a field that must repeat the `new_password` field."""
    return PasswordField(
        label,
        validators=[
            InputRequired(_l("Type the password again.")),
            EqualTo(new_password, _l("The two passwords do not match.")),
        ],
    )


def password_field(label: str, required_message: str) -> PasswordField:
    """Return a field that asks for an existing password."""
    return PasswordField(
        label,
        validators=[
            InputRequired(required_message),
            Length(max=128, message=_l("Passwords are at most 128 characters long.")),
        ],
    )


def has_only_name_characters(username: str) -> bool:
    """Whether `username` holds only letters, digits, `_.-`, and marks on its letters."""
    marks = "".join(char for char in username if unicodedata.category(char).startswith("M"))
    if not marks:
        return bool(USERNAME_PATTERN.fullmatch(username))
    # A mark belongs to the letter (or mark) before it: never first, never after `_ . -`.
    previous = ""
    for char in username:
        if unicodedata.category(char).startswith("M"):
            if not previous or previous in "_.-":
                return False
        elif not USERNAME_PATTERN.fullmatch(char):
            return False
        previous = char
    return True


def check_username(username: str, owner: User | None = None) -> None:
    """Allow visible letters of one writing system, digits, `_.-`, and only names no one but
    `owner` has (ignoring case and compatibility forms)."""
    if has_invisible_characters(username):
        raise ValidationError(_("Usernames cannot contain invisible characters."))
    if not has_only_name_characters(username):
        raise ValidationError(
            _("Use only letters, digits, underscores, dots and hyphens (no spaces).")
        )
    if not is_highly_restrictive(username):
        raise ValidationError(_("Use letters from one writing system."))
    holder = User.by_username(username)
    if holder is not None and (owner is None or holder.id != owner.id):
        raise ValidationError(_("That username is taken. Try another one."))


# regex and fontTools are imported on first use: together they would add some 40 ms to every
# start, and most starts show no form that sets a username.


def has_invisible_characters(text: str) -> bool:
    """Return whether `text` holds a character that shows as nothing (see above)."""
    import regex  # type: ignore[import-untyped]  # no types published

    return regex.search(INVISIBLE_CHARACTERS, text) is not None  # regex caches the pattern


def is_highly_restrictive(text: str) -> bool:
    """Return whether `text` keeps to one script or a mix UTS #39's Highly Restrictive allows."""
    from fontTools.unicodedata import script_extension  # type: ignore[import-untyped]

    # Script_Extensions, as UTS #39 says: the prolonged sound mark ー is both Hiragana and
    # Katakana, the ideographic comma every CJK script.
    scripts = [frozenset(script_extension(char)) for char in text]
    scripts = [found for found in scripts if not found & NEUTRAL_SCRIPTS]
    if not scripts or frozenset.intersection(*scripts):
        return True
    return any(all(found & mix for found in scripts) for mix in ALLOWED_SCRIPT_MIXES)


@functools.cache
def common_passwords() -> frozenset[str]:
    """Return the common passwords, case-folded, read from the shipped list on first use."""
    with COMMON_PASSWORDS.open(encoding="utf-8") as lines:
        return frozenset(line.strip().casefold() for line in lines if line.strip())


def check_new_password(field: Field, *, username: str | None, email: str | None) -> None:
    """Refuse a common password, or one holding the username or the email's local part."""
    if field.errors:  # too short or too long: one message is enough
        return
    password = cast(str, field.data)  # past InputRequired
    if password.casefold() in common_passwords():
        raise ValidationError(_("That password is too common. Choose another one."))
    # Folded as usernames are, so ＭＥＩ or MEI in a password is the name mei.
    folded = username_key(password)
    names = (normalize_username(username or ""), (email or "").strip().rpartition("@")[0])
    if any(len(name) >= SHORTEST_NAME_TO_CHECK and username_key(name) in folded for name in names):
        raise ValidationError(_("Your password must not contain your username or email."))


class Form(FlaskForm):
    """A Doorstep form: its fields come from the posted form fields only."""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            """Read the request's form fields, never a JSON body or file parts."""
            # Flask-WTF's default would build the fields from JSON values or uploaded files
            # too, which are not text and break the validators (a 500). No page sends them.
            # A formdata without getlist is its marker for "read the request".
            if formdata is not None and not hasattr(formdata, "getlist"):
                return request.form if form.is_submitted() else None
            return super().wrap_formdata(form, formdata)


def check_email(email: str, owner: User | None = None) -> None:
    """Allow each email address once, ignoring case."""
    holder = User.by_email(email)
    if holder is not None and (owner is None or holder.id != owner.id):
        raise ValidationError(_("An account already uses that email. Log in instead."))


class RegistrationForm(Form):
    """Create an account."""

    username = username_field()
    email = email_field()
    password = new_password_field()
    confirm = confirm_field(_l("Confirm password"), "password")

    def validate_username(self, field: StringField) -> None:
        """Allow only well-formed names nobody has yet."""
        # Only reached past InputRequired, which stops the chain when there is no text.
        check_username(cast(str, field.data))

    def validate_email(self, field: EmailField) -> None:
        """Allow only addresses no account uses."""
        check_email(cast(str, field.data))  # past InputRequired

    def validate_password(self, field: PasswordField) -> None:
        """Refuse a common password, or one holding the username or email typed."""
        check_new_password(field, username=self.username.data, email=self.email.data)


class ThrottledForm(Form):
    """A form that checks a password or recovery code for the email it is given."""

    retry_after: float | None = None  # seconds, while the email's attempts are refused

    def refuse_while_backed_off(self, email: str) -> None:
        """Stop validation, checking and counting nothing, while `email` is backed off."""
        self.retry_after = throttling.seconds_blocked(email)
        if self.retry_after is not None:
            raise StopValidation(throttling.too_many_attempts(self.retry_after))


class LoginForm(ThrottledForm):
    """Log in with email and password."""

    email = email_field()
    password = password_field(_l("Password"), _l("Enter your password."))
    remember = BooleanField(_l("Remember me"))

    user: User | None = None

    def validate_password(self, field: PasswordField) -> None:
        """Check the password of the account the email names, if there is one."""
        if self.email.errors:
            return
        # Both fields passed InputRequired (the email's errors are empty): both hold text.
        email = cast(str, self.email.data)
        self.refuse_while_backed_off(email)
        self.user = User.by_email(email)
        # No account is not an error here: the view sends the visitor to create one.
        if self.user is not None and not self.user.check_password(cast(str, field.data)):
            self.user = None
            throttling.record_failure(email)
            raise ValidationError(_("Incorrect email or password."))
        if self.user is not None:
            throttling.record_success(email)

    @property
    def has_no_account(self) -> bool:
        """Whether the form is valid but no account uses the email."""
        return self.user is None


class RecoverForm(ThrottledForm):
    """Set a new password with the account's recovery code."""

    email = email_field()
    recovery_code = StringField(
        _l("Recovery code"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Enter the recovery code you saved.")),
            Length(max=64, message=_l("That recovery code does not match.")),
        ],
    )
    password = new_password_field(_l("New password"))
    confirm = confirm_field(_l("Confirm new password"), "password")

    user: User | None = None

    def validate_recovery_code(self, field: StringField) -> None:
        """Accept only the current code of the account the email names."""
        if self.email.errors:
            return
        email = cast(str, self.email.data)
        self.refuse_while_backed_off(email)
        user = User.by_email(email)
        # The same words for an unknown email: the form does not tell who has an account.
        if user is None or not user.check_recovery_code(cast(str, field.data)):
            throttling.record_failure(email)  # unknown emails too, or the back-off would tell
            raise ValidationError(_("That recovery code does not match."))
        throttling.record_success(email)
        self.user = user

    def validate_password(self, field: PasswordField) -> None:
        """Refuse a common password, or one holding the email or the account's username."""
        # The username only once the code matched: before, the answer would tell who owns
        # the email typed.
        username = self.user.username if self.user is not None else None
        check_new_password(field, username=username, email=self.email.data)
