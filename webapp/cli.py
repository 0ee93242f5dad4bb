"""`doorstep users ...` and `flask --app webapp users ...`: accounts from the command line.

For testers, who seed a fresh data folder with accounts before `doorstep serve`, and for
administrators, who reset a forgotten password or remove an account. Every rule on what an
account may hold is the web forms' own: the commands fill in the real forms and report their
messages. Output meant for scripts (the table, the JSON, a recovery code) goes to stdout;
everything said to a person goes to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import IO, Any, TypeVar

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from werkzeug.datastructures import MultiDict
from wtforms import PasswordField, StringField

from webapp.auth.forms import (
    Form,
    RegistrationForm,
    check_new_password,
    new_password_field,
)
from webapp.database import DatabaseRefused, prepare_database
from webapp.extensions import db
from webapp.models import AccountTaken, User, iso_utc
from webapp.paths import DATA_DIR_ENV, data_dir

log = logging.getLogger("doorstep.users")

F = TypeVar("F", bound=Callable[..., Any])

# Where the group's --data-dir waits for the subcommand (ctx.obj is Flask's ScriptInfo).
GROUP_DATA_DIR = "doorstep.users.data_dir"
# Where the group's command path ("doorstep users", "flask users") waits for a message.
PROGRAM = "doorstep.users.program"

# Local time, sortable, to the minute: the table is for reading; --json has the exact times.
TIME_PATTERN = "%Y-%m-%d %H:%M"
COLUMN_GAP = "  "


def local_time(value: datetime | None, pattern: str = TIME_PATTERN) -> str:
    """Format a stored (naive UTC) time in the local time zone (the CLI speaks English only)."""
    if value is None:
        return "never"
    return value.replace(tzinfo=timezone.utc).astimezone().strftime(pattern)


class UsersError(click.ClickException):
    """A failure the user can act on: said on stderr as plain sentences, exit status 1."""

    def __init__(self, *messages: str) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages
        ctx = click.get_current_context(silent=True)
        self.program = ctx.meta.get(PROGRAM, "doorstep users") if ctx else "doorstep users"

    def show(self, file: IO[Any] | None = None) -> None:
        """Say each message on its own line, prefixed by the program, like the shell does."""
        for message in self.messages:
            click.echo(f"{self.program}: {message}", file=file, err=True)


class NewPasswordForm(Form):
    """The password `reset-password` sets, under the rules of the web forms."""

    # The account's own username and email, filled in by the command, never typed: the
    # password may not contain them, as on the web.
    username = StringField()
    email = StringField()
    password = new_password_field()

    def validate_password(self, field: PasswordField) -> None:
        """Refuse a common password, or one holding the account's username or email."""
        check_new_password(field, username=self.username.data, email=self.email.data)


def data_dir_option(command: F) -> F:
    """Add --data-dir to a command (the group's and each subcommand's; the latter wins)."""
    return click.option(
        "--data-dir",
        metavar="DIR",
        help="use the data folder DIR "
        f"(default: ${DATA_DIR_ENV}, else the platform's per-user data folder)",
    )(command)


def password_stdin_option(command: F) -> F:
    """Add --password-stdin to a command that sets a password."""
    return click.option(
        "--password-stdin",
        is_flag=True,
        help="read the password from the first line of stdin instead of asking for it",
    )(command)


@click.group(
    help="Manage Doorstep's accounts: list them, create one, reset a password, delete one. "
    "Run on the data folder a Doorstep uses (it may be running meanwhile), or on a fresh "
    "one to seed it with accounts before `doorstep serve`."
)
@data_dir_option
@click.pass_context
def users(ctx: click.Context, data_dir: str | None) -> None:
    """Remember the group's options for the subcommand."""
    ctx.meta[GROUP_DATA_DIR] = data_dir
    ctx.meta[PROGRAM] = ctx.command_path


@users.command("list", short_help="List the accounts.")
@data_dir_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="print a JSON array of objects with the keys id, username, email, created_at and "
    "last_login_at (ISO 8601 times in UTC; null for no login yet)",
)
def list_users(data_dir: str | None, as_json: bool) -> None:
    """List the accounts: id, username, email, when created, when last logged in."""
    open_database(data_dir)
    accounts = db.session.scalars(select(User).order_by(User.id)).all()
    if as_json:
        # ASCII-only (\u escapes): stdout may be a pipe in a legacy code page on Windows.
        click.echo(json.dumps([account_json(user) for user in accounts], indent=2))
        return
    header = ("ID", "USERNAME", "EMAIL", "CREATED", "LAST LOGIN")
    rows = [
        (
            str(user.id),
            user.username,
            user.email,
            local_time(user.created_at, TIME_PATTERN),
            local_time(user.last_login_at, TIME_PATTERN),
        )
        for user in accounts
    ]
    for line in table([header, *rows]):
        click.echo(line)


@users.command(
    "create",
    short_help="Create an account; print its recovery code.",
    help="Create an account under the registration form's rules and print its recovery code, "
    "alone, on stdout. Without --password-stdin, asks for the password twice.",
)
@data_dir_option
@click.option(
    "--username",
    metavar="NAME",
    required=True,
    help="the account's username: 2 to 32 letters (of one writing system), digits, "
    "underscores, dots and hyphens",
)
@click.option("--email", metavar="EMAIL", required=True, help="the account's email address")
@password_stdin_option
def create_user(data_dir: str | None, username: str, email: str, password_stdin: bool) -> None:
    """Create an account, as the registration form does; print its recovery code on stdout."""
    open_database(data_dir)
    password = read_new_password(password_stdin)
    fields = validate(
        RegistrationForm, username=username, email=email, password=password, confirm=password
    )
    try:
        user, code = User.create(
            username=fields["username"], email=fields["email"], password=password
        )
    except AccountTaken:
        raise UsersError("that username or email was just taken; try again") from None
    log.info("Created account %d from the command line", user.id)
    click.echo(
        f"Created the account {user.username} ({user.email}). Its recovery code follows: "
        "keep it safe, it is the way back in without the password.",
        err=True,
    )
    click.echo(code)


@users.command(
    "reset-password",
    short_help="Set a new password; print a new recovery code.",
    help="Set a new password for the account that uses EMAIL, end all its logins (every "
    "browser it is logged in on is logged out), and print a new recovery code on stdout; "
    "the old code no longer works.",
)
@data_dir_option
@click.argument("email")
@password_stdin_option
def reset_password(data_dir: str | None, email: str, password_stdin: bool) -> None:
    """Reset the password of the account that uses EMAIL; print its new recovery code."""
    open_database(data_dir)
    user = find_user(email)
    password = read_new_password(password_stdin)
    validate(NewPasswordForm, username=user.username, email=user.email, password=password)
    ended = len(user.logins)
    code = user.reset_password(password)
    db.session.commit()
    log.info("Reset the password of account %d from the command line", user.id)
    logins = "login" if ended == 1 else "logins"
    click.echo(
        f"Set a new password for {user.username} ({user.email}) and ended {ended} {logins}. "
        "The new recovery code follows; the old one no longer works.",
        err=True,
    )
    click.echo(code)


@users.command("delete", short_help="Delete an account and its logins.")
@data_dir_option
@click.argument("email")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def delete_user(data_dir: str | None, email: str, yes: bool) -> None:
    """Delete the account that uses EMAIL, with its logins; asks first unless --yes."""
    open_database(data_dir)
    user = find_user(email)
    if not yes:
        # abort=True: a "no" (or no answer at all, stdin closed) exits with status 1.
        click.confirm(
            f"Delete the account {user.username} ({user.email})? This cannot be undone.",
            abort=True,
            err=True,
        )
    user_id, who = user.id, f"{user.username} ({user.email})"
    db.session.delete(user)  # its logins go with it
    db.session.commit()
    log.info("Deleted account %d from the command line", user_id)
    click.echo(f"Deleted the account {who}.", err=True)


def open_database(data_dir_arg: str | None) -> Flask:
    """Load the app this command runs on, push its context, and get its database ready."""
    from webapp import create_app  # the webapp's package imports this module

    ctx = click.get_current_context()
    chosen = data_dir_arg or ctx.meta.get(GROUP_DATA_DIR)
    info = ctx.find_object(ScriptInfo)
    try:
        if info is not None and not chosen:  # under `flask`: the app it loaded (--app, a test's)
            app = info.load_app()
            own_app = False
        else:
            app = create_app({"DATA_DIR": str(data_dir(chosen))} if chosen else None)
            own_app = True
    except OSError as exc:
        raise UsersError(f"cannot use the data folder {data_dir(chosen)}: {exc}") from None
    ctx.with_resource(app.app_context())
    if own_app:
        # Closed before the app context is popped (last in, first out): nothing else will use
        # this app, and a pooled SQLite connection should not outlive the command.
        ctx.call_on_close(db.engine.dispose)
    try:
        prepare_database(app)
    except DatabaseRefused as exc:
        raise UsersError(str(exc)) from None
    except OperationalError as exc:  # a PostgreSQL server that is down or refuses us
        raise UsersError(f"cannot open the database: {exc.orig}") from None
    return app


def find_user(email: str) -> User:
    """Return the account that uses `email` (ignoring case), or fail saying there is none."""
    user = User.by_email(email)
    if user is None:
        raise UsersError(f"no account uses the email {email.strip()}")
    return user


def read_new_password(from_stdin: bool) -> str:
    """Return the new password: the first line of stdin, or asked for twice without echo."""
    if from_stdin:
        if sys.stdin is None:  # a windowed program on Windows has no standard streams
            raise UsersError("there is no stdin to read the password from")
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    return click.prompt(
        "Password", hide_input=True, confirmation_prompt="Type the password again", err=True
    )


def validate(form_class: type[Form], **fields: str) -> dict[str, Any]:
    """Fill in `form_class` with `fields` and return its data, or fail with its messages."""
    # The forms need a request (Flask-WTF reads its config and session through it); there is
    # no token to check on a command line.
    with current_app.test_request_context():
        form = form_class(formdata=MultiDict(fields), meta={"csrf": False})
        if not form.validate():
            raise UsersError(
                *(
                    f"{name}: {message}"
                    for name, messages in form.errors.items()
                    # The password was asked for twice already (or read once, from stdin):
                    # the confirm field is given the same, and would only echo its errors.
                    if name != "confirm"
                    for message in messages
                )
            )
        return dict(form.data)


def account_json(user: User) -> dict[str, Any]:
    """Return what `list --json` says of an account."""
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "created_at": iso_utc(user.created_at),
        "last_login_at": iso_utc(user.last_login_at),
    }


def table(rows: Sequence[Sequence[str]]) -> Iterable[str]:
    """Yield `rows` as lines of left-aligned columns, measured as a terminal shows them."""
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell + " " * (width - display_width(cell))
            for cell, width in zip(row, widths, strict=True)
        ]
        yield COLUMN_GAP.join(cells).rstrip()


def display_width(text: str) -> int:
    """Return how many columns `text` takes in a terminal: 陈 takes two, a combining mark none."""
    width = 0
    for char in text:
        if unicodedata.category(char) in ("Mn", "Me", "Cf"):  # combining marks, zero-width
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width
