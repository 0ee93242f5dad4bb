"""The real Doorstep window (Qt WebEngine under Xvfb): it shows the app and closes cleanly.

The page inside the window is read through QtWebEngine's remote-debugging port
(QTWEBENGINE_REMOTE_DEBUGGING, set for the child only), so the product carries no test hook.
The tests marked @source_and_frozen run against the PyInstaller bundle too.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import REPO_ROOT
from tests.support.artifacts import keep_artifact
from tests.support.bundle import source_and_frozen
from tests.support.data import V0_1_0_ACCOUNTS, load_0_1_0_database, load_newer_database
from tests.support.devtools import CDPSession, cdp_targets, loaded_page
from tests.support.processes import Running, free_port, launch, port_is_free, wait_for
from tests.support.x11 import close_window, find_window, press_key, screenshot, window_size, xvfb

pytestmark = pytest.mark.window

LOCAL = "http://127.0.0.1:"
# The most a user waits for Doorstep to exit after closing the window or a stop signal.
EXIT_LIMIT = 2.0
START_LIMIT = 90.0


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """An Xvfb display for this module's windows."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the window tests drive Qt's xcb backend under Xvfb (Linux)")
    # On Linux these are part of the test set-up (scripts/dev.py system-deps): fail, not skip.
    missing = [tool for tool in ("Xvfb", "xwininfo", "import", "convert") if not shutil.which(tool)]
    if missing:
        pytest.fail(f"missing {missing}: install Debian's xvfb, x11-utils and imagemagick")
    with xvfb() as name:
        yield name


class Window:
    """A running `doorstep` window and the ways a test looks at it."""

    def __init__(
        self, running: Running, display: str, debug_port: int, artifact_prefix: str = ""
    ) -> None:
        self.running = running
        self.display = display
        self.debug_port = debug_port
        self.artifact_prefix = artifact_prefix
        self.xid = wait_for(
            lambda: self._alive() and find_window(display, "Doorstep"), START_LIMIT, "the window"
        )

    def _alive(self) -> bool:
        if self.running.proc.poll() is not None:
            raise AssertionError(
                f"doorstep exited with {self.running.proc.returncode}:\n{self.running.stderr()}"
            )
        return True

    def page(self, path: str = "/", timeout: float = START_LIMIT) -> dict:
        """Wait until the page at `path` has loaded in the window; return its state."""
        try:
            return wait_for(
                lambda: self._alive() and self._loaded(path), timeout, f"{path} in the window"
            )
        except TimeoutError as exc:
            shown = loaded_page(self.debug_port, LOCAL) or {}
            raise AssertionError(
                f"{exc}; the window shows {shown.get('url')}:\n{shown.get('text', '')[:1000]}"
            ) from None

    def any_page(self) -> dict:
        """Wait until a page with a title (whatever its path) has loaded; return its state."""
        return wait_for(
            lambda: (page := loaded_page(self.debug_port, LOCAL)) and page["title"] and page,
            START_LIMIT,
            "a page in the window",
        )

    def _loaded(self, path: str) -> dict | None:
        state = loaded_page(self.debug_port, LOCAL)
        if state and urlsplit(state["url"]).path == path:
            return state
        return None

    @property
    def app_port(self) -> int:
        """The embedded server's port, read from the page's URL."""
        return urlsplit(self.page()["url"]).port or 80

    def run_js(self, expression: str) -> object:
        """Evaluate JavaScript in the window's page."""
        target = next(t for t in cdp_targets(self.debug_port) if t["url"].startswith(LOCAL))
        with CDPSession(target["webSocketDebuggerUrl"]) as cdp:
            return cdp.evaluate(expression)

    def screenshot_of(self, window: int, tmp_path: Path, name: str) -> Path:
        """Save a screenshot of another of the app's windows (a dialog) for humans."""
        path = screenshot(self.display, tmp_path / name, window)
        keep_artifact(path, f"{self.artifact_prefix}window-{name}")
        return path

    def screenshot(self, tmp_path: Path, name: str) -> Path:
        """Save a screenshot of the window once it has painted, and keep a copy for humans."""
        path = tmp_path / name

        def painted() -> bool:
            screenshot(self.display, path, self.xid)
            colours = subprocess.run(
                ["convert", str(path), "-format", "%k", "info:"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            return int(colours or 0) > 20

        # Two animation frames after the page loaded, its pixels have reached the window.
        self.run_js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        wait_for(painted, 20, "the window to paint", interval=0.2)
        keep_artifact(path, f"{self.artifact_prefix}window-{name}")
        return path


@pytest.fixture
def open_window(display, doorstep, data_dir, tmp_path, request) -> Iterator[Callable[..., Window]]:
    """A function that opens a window: `doorstep [ARGS] --data-dir DATA_DIR` on `display`.

    Windows still open when the test ends are killed.
    """
    windows: list[Window] = []
    artifact_prefix = "frozen-" if request.node.get_closest_marker("frozen") else ""

    def open_(env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> Window:
        debug_port = free_port()
        child_env = {
            "DISPLAY": display,
            "QTWEBENGINE_REMOTE_DEBUGGING": str(debug_port),
            # QtWebEngine's cache goes to XDG_CACHE_HOME: keep it out of the real home.
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            **(env or {}),
        }
        running = launch(doorstep, [*args, "--data-dir", str(data_dir)], tmp_path, env=child_env)
        try:
            window = Window(running, display, debug_port, artifact_prefix)
        except BaseException:
            running.kill()
            raise
        windows.append(window)
        return window

    yield open_
    for window in windows:
        window.running.kill()


def exit_status_within(window: Window, limit: float, started: float) -> int:
    """Wait for the process; assert it ended within `limit` seconds of `started`."""
    status = window.running.wait(limit + 10)
    elapsed = time.monotonic() - started
    assert elapsed <= limit, f"took {elapsed:.2f} s to exit (limit {limit} s)"
    return status


@source_and_frozen
def test_window_shows_landing_page_and_closing_it_exits_cleanly(
    open_window, display, data_dir, tmp_path
):
    window = open_window()

    state = window.page("/")
    assert state["title"] == "Doorstep"
    assert state["brand"].strip() == "Doorstep"
    assert "Create account" in state["text"]
    # The token was swapped for a cookie: it is no longer in the address.
    assert "token" not in state["url"]
    # Bootstrap's stylesheet is applied: the navbar is dark.
    background = window.run_js(
        "getComputedStyle(document.querySelector('.navbar')).backgroundColor"
    )
    assert background == "rgb(33, 37, 41)", background
    assert window_size(display, window.xid) == (1024, 720)
    shot = window.screenshot(tmp_path, "landing.png")
    assert shot.stat().st_size > 10_000
    # The landing page needs no database; the server opens it once the page is on screen.
    wait_for(lambda: (data_dir / "doorstep.db").is_file(), 10, "the database to be opened")
    # The window's profile (cookies for Remember me) lives in the data dir too.
    assert (data_dir / "webview").is_dir()

    port = window.app_port
    started = time.monotonic()
    close_window(display, window.xid)  # what a window manager's close button sends
    assert exit_status_within(window, EXIT_LIMIT, started) == 0
    assert port_is_free(port)
    assert find_window(display, "Doorstep") is None


@source_and_frozen
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_closes_window_and_exits_cleanly(open_window, display, signum):
    window = open_window()
    port = window.app_port

    started = time.monotonic()
    window.running.signal(signum)
    assert exit_status_within(window, EXIT_LIMIT, started) == 0
    assert port_is_free(port)
    assert find_window(display, "Doorstep") is None


def _submit(window: Window, fields: dict[str, str], button: str, checkbox: str = "") -> None:
    # Fill the form the way a user does, then press its button.
    script = "".join(
        f"document.getElementById({name!r}).value = {value!r};" for name, value in fields.items()
    )
    if checkbox:
        script += f"document.getElementById({checkbox!r}).checked = true;"
    script += (
        "Array.from(document.querySelectorAll('button[type=submit]'))"
        f".find(b => b.textContent.trim() === {button!r}).click(); true"
    )
    assert window.run_js(script) is True


@source_and_frozen
def test_whole_flow_in_the_window_and_remember_me_survives_a_restart(
    open_window, display, tmp_path
):
    cheap_hashing = {
        "DOORSTEP_ARGON2_TIME_COST": "1",
        "DOORSTEP_ARGON2_MEMORY_COST": "8",
        "DOORSTEP_ARGON2_PARALLELISM": "1",
    }
    window = open_window(env=cheap_hashing)
    window.page("/")
    window.run_js("location.href = '/register'; true")
    window.page("/register")
    _submit(
        window,
        {
            "username": "ada",
            "email": "ada@example.org",
            "password": "correct horse",
            "confirm": "correct horse",
        },
        "Create account",
    )
    # The recovery code is shown once, in the window too, before the login page.
    wait_for(
        lambda: window.run_js("document.querySelector('[data-testid=recovery-code]') !== null"),
        30,
        "the recovery code page",
    )
    window.screenshot(tmp_path, "recovery-code.png")
    _submit(window, {}, "I have saved my recovery code")
    window.page("/login", timeout=30)
    _submit(
        window,
        {"email": "ada@example.org", "password": "correct horse"},
        "Log in",
        checkbox="remember",
    )
    assert "Welcome back, ada!" in window.page("/", timeout=30)["text"]
    close_window(display, window.xid)
    assert window.running.wait(10) == 0

    # A new process, a new port, a new token: only the webview profile remembers ada.
    again = open_window(env=cheap_hashing)
    state = again.page("/")
    assert "Welcome back, ada!" in state["text"]
    again.screenshot(tmp_path, "remembered.png")

    # The rest of the flow, in the window: the account page, then the navbar's Log out button.
    again.run_js("document.querySelector('nav a[href=\"/account\"]').click(); true")
    assert "ada@example.org" in again.page("/account", timeout=30)["text"]
    again.run_js("document.querySelector('nav form[action=\"/logout\"] button').click(); true")
    state = again.page("/", timeout=30)
    assert "You have been logged out." in state["text"]
    assert "Welcome back" not in state["text"]
    alert = again.run_js(
        "(() => { const a = document.querySelector('.alert');"
        " return [a.className, a.getAttribute('role')]; })()"
    )
    assert alert == ["alert alert-success alert-dismissible fade show", "alert"]
    again.screenshot(tmp_path, "logged-out.png")
    close_window(display, again.xid)
    assert again.running.wait(10) == 0


def _goto(window: Window, path: str) -> dict:
    window.run_js(f"location.href = {path!r}; true")
    return window.page(path, timeout=30)


def _shown_recovery_code(window: Window) -> str:
    return wait_for(
        lambda: window.run_js(
            "(document.querySelector('[data-testid=recovery-code]') || {}).textContent || ''"
        ).strip(),
        30,
        "a recovery code in the window",
    )


def _save_download(window: Window, display: str, tmp_path: Path, name: str) -> Path:
    """Accept the Save As dialog a download opened, with the name it proposes; return the file."""
    dialog = wait_for(lambda: find_window(display, "Save As"), 30, "the Save As dialog")
    window.screenshot_of(dialog, tmp_path, name)
    press_key(display, dialog, "Return")
    downloads = tmp_path / "home" / "Downloads"

    def finished() -> Path | None:
        # Chromium writes into a hidden temporary file, then renames it.
        files = list(downloads.iterdir())
        done = [path for path in files if not path.name.startswith(".")]
        return done[0] if done and len(done) == len(files) else None

    return wait_for(finished, 30, "the saved file")


def test_the_account_life_cycle_in_the_window(open_window, display, tmp_path):
    env = {
        "DOORSTEP_ARGON2_TIME_COST": "1",
        "DOORSTEP_ARGON2_MEMORY_COST": "8",
        "DOORSTEP_ARGON2_PARALLELISM": "1",
        # Downloads land in $HOME/Downloads, when the Save As dialog's proposal is taken.
        "HOME": str(tmp_path / "home"),
    }
    (tmp_path / "home" / "Downloads").mkdir(parents=True)
    window = open_window(env=env)
    window.page("/")
    _goto(window, "/register")
    fields = {"username": "陈美玲", "email": "mei@example.com"}
    password = {"password": "correct horse", "confirm": "correct horse"}
    _submit(window, {**fields, **password}, "Create account")
    code = _shown_recovery_code(window)
    _submit(window, {}, "I have saved my recovery code")
    window.page("/login", timeout=30)
    _submit(window, {"password": "correct horse"}, "Log in")
    window.page("/", timeout=30)

    text = _goto(window, "/account")["text"]
    assert "Doorstep window this window" in " ".join(text.split())
    window.screenshot(tmp_path, "account.png")

    # "Download my data" saves the file where the user says, with the name the page gives.
    window.run_js("document.querySelector('a[href=\"/account/export\"]').click(); true")
    saved = _save_download(window, display, tmp_path, "save-as.png")
    assert saved.name == "doorstep-陈美玲.json"
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["username"] == "陈美玲" and data["logins"][0]["client"] == "Doorstep window"

    _goto(window, "/account/password")
    new = {"password": "a new battery staple", "confirm": "a new battery staple"}
    _submit(window, {"current_password": "correct horse", **new}, "Change password")
    assert "Your password has been changed." in window.page("/account", timeout=30)["text"]

    _submit(window, {}, "Log out everywhere")
    state = window.page("/", timeout=30)
    assert "You have been logged out everywhere." in state["text"]
    assert "Welcome back" not in state["text"]

    _goto(window, "/recover")
    third = {"password": "third time lucky", "confirm": "third time lucky"}
    _submit(window, {"email": "mei@example.com", "recovery_code": code, **third}, "Reset password")
    assert _shown_recovery_code(window) != code
    _submit(window, {}, "I have saved my recovery code")
    assert "Your password has been reset." in window.page("/login", timeout=30)["text"]
    _submit(window, {"password": "third time lucky"}, "Log in")
    assert "Welcome back, 陈美玲!" in window.page("/", timeout=30)["text"]

    _goto(window, "/account/delete")
    _submit(window, {"password": "third time lucky"}, "Delete account")
    assert "Your account has been deleted." in window.page("/", timeout=30)["text"]
    window.screenshot(tmp_path, "account-deleted.png")


def test_link_to_another_site_opens_in_the_system_browser(open_window, display, tmp_path):
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    browser.chmod(0o755)
    window = open_window(env={"BROWSER": str(browser)})
    landing = window.page("/")

    # The shell adds its link handler once pywebview reports the page loaded.
    wait_for(
        lambda: window.run_js("window.__doorstepExternalLinks === true"), 30, "the link handler"
    )
    window.run_js(
        "var a = document.createElement('a'); a.href = 'https://example.org/elsewhere';"
        "a.textContent = 'elsewhere'; document.body.appendChild(a); a.click(); true"
    )
    wait_for(
        lambda: opened.exists() and opened.read_text() == "https://example.org/elsewhere",
        30,
        "the system browser to be asked",
    )
    # The window itself stayed on Doorstep.
    assert window.page("/")["url"] == landing["url"]
    close_window(display, window.xid)
    assert window.running.wait(10) == 0


def test_webapp_failure_shows_an_error_page_in_the_window(open_window, display, data_dir, tmp_path):
    (data_dir / "secret_key").mkdir(parents=True)  # unreadable as a key: create_app fails
    window = open_window()
    state = window.any_page()
    assert "Doorstep could not start" in state["text"]
    # It names the log file, which holds the details.
    logged = re.search(r"log file (\S+\.log)", state["text"])
    assert logged and Path(logged.group(1)).parent == data_dir / "logs"
    assert "Traceback" in Path(logged.group(1)).read_text()
    window.screenshot(tmp_path, "startup-error.png")
    close_window(display, window.xid)
    assert window.running.wait(10) == 1
    assert "failed to start" in window.running.stderr()


def test_a_0_1_0_user_logs_in_in_the_window_after_the_upgrade(
    open_window, display, data_dir, tmp_path
):
    load_0_1_0_database(data_dir)
    username, email, password = V0_1_0_ACCOUNTS[1]
    window = open_window()
    window.page("/")
    assert len(list((data_dir / "backups").glob("doorstep-*-0.1.0.db"))) == 1
    window.run_js("location.href = '/login'; true")
    window.page("/login")
    _submit(window, {"email": email, "password": password}, "Log in")
    assert f"Welcome back, {username}!" in window.page("/", timeout=30)["text"]
    window.screenshot(tmp_path, "upgraded-0.1.0-greeting.png")
    close_window(display, window.xid)
    assert window.running.wait(10) == 0


@source_and_frozen
def test_a_database_from_a_newer_doorstep_is_explained_in_the_window(
    open_window, display, data_dir, tmp_path
):
    database = load_newer_database(data_dir)
    before = database.read_bytes()
    window = open_window()
    state = window.any_page()
    assert state["title"].startswith("Doorstep cannot open your data")
    assert (
        f"This data folder ({data_dir}) was written by a newer version of Doorstep "
        "(database revision 9999); this is Doorstep" in state["text"]
    )
    assert "Nothing was changed." in state["text"]
    window.screenshot(tmp_path, "newer-database.png")
    close_window(display, window.xid)
    assert window.running.wait(10) == 1
    stderr = window.running.stderr()
    assert "doorstep: this data folder" in stderr and "failed to start" not in stderr
    assert database.read_bytes() == before
    assert not (data_dir / "backups").exists()


@source_and_frozen
def test_server_process_ends_when_the_window_process_dies(open_window):
    window = open_window()
    port = window.app_port
    window.running.proc.kill()  # no clean-up runs in the window process
    window.running.wait(10)
    # The server child sees its stdin close, shuts down and releases the port.
    wait_for(lambda: port_is_free(port), 10, "the server process to release the port")


def test_dev_mode_shows_template_changes_without_restarting_the_window(open_window, display):
    template = REPO_ROOT / "templates" / "main" / "index.html"
    original = template.read_text(encoding="utf-8")
    window = open_window(args=("--dev",))
    # With devtools on (--dev), pywebview picks the debugging port itself and says which.
    window.debug_port = int(
        wait_for(
            lambda: re.search(
                r"Remote debugging server started .*?:(\d+)", window.running.stderr()
            ),
            START_LIMIT,
            "pywebview's devtools port",
        ).group(1)
    )
    assert "Doorstep" in window.page("/")["brand"]

    marker = f"Edited while running {time.monotonic_ns()}"
    try:
        template.write_text(
            original.replace("{% block content %}", f"{{% block content %}}<p>{marker}</p>", 1),
            encoding="utf-8",
        )
        window.run_js("location.reload()")
        wait_for(
            lambda: marker in (window.page("/").get("text") or ""),
            30,
            "the edited template to show in the same window",
        )
    finally:
        template.write_text(original, encoding="utf-8")

    started = time.monotonic()
    close_window(display, window.xid)
    assert exit_status_within(window, EXIT_LIMIT, started) == 0
