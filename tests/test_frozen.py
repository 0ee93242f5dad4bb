"""What only the PyInstaller bundle in dist/ has: its contents, its size, its libraries.

The serve, window and command-line tests marked @source_and_frozen run the bundle through
the same flows as the checkout. Without a bundle these tests skip, unless
DOORSTEP_REQUIRE_FROZEN=1 (as in CI, right after the build), which turns a missing bundle
into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.support import REPO_ROOT
from tests.support.bundle import BUNDLE, INTERNAL
from tests.support.data import CHEAP_HASHING
from tests.support.forms import Browser
from tests.support.processes import serving

pytestmark = [pytest.mark.frozen, pytest.mark.usefixtures("frozen_app")]

FOLDER_BUDGET_MIB = 400
# Babel's locale data for English and Simplified Chinese and the parents Babel merges them
# over; the spec asks Babel which (build/doorstep.spec, BABEL_LOCALES).
BABEL_LOCALE_DATA = {"root.dat", "en.dat", "zh.dat", "zh_Hans.dat", "zh_Hans_CN.dat"}


def test_bundle_holds_the_resources_and_not_the_cuts():
    # Under sys._MEIPASS, where resource_root() looks for them in a bundle.
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
    assert sorted(p.name for p in (qt / "translations").glob("*.qm")) == ["qtbase_zh_CN.qm"]
    assert not (qt / "resources" / "qtwebengine_devtools_resources.pak").exists()
    assert not (qt / "qml").exists()
    assert not list(INTERNAL.glob("libgtk-3*"))
    assert not list(INTERNAL.glob("PyQt6/Qt6/lib/libQt6Quick3D*"))
    if shutil.which("du"):
        du = subprocess.run(["du", "-sm", str(BUNDLE)], capture_output=True, text=True, check=True)
        assert int(du.stdout.split()[0]) <= FOLDER_BUDGET_MIB


def test_the_bundle_is_sqlite_only(frozen_app):
    # Alembic imports SQLAlchemy's PostgreSQL dialect, so that module is in; no driver is.
    readers = pytest.importorskip("PyInstaller.archive.readers")
    pyz = readers.CArchiveReader(str(frozen_app)).open_embedded_archive("PYZ.pyz")
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


def test_the_bundle_holds_babels_data_for_english_and_chinese_only():
    # Of the ~1000 locales (32 MB) Babel ships, only those Doorstep speaks.
    babel = INTERNAL / "babel"
    assert {path.name for path in (babel / "locale-data").iterdir()} == BABEL_LOCALE_DATA
    assert (babel / "global.dat").is_file()  # likely subtags, parent exceptions, time zones


def test_the_frozen_app_formats_dates_in_chinese(frozen_app, tmp_path):
    with serving([str(frozen_app)], tmp_path / "data", env=CHEAP_HASHING) as server:
        browser = Browser()
        browser.opener.addheaders = [("Accept-Language", "zh-CN,zh;q=0.9")]
        browser.get(server.url)
        browser.register(server.base_url, "美玲", "mei@example.com", "correct horse")
        browser.post(
            server.base_url + "login", {"email": "mei@example.com", "password": "correct horse"}
        )
        page = browser.get(server.base_url + "account")
    # "Member since", in CLDR's Chinese date format (zh_Hans over zh over root).
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", page), page
