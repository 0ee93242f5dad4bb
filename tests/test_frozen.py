"""The PyInstaller bundle in dist/ (built by `python build/build.py`) in every mode.

Skipped when the bundle is missing, unless DOORSTEP_REQUIRE_FROZEN=1 (as in CI, right after
the build), which turns a missing bundle into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop import __version__
from tests.conftest import (
    V0_1_0_ACCOUNTS,
    load_0_1_0_database,
    load_newer_database,
    read_rows,
    sha256,
)
from tests.support import (
    REPO_ROOT,
    Browser,
    Running,
    close_window,
    find_window,
    free_port,
    launch,
    port_is_free,
    read_running_url,
    start_serve,
    wait_for,
    xvfb,
)

pytestmark = pytest.mark.frozen

BUNDLE = REPO_ROOT / "dist" / "doorstep"
FROZEN = BUNDLE / ("doorstep.exe" if sys.platform == "win32" else "doorstep")
INTERNAL = BUNDLE / "_internal"  # PyInstaller 6 onedir: sys._MEIPASS
FOLDER_BUDGET_MIB = 400
EXIT_LIMIT = 2.0


@pytest.fixture(scope="module", autouse=True)
def frozen() -> Path:
    """The frozen executable; skip (or fail, with DOORSTEP_REQUIRE_FROZEN=1) when not built."""
    if not FROZEN.is_file():
        reason = f"{FROZEN.relative_to(REPO_ROOT)} is not built (run: python build/build.py)"
        if os.environ.get("DOORSTEP_REQUIRE_FROZEN") == "1":
            pytest.fail(reason + " and DOORSTEP_REQUIRE_FROZEN=1", pytrace=False)
        pytest.skip(reason)
    return FROZEN


def test_version():
    out = subprocess.run(
        [str(FROZEN), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"Doorstep {__version__}"


def test_bundle_holds_the_resources_and_not_the_cuts():
    # Where webapp.paths.resource_root() (sys._MEIPASS) looks for them.
    for rel in (
        "templates/base.html",
        "templates/main/index.html",
        "static/vendor/bootstrap/bootstrap.min.css",
        "static/app.js",
        "static/vendor/bootstrap/LICENSE",
        "static/img/doorstep.png",
        # Where webapp.paths.migrations_dir() looks (beside webapp/paths.py): Alembic loads
        # these as source files, so they are data, not modules in the PYZ.
        "webapp/migrations/alembic.ini",
        "webapp/migrations/env.py",
        "webapp/migrations/script.py.mako",
    ):
        assert (INTERNAL / rel).is_file(), rel
    shipped = sorted(p.name for p in (INTERNAL / "webapp" / "migrations" / "versions").glob("*.py"))
    source = sorted(p.name for p in (REPO_ROOT / "webapp" / "migrations" / "versions").glob("*.py"))
    assert shipped == source
    assert not list((INTERNAL / "webapp" / "migrations").rglob("__pycache__"))
    if not sys.platform.startswith("linux"):
        return
    qt = INTERNAL / "PyQt6" / "Qt6"
    assert (qt / "libexec" / "QtWebEngineProcess").is_file()
    assert [p.name for p in (qt / "translations" / "qtwebengine_locales").iterdir()] == [
        "en-US.pak"
    ]
    assert not (qt / "resources" / "qtwebengine_devtools_resources.pak").exists()
    assert not (qt / "qml").exists()
    assert not list(INTERNAL.glob("libgtk-3*"))
    assert not list(INTERNAL.glob("PyQt6/Qt6/lib/libQt6Quick3D*"))
    if shutil.which("du"):
        du = subprocess.run(["du", "-sm", str(BUNDLE)], capture_output=True, text=True, check=True)
        assert int(du.stdout.split()[0]) <= FOLDER_BUDGET_MIB


def test_the_bundle_is_sqlite_only():
    # Alembic imports SQLAlchemy's PostgreSQL dialect, so that module is in; no driver is.
    readers = pytest.importorskip("PyInstaller.archive.readers")
    pyz = readers.CArchiveReader(str(FROZEN)).open_embedded_archive("PYZ.pyz")
    modules = set(pyz.toc)
    assert {"alembic.ddl.sqlite", "sqlalchemy.dialects.sqlite.pysqlite", "mako.template"} <= modules
    assert "sqlalchemy.dialects.postgresql" in modules
    unwanted = ("psycopg", "psycopg_binary", "psycopg2", "asyncpg", "pg8000", "pymysql", "pygments")
    assert not [name for name in modules if name.split(".")[0] in unwanted]
    assert not [
        name
        for name in modules
        if name.startswith(("alembic.testing", "sqlalchemy.dialects.mysql"))
    ]
    for folder in ("psycopg", "psycopg_binary", "psycopg_binary.libs"):
        assert not (INTERNAL / folder).exists(), folder


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not shutil.which("ldd"), reason="Linux ldd check"
)
def test_every_library_in_the_bundle_finds_its_dependencies():
    # The spec prunes libraries it believes unused; a wrong cut shows up here as "not found"
    # even for code paths the other tests do not reach.
    lib_dirs = [str(INTERNAL), str(INTERNAL / "PyQt6" / "Qt6" / "lib")]
    env = {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(lib_dirs)}
    elves = [p for p in INTERNAL.rglob("*") if p.is_file() and ".so" in p.name]
    elves.append(INTERNAL / "PyQt6" / "Qt6" / "libexec" / "QtWebEngineProcess")
    missing = {}
    for path in elves:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env).stdout
        lost = [line.split()[0] for line in out.splitlines() if "not found" in line]
        if lost:
            missing[str(path.relative_to(INTERNAL))] = lost
    assert len(elves) > 100
    assert not missing


# --- serve mode over real HTTP ------------------------------------------------------------


@pytest.fixture
def served(tmp_path) -> Iterator[Running]:
    """`doorstep serve --data-dir tmp/data` from the bundle."""
    running = start_serve(tmp_path / "data", command=[str(FROZEN)])
    try:
        yield running
    finally:
        running.kill()


def test_serve_register_login_greeting_logout(served, tmp_path):
    base = served.base_url
    browser = Browser()
    # The token URL swaps the token for a cookie and redirects to the landing page.
    browser.get(served.url)
    assert browser.path == "/" and "token" not in browser.url
    assert "<title>Doorstep</title>" in browser.html

    browser.get(base + "register")
    browser.post(
        base + "register",
        {
            "username": "Frieda",
            "email": "frieda@example.org",
            "password": "correct horse",
            "confirm": "correct horse",
        },
    )
    assert browser.path == "/login", browser.alerts()
    assert any("Your account is ready" in a for a in browser.alerts())

    browser.post(base + "login", {"email": "frieda@example.org", "password": "correct horse"})
    assert browser.path == "/"
    assert "Welcome back, Frieda!" in browser.html

    browser.post(base + "logout", {})
    assert browser.path == "/"
    assert "Welcome back" not in browser.html
    assert "You have been logged out." in browser.alerts()

    assert (tmp_path / "data" / "doorstep.db").is_file()
    port = served.port
    assert served.stop(timeout=10) == 0
    assert port_is_free(port)


def test_serve_refuses_requests_without_the_token(served):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(served.base_url, timeout=10)
    refused.value.close()
    assert refused.value.code == 403


# --- the user's database: Alembic's migrations run from the bundle --------------------------


def bundled_head() -> str:
    """The newest revision among the migrations the bundle ships."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(INTERNAL / "webapp" / "migrations")).get_current_head()
    assert head
    return head


def test_serve_upgrades_a_0_1_0_database_and_its_accounts_log_in(tmp_path):
    data_dir = tmp_path / "data"
    database = load_0_1_0_database(data_dir)
    stored = read_rows(database, "SELECT * FROM users ORDER BY id")
    running = start_serve(data_dir, command=[str(FROZEN)])
    try:
        # The upgrade runs before the URL is printed: the backup exists by now.
        (backup,) = sorted((data_dir / "backups").glob("doorstep-*.db"))
        assert re.fullmatch(r"doorstep-\d{8}T\d{6}Z-0\.1\.0\.db", backup.name), backup.name
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        assert read_rows(backup, "SELECT * FROM users ORDER BY id") == stored
        assert read_rows(database, "SELECT version_num FROM alembic_version") == [(bundled_head(),)]

        base = running.base_url
        browser = Browser()
        browser.get(running.url)
        for username, email, password in V0_1_0_ACCOUNTS:
            browser.get(base + "login")
            browser.post(base + "login", {"email": email, "password": password})
            assert browser.path == "/", (username, browser.alerts())
            assert f"Welcome back, {username}!" in browser.html
            browser.post(base + "logout", {})
            assert "You have been logged out." in browser.alerts()
        assert running.stop(timeout=10) == 0
    finally:
        running.kill()
    log = (data_dir / "logs" / "doorstep.log").read_text(encoding="utf-8")
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]


def test_serve_refuses_a_database_from_a_newer_doorstep_and_leaves_it_alone(tmp_path):
    data_dir = tmp_path / "data"
    database = load_newer_database(data_dir)
    before = sha256(database)

    running = launch(["serve", "--data-dir", str(data_dir)], tmp_path, command=[str(FROZEN)])
    try:
        status = running.wait(60)
    finally:
        running.kill()
    assert status == 1, running.stderr()[-3000:]
    assert running.stdout is not None and running.stdout.seen == []  # no URL line
    assert (
        f"doorstep: this data folder ({data_dir}) was written by a newer version of Doorstep "
        f"(database revision 9999); this is Doorstep {__version__}. Nothing was changed."
    ) in running.stderr()
    assert sha256(database) == before
    assert not (data_dir / "backups").exists()
    # Reading a WAL database, even read-only, leaves SQLite's -shm (and an empty -wal) behind;
    # nothing may have been written to the log.
    wal = data_dir / "doorstep.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


# --- the window under Xvfb ------------------------------------------------------------------


@pytest.mark.window
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Xvfb window test: Linux only")
def test_window_opens_on_the_landing_page_and_closes_cleanly(tmp_path):
    if not shutil.which("Xvfb") or not shutil.which("xwininfo"):
        pytest.skip("needs Xvfb and xwininfo (Debian packages xvfb, x11-utils)")
    from tests.test_window import Window  # the window tests' page/screenshot helpers

    with xvfb() as display:
        debug_port = free_port()
        env = {
            "DISPLAY": display,
            # Read the page through QtWebEngine's remote-debugging port (the test's only).
            "QTWEBENGINE_REMOTE_DEBUGGING": str(debug_port),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        }
        started = time.monotonic()
        running = launch(
            ["--data-dir", str(tmp_path / "data")], tmp_path, env=env, command=[str(FROZEN)]
        )
        try:
            window = Window(running, display, debug_port)
            state = window.page("/")
            loaded_after = time.monotonic() - started
            assert state["title"] == "Doorstep"
            assert state["brand"].strip() == "Doorstep"
            assert "Create account" in state["text"]
            assert "token" not in state["url"]
            # Bootstrap's stylesheet (bundled data) is applied: the navbar is dark.
            background = window.run_js(
                "getComputedStyle(document.querySelector('.navbar')).backgroundColor"
            )
            assert background == "rgb(33, 37, 41)", background
            shot = window.screenshot(tmp_path, "frozen-landing.png")
            assert shot.stat().st_size > 10_000
            print(f"frozen window: landing page loaded {loaded_after:.2f} s after launch")

            port = window.app_port
            closing = time.monotonic()
            close_window(display, window.xid)
            status = running.wait(EXIT_LIMIT + 10)
            elapsed = time.monotonic() - closing
            assert status == 0, running.stderr()[-3000:]
            assert elapsed <= EXIT_LIMIT, f"took {elapsed:.2f} s to exit"
            assert port_is_free(port)
            assert find_window(display, "Doorstep") is None
        finally:
            running.kill()


def test_no_display_falls_back_to_serve(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("the no-display fallback is Linux-only")
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    running = launch(
        ["--data-dir", str(tmp_path / "data")], tmp_path, env=env, command=[str(FROZEN)]
    )
    try:
        url = read_running_url(running)
        assert re.match(r"http://127\.0\.0\.1:\d+/\?token=", url)
        wait_for(lambda: "no display" in running.stderr(), 10, "the no-display message")
        assert running.stop(timeout=10) == 0
    finally:
        running.kill()
