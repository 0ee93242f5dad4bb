"""When the disk refuses a write: a 503 in plain words, nobody half logged in, nothing lost.

The failures are real: a tmpfs that fills up and a folder remounted read-only (both need
root, as CI runs; a developer without it sees those skipped), and a database file deleted
while the app runs.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support.forms import AuthActions
from webapp.extensions import db
from webapp.models import User

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a filesystem needs root")


@contextlib.contextmanager
def mounted(*args: str, target: Path) -> Iterator[Path]:
    """Mount something on `target` for the block."""
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", *args, str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


def fill(folder: Path) -> Path:
    """Take every free byte of the filesystem `folder` is on; return the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def user_emails(app) -> list[str]:
    """The emails stored, read back through the app."""
    with app.app_context():
        return list(db.session.scalars(select(User.email).order_by(User.id)))


@needs_root
def test_a_full_disk_is_a_503_that_says_so_and_keeps_what_was_stored(make_app, data_dir, caplog):
    with mounted("-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", target=data_dir):
        app = make_app()
        client = app.test_client()
        auth = AuthActions(client)
        assert auth.register().status_code == 200
        filler = fill(data_dir)
        with caplog.at_level(logging.ERROR):
            response = auth.register(username="Ada", email="ada@example.com")
        page = response.get_data(as_text=True)
        assert response.status_code == 503
        assert "Your changes were not saved" in page
        assert "Doorstep could not save your changes: the disk is full." in page
        assert "Your data is safe" not in page
        # Logs never hold what the failed statement carried.
        assert "ada@example.com" not in caplog.text and "$argon2" not in caplog.text

        response = auth.login()  # recording the login needs the disk too
        assert response.status_code == 503
        assert "Welcome back" not in client.get("/").get_data(as_text=True)
        assert client.get("/account").status_code == 302  # to the login page: not logged in

        filler.unlink()
        assert user_emails(app) == ["mei@example.com"]
        assert auth.login().status_code == 302
        assert "Welcome back, Mei!" in client.get("/").get_data(as_text=True)
        with app.app_context():
            db.engine.dispose()


@needs_root
def test_a_read_only_data_folder_is_a_503_that_says_so(make_app, data_dir):
    app = make_app()
    auth = AuthActions(app.test_client())
    assert auth.register().status_code == 200
    with app.app_context():
        db.engine.dispose()  # SQLite reopens the file as it finds it
    with mounted("--bind", "-o", "ro", str(data_dir), target=data_dir):
        response = auth.register(username="Ada", email="ada@example.com")
        assert response.status_code == 503
        assert "Doorstep could not save your changes: its data folder is read-only." in (
            response.get_data(as_text=True)
        )
        with app.app_context():
            db.engine.dispose()
    assert user_emails(app) == ["mei@example.com"]
    assert auth.register(username="Ada", email="ada@example.com").status_code == 200
    with app.app_context():
        db.engine.dispose()


def test_a_database_deleted_under_the_app_is_a_503_that_says_so(make_app, data_dir):
    app = make_app()
    auth = AuthActions(app.test_client())
    assert auth.register().status_code == 200
    for name in ("doorstep.db", "doorstep.db-wal", "doorstep.db-shm"):
        with contextlib.suppress(FileNotFoundError):
            (data_dir / name).unlink()
    response = auth.register(username="Ada", email="ada@example.com")
    assert response.status_code == 503
    assert (
        "Doorstep could not save your changes: its database file was moved or deleted "
        "while Doorstep was running." in response.get_data(as_text=True)
    )
    with app.app_context():
        db.engine.dispose()


def test_a_failed_statement_hides_its_parameters(app):
    with app.app_context():
        try:
            db.session.execute(
                select(func.no_such_function(User.email)).where(User.email == "mei@example.com")
            )
        except Exception as exc:  # noqa: BLE001  (the message is what is checked)
            message = str(exc)
        db.session.rollback()
    assert "SQL parameters hidden" in message
    assert "mei@example.com" not in message
