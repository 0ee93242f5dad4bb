"""`doorstep users ...` and `flask users ...`: accounts from the command line.

The rules first, in process through Flask's CLI runner on the test app (on SQLite and on a
real PostgreSQL server); then the real commands as separate processes, the tests marked
@source_and_frozen against the PyInstaller bundle too: a tester seeds a fresh data folder and
serves it, an administrator ends a running server's logins.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from desktop import __version__
from tests.support import REPO_ROOT
from tests.support.bundle import source_and_frozen
from tests.support.data import FAST_ARGON2, PASSWORD, load_newer_database, sha256
from tests.support.forms import RECOVERY_CODE, Browser, recover, recovery_code_from
from tests.support.processes import child_env, serving
from webapp.extensions import db
from webapp.models import Login, User

NEW_PASSWORD = "a brand new password"
JSON_KEYS = ["id", "username", "email", "created_at", "last_login_at"]
# The table's times: local, to the minute.
TIME_PATTERN = "%Y-%m-%d %H:%M"
# Argon2 in the child processes as cheap as in this one (config reads DOORSTEP_* variables).
FAST_ENV = {f"DOORSTEP_{name}": str(value) for name, value in FAST_ARGON2.items()}


@pytest.fixture
def database_url(sqlite_and_postgresql):
    """The in-process tests run on SQLite and on a real PostgreSQL server."""
    return sqlite_and_postgresql


def users_cli(app, *args: str, input: str | None = None):
    """Run `flask users ARGS` on `app` through Flask's CLI runner; return click's Result."""
    return app.test_cli_runner().invoke(
        args=["users", *args], input=input, prog_name="flask", catch_exceptions=False
    )


def create(app, username="Mei", email="mei@example.com", password=PASSWORD) -> str:
    """Create an account with `users create --password-stdin`; return its recovery code."""
    result = users_cli(
        app,
        *("create", "--username", username, "--email", email, "--password-stdin"),
        input=password + "\n",
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def stored_user(app, email="mei@example.com") -> User | None:
    """The account that uses `email`, loaded afresh (detached from any session)."""
    with app.app_context():
        user = User.by_email(email)
        if user is not None:
            db.session.expunge(user)
        return user


def count(app, model) -> int:
    """How many rows `model`'s table holds."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def local_zone():
    """Make this process's local time UTC+05:30 (no DST) for the test, then put it back."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset() is Unix-only")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "IST-5:30")  # POSIX: 5 h 30 min east of UTC, no zone file needed
        time.tzset()
        yield timedelta(hours=5, minutes=30)
    time.tzset()


# Creating an account.


def test_create_prints_only_the_recovery_code_and_the_account_logs_in(app, auth):
    result = users_cli(
        app,
        *("create", "--username", " Mei ", "--email", " Mei@Example.COM", "--password-stdin"),
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.stderr
    assert RECOVERY_CODE.fullmatch(result.stdout.removesuffix("\n")), result.stdout
    assert result.stderr.startswith("Created the account Mei (mei@example.com).")
    user = stored_user(app)
    assert user is not None
    assert (user.username, user.email, user.last_login_at) == ("Mei", "mei@example.com", None)
    response = auth.login(email="mei@example.com", password=PASSWORD)
    assert response.status_code == 302 and response.location == "/"


def test_the_recovery_code_create_printed_works_at_recover(app, client, auth):
    code = create(app)
    response = recover(client, code.lower(), "mei@example.com", NEW_PASSWORD)
    assert response.status_code == 200
    # Accepted: the page shows the next code (the one used is spent).
    assert recovery_code_from(response.get_data(as_text=True)) != code
    assert auth.login(password=NEW_PASSWORD).status_code == 302


def test_create_asks_for_the_password_twice_without_echo(app, auth):
    typed = f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n"
    result = users_cli(
        app, "create", "--username", "Mei", "--email", "mei@example.com", input=typed
    )
    assert result.exit_code == 0, result.stderr
    assert RECOVERY_CODE.fullmatch(result.stdout.removesuffix("\n")), result.stdout
    # The prompts go to stderr (stdout is the code alone), and what is typed is not shown.
    assert "Password:" in result.stderr and "Type the password again:" in result.stderr
    assert "The two entered values do not match." in result.stderr
    assert PASSWORD not in result.stderr
    assert auth.login().status_code == 302


@pytest.mark.parametrize(
    ("username", "email", "password", "message"),
    [
        ("Zed", "not-an-email", PASSWORD, "email: Enter a valid email address, like mei@example.com."),
        ("Zed", "zed@example.com", "short", "password: Password must be 8 to 128 characters long."),
        ("Zed", "zed@example.com", "x" * 129, "password: Password must be 8 to 128 characters long."),
        ("Zed", "zed@example.com", "", "password: Choose a password."),
        ("MEI", "zed@example.com", PASSWORD, "username: That username is taken. Try another one."),
        ("Zed", " MEI@example.com", PASSWORD, "email: An account already uses that email. Log in instead."),
        ("Z", "zed@example.com", PASSWORD, "username: Username must be 2 to 32 characters long."),
        ("Zed Z", "zed@example.com", PASSWORD, "username: Use only letters, digits, underscores, dots and hyphens (no spaces)."),
    ],
    ids=[
        "bad-email", "short-password", "long-password", "no-password", "taken-username",
        "taken-email", "short-username", "space-in-username",
    ],
)  # fmt: skip
def test_create_refuses_what_the_registration_form_refuses(app, username, email, password, message):
    create(app)  # Mei, mei@example.com
    result = users_cli(
        app,
        *("create", "--username", username, "--email", email, "--password-stdin"),
        input=password + "\n",
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"flask users: {message}\n"
    assert count(app, User) == 1


def test_create_reports_every_problem_one_per_line(app):
    result = users_cli(
        app,
        *("create", "--username", "a b", "--email", "nope", "--password-stdin"),
        input="short\n",
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "flask users: username: Use only letters, digits, underscores, dots and hyphens "
        "(no spaces).",
        "flask users: email: Enter a valid email address, like mei@example.com.",
        "flask users: password: Password must be 8 to 128 characters long.",
    ]


def test_create_without_username_or_email_is_a_usage_error(app):
    result = users_cli(app, "create", "--email", "mei@example.com", "--password-stdin", input="")
    assert result.exit_code == 2
    assert "Missing option '--username'" in result.stderr
    assert count(app, User) == 0


# Listing the accounts.


def test_list_json_has_the_keys_and_iso_utc_times(app, auth):
    create(app)
    create(app, "陈美玲", "meiling@example.com")
    auth.login()
    result = users_cli(app, "list", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    accounts = json.loads(result.stdout)
    assert [list(account) for account in accounts] == [JSON_KEYS, JSON_KEYS]
    mei, meiling = (stored_user(app, email) for email in ("mei@example.com", "meiling@example.com"))
    assert mei is not None and meiling is not None and mei.last_login_at is not None
    assert accounts[0]["id"] == mei.id and accounts[1]["id"] == meiling.id
    assert [a["username"] for a in accounts] == ["Mei", "陈美玲"]
    assert [a["email"] for a in accounts] == ["mei@example.com", "meiling@example.com"]
    created = datetime.fromisoformat(accounts[0]["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert created == mei.created_at.replace(tzinfo=timezone.utc, microsecond=0)
    assert (
        accounts[0]["last_login_at"]
        == mei.last_login_at.replace(tzinfo=timezone.utc, microsecond=0).isoformat()
    )
    assert accounts[1]["last_login_at"] is None


def test_list_of_no_accounts(app):
    result = users_cli(app, "list", "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])
    result = users_cli(app, "list")
    assert (result.exit_code, result.stdout) == (0, "ID  USERNAME  EMAIL  CREATED  LAST LOGIN\n")


def test_list_table_aligns_wide_characters_and_shows_local_times(app, auth, local_zone):
    create(app)
    create(app, "陈美玲陈美玲", "meiling@example.com")  # 6 characters, 12 columns wide
    auth.login()
    result = users_cli(app, "list")
    assert result.exit_code == 0, result.stderr
    mei, meiling = (stored_user(app, email) for email in ("mei@example.com", "meiling@example.com"))
    assert mei is not None and meiling is not None and mei.last_login_at is not None

    def local(value: datetime) -> str:
        return (value + local_zone).strftime(TIME_PATTERN)

    assert result.stdout.splitlines() == [
        "ID  USERNAME      EMAIL                CREATED           LAST LOGIN",
        f"{mei.id}   Mei           mei@example.com      {local(mei.created_at)}  "
        f"{local(mei.last_login_at)}",
        f"{meiling.id}   陈美玲陈美玲  meiling@example.com  {local(meiling.created_at)}  never",
    ]


# Resetting a password.


def test_reset_password_ends_every_login_and_prints_a_new_recovery_code(app, client, auth):
    old_code = create(app)
    auth.login(remember=True)
    assert client.get("/account").status_code == 200
    result = users_cli(
        app, "reset-password", " MEI@example.com", "--password-stdin", input=NEW_PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.stderr
    new_code = result.stdout.removesuffix("\n")
    assert RECOVERY_CODE.fullmatch(new_code) and new_code != old_code
    assert result.stderr.startswith(
        "Set a new password for Mei (mei@example.com) and ended 1 login."
    )
    assert count(app, Login) == 0
    # The session and the remember-me cookie both named the login that was ended.
    response = client.get("/account")
    assert response.status_code == 302 and response.location.startswith("/login")
    assert auth.login(password=PASSWORD).status_code == 200  # refused, shown again
    assert auth.login(password=NEW_PASSWORD).status_code == 302
    old = recover(client, old_code, "mei@example.com", PASSWORD).get_data(as_text=True)
    assert "That recovery code does not match." in old
    new = recover(client, new_code, "mei@example.com", PASSWORD).get_data(as_text=True)
    assert recovery_code_from(new)


def test_reset_password_asks_for_the_password_twice(app, auth):
    create(app)
    result = users_cli(
        app, "reset-password", "mei@example.com", input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    )
    assert result.exit_code == 0, result.stderr
    assert RECOVERY_CODE.fullmatch(result.stdout.removesuffix("\n"))
    assert auth.login(password=NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "password: Password must be 8 to 128 characters long."),
        ("", "password: Choose a password."),
    ],
    ids=["short", "empty"],
)
def test_reset_password_refuses_what_the_forms_refuse_and_changes_nothing(
    app, client, auth, password, message
):
    create(app)
    auth.login()
    result = users_cli(
        app, "reset-password", "mei@example.com", "--password-stdin", input=password + "\n"
    )
    assert result.exit_code == 1
    assert (result.stdout, result.stderr) == ("", f"flask users: {message}\n")
    assert client.get("/account").status_code == 200  # still logged in
    assert count(app, Login) == 1


@pytest.mark.parametrize(
    "command",
    [["reset-password", "--password-stdin"], ["delete", "--yes"], ["delete"]],
    ids=["reset-password", "delete-yes", "delete"],
)
def test_an_unknown_email_is_an_error_before_any_question(app, command):
    create(app)
    result = users_cli(app, *command, "nobody@example.com", input=PASSWORD + "\n")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "flask users: no account uses the email nobody@example.com\n"
    assert count(app, User) == 1


# Deleting an account.


def test_delete_yes_removes_the_account_and_its_logins_without_asking(app, client, auth):
    create(app)
    create(app, "Zoë", "zoe@example.com")
    auth.login()
    result = users_cli(app, "delete", "--yes", "Mei@example.com")
    assert result.exit_code == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "Deleted the account Mei (mei@example.com).\n")
    assert stored_user(app) is None
    assert stored_user(app, "zoe@example.com") is not None
    assert count(app, Login) == 0
    assert client.get("/account").status_code == 302


@pytest.mark.parametrize(
    ("answer", "deleted"),
    [("y\n", True), ("n\n", False), ("\n", False), ("", False)],
    ids=["yes", "no", "default-no", "no-answer"],
)
def test_delete_asks_first(app, answer, deleted):
    create(app)
    result = users_cli(app, "delete", "mei@example.com", input=answer)
    assert "Delete the account Mei (mei@example.com)? This cannot be undone. [y/N]" in (
        result.stderr
    )
    assert result.stdout == ""
    assert result.exit_code == (0 if deleted else 1)
    assert (stored_user(app) is None) == deleted
    if not deleted:
        assert result.stderr.endswith("Aborted!\n")


# The real commands, as processes.


def run(command: list[str], *args: str, input: str | None = None, env=None):
    """Run `command ARGS` to completion (cheap Argon2), capturing its output as text."""
    return subprocess.run(
        [*command, *args],
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=child_env({**FAST_ENV, **(env or {})}),
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )


def seed(command, data_dir, username="Frieda", email="frieda@example.org") -> str:
    """Create an account in `data_dir` with `command users create`; return its recovery code."""
    result = run(
        command,
        *("users", "create", "--username", username, "--email", email),
        *("--password-stdin", "--data-dir", str(data_dir)),
        input=PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    code = result.stdout.removesuffix("\n")
    assert RECOVERY_CODE.fullmatch(code), result.stdout  # stdout is the code alone
    return code


def flask_script() -> str:
    """The `flask` script of the environment running the tests (.venv/bin/flask)."""
    script = shutil.which("flask", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip(f"no flask script beside {sys.executable}")
    return script


@source_and_frozen
def test_help_is_the_users_command_s_own(doorstep):
    result = run(doorstep, "users", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: doorstep users [OPTIONS] COMMAND [ARGS]...")
    for word in ("--data-dir", "create", "delete", "list", "reset-password"):
        assert word in result.stdout
    result = run(doorstep, "users", "list", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: doorstep users list [OPTIONS]")
    assert "--json" in result.stdout and "--data-dir" in result.stdout
    assert "users" in run(doorstep, "--help").stdout


@source_and_frozen
def test_a_tester_seeds_a_fresh_data_dir_then_serves_it(doorstep, data_dir):
    seed(doorstep, data_dir)
    seed(doorstep, data_dir, "陈美玲", "meiling@example.com")
    listed = run(doorstep, "--data-dir", str(data_dir), "users", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(a["username"], a["email"]) for a in json.loads(listed.stdout)] == [
        ("Frieda", "frieda@example.org"),
        ("陈美玲", "meiling@example.com"),
    ]
    with serving(doorstep, data_dir, env=FAST_ENV) as running:
        browser = Browser()
        browser.get(running.url)
        for username, email in (
            ("Frieda", "frieda@example.org"),
            ("陈美玲", "meiling@example.com"),
        ):
            browser.get(running.base_url + "login")
            browser.post(running.base_url + "login", {"email": email, "password": PASSWORD})
            assert browser.path == "/", browser.alerts()
            assert f"Welcome back, {username}!" in browser.html
            browser.post(running.base_url + "logout", {})
        assert running.stop(timeout=10) == 0


@source_and_frozen
def test_an_administrator_resets_a_password_while_the_server_runs(doorstep, data_dir):
    seed(doorstep, data_dir)
    with serving(doorstep, data_dir, env=FAST_ENV) as running:
        browser = Browser()
        browser.get(running.url)
        browser.get(running.base_url + "login")
        browser.post(
            running.base_url + "login", {"email": "frieda@example.org", "password": PASSWORD}
        )
        assert "Welcome back, Frieda!" in browser.html
        reset = run(
            doorstep,
            *("users", "reset-password", "frieda@example.org", "--password-stdin"),
            *("--data-dir", str(data_dir)),
            input=NEW_PASSWORD + "\n",
        )
        assert reset.returncode == 0, reset.stderr
        assert RECOVERY_CODE.fullmatch(reset.stdout.removesuffix("\n"))
        browser.get(running.base_url + "account")  # the login was ended: off to log in
        assert browser.path == "/login"
        browser.post(
            running.base_url + "login", {"email": "frieda@example.org", "password": NEW_PASSWORD}
        )
        assert "Welcome back, Frieda!" in browser.html


def test_data_dir_before_or_after_users_and_the_log_beside_the_data(doorstep, tmp_path):
    chosen, ignored = tmp_path / "chosen", tmp_path / "ignored"
    seed(doorstep, chosen)
    for args in (
        ["--data-dir", str(chosen), "users", "list", "--json"],
        ["users", "--data-dir", str(chosen), "list", "--json"],
        # A subcommand's --data-dir wins over one given before it.
        ["--data-dir", str(ignored), "users", "list", "--json", f"--data-dir={chosen}"],
        ["users", "--data-dir", str(ignored), "list", "--data-dir", str(chosen), "--json"],
    ):
        result = run(doorstep, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert [a["username"] for a in json.loads(result.stdout)] == ["Frieda"], args
    assert not ignored.exists()
    assert not (tmp_path / "xdg-data" / "Doorstep").exists()  # nor the default data folder
    log = (chosen / "logs" / "doorstep.log").read_text(encoding="utf-8")
    assert f"Doorstep {__version__} starting (users)" in log
    assert "frieda@example.org" not in log  # the arguments name people


def test_users_needs_no_display_and_loads_no_window_toolkit(tmp_path):
    data_dir = tmp_path / "data"
    probe = (
        "import sys\n"
        "from desktop.__main__ import main\n"
        f"status = main(['users', 'list', '--data-dir', {str(data_dir)!r}])\n"
        "loaded = sorted(m for m in ('webview', 'qtpy', 'PySide6', 'PyQt6', 'PyQt5') "
        "if m in sys.modules)\n"
        "print('loaded:', loaded, 'status:', status)\n"
    )
    result = run([sys.executable, "-c", probe], env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "loaded: [] status: 0"


def test_errors_go_to_stderr_with_status_1(doorstep, tmp_path):
    data_dir = tmp_path / "data"
    seed(doorstep, data_dir)
    result = run(
        doorstep, "users", "delete", "--yes", "nobody@example.com", "--data-dir", str(data_dir)
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "doorstep users: no account uses the email nobody@example.com\n"
    result = run(
        doorstep,
        *("users", "create", "--username", "Frieda", "--email", "other@example.org"),
        *("--password-stdin", "--data-dir", str(data_dir)),
        input=PASSWORD + "\n",
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "doorstep users: username: That username is taken. Try another one.\n"
    # Without --yes and nothing on stdin to say yes: nothing is deleted.
    result = run(doorstep, "users", "delete", "frieda@example.org", "--data-dir", str(data_dir))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.endswith("Aborted!\n")
    listed = run(doorstep, "users", "list", "--json", "--data-dir", str(data_dir))
    assert [a["username"] for a in json.loads(listed.stdout)] == ["Frieda"]


def test_an_unreachable_database_server_is_a_sentence_not_a_traceback(doorstep, data_dir):
    pytest.importorskip("psycopg")  # the bundle has no PostgreSQL driver: source only
    nobody_listens = {"DOORSTEP_DATABASE_URL": "postgresql://doorstep@127.0.0.1:1/doorstep"}
    result = run(doorstep, "users", "list", "--data-dir", str(data_dir), env=nobody_listens)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("doorstep users: cannot open the database: ")
    assert "Traceback" not in result.stderr


@source_and_frozen
def test_a_newer_database_is_refused_with_the_message_and_left_alone(doorstep, data_dir):
    database = load_newer_database(data_dir)
    before = sha256(database)
    result = run(doorstep, "users", "list", "--data-dir", str(data_dir))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines()[-1] == (
        f"doorstep users: this data folder ({data_dir}) was written by a newer version of "
        f"Doorstep (database revision 9999); this is Doorstep {__version__}. Nothing was changed."
    )
    assert sha256(database) == before


def test_flask_users_works_on_a_data_dir_like_doorstep_users(doorstep, data_dir):
    seed(doorstep, data_dir)
    flask = [flask_script(), "--app", "webapp"]
    table = run(flask, "users", "list", "--data-dir", str(data_dir))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ID", "USERNAME", "EMAIL", "CREATED", "LAST", "LOGIN"]
    assert lines[1].split()[:3] == ["1", "Frieda", "frieda@example.org"]
    assert lines[1].endswith("  never")
    listed = run(flask, "users", "--data-dir", str(data_dir), "list", "--json")
    assert [a["email"] for a in json.loads(listed.stdout)] == ["frieda@example.org"]
    missing = run(flask, "users", "--data-dir", str(data_dir), "delete", "--yes", "x@example.com")
    assert (missing.returncode, missing.stderr) == (
        1,
        "flask users: no account uses the email x@example.com\n",
    )


def test_seeding_a_fresh_data_dir_says_only_what_was_done(doorstep, data_dir):
    result = run(
        doorstep,
        *("users", "create", "--username", "Frieda", "--email", "frieda@example.org"),
        *("--password-stdin", "--data-dir", str(data_dir)),
        input=PASSWORD + "\n",
    )
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "Created the account Frieda (frieda@example.org). Its recovery code follows: keep it "
        "safe, it is the way back in without the password."
    ]
