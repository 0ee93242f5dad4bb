"""The PyInstaller bundle in dist/ (built by `python build/build.py`) in every mode.

Skipped when the bundle is missing, unless DOORSTEP_REQUIRE_FROZEN=1 (as in CI, right after
the build), which turns a missing bundle into a failure.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from desktop import __version__
from tests.support import (
    REPO_ROOT,
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
    ):
        assert (INTERNAL / rel).is_file(), rel
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


class _Forms(HTMLParser):
    """Collects hidden csrf_token values and the text of .alert elements."""

    def __init__(self) -> None:
        super().__init__()
        self.csrf: list[str] = []
        self.alerts: list[str] = []
        self._alert_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "input" and attr.get("name") == "csrf_token":
            self.csrf.append(attr.get("value") or "")
        if self._alert_depth:
            self._alert_depth += 1
        elif "alert" in (attr.get("class") or "").split():
            self._alert_depth = 1
            self.alerts.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._alert_depth:
            self._alert_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._alert_depth:
            self.alerts[-1] += data


class Browser:
    """A cookie-keeping HTTP client (standard library only) that remembers the last page."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.url = ""
        self.html = ""

    def _open(self, request: urllib.request.Request) -> str:
        with self.opener.open(request, timeout=30) as response:
            assert response.status == 200, response.status
            self.url = response.url
            self.html = response.read().decode("utf-8")
        return self.html

    def get(self, url: str) -> str:
        return self._open(urllib.request.Request(url))

    def post(self, url: str, fields: dict[str, str]) -> str:
        data = urllib.parse.urlencode({"csrf_token": self.csrf(), **fields}).encode()
        return self._open(urllib.request.Request(url, data=data, method="POST"))

    def csrf(self) -> str:
        parser = _Forms()
        parser.feed(self.html)
        assert parser.csrf, f"no csrf_token on {self.url}"
        return parser.csrf[0]

    def alerts(self) -> list[str]:
        parser = _Forms()
        parser.feed(self.html)
        return [" ".join(text.split()) for text in parser.alerts]

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.url).path


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
