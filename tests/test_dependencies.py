"""What Doorstep relies on beyond its dependencies' documented API, and the system packages.

Each internal used is checked here for the shape the code expects, so an upgrade that moves
one fails here, by name, rather than as a hung window or a 500 somewhere else. pyproject.toml
pins these dependencies to the series tested; widen a pin only with this file passing.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from packaging.requirements import Requirement
from ruamel.yaml import YAML

REPO_ROOT = Path(__file__).resolve().parent.parent
PINNED = ("pywebview", "waitress", "flask-login", "flask-migrate", "flask-limiter")


def moved(internal: str, user: str, distribution: str) -> str:
    """Say what changed, which code relies on it, and which pin to revisit."""
    return (
        f"{internal} is gone or has changed shape: {user} relies on it. pyproject.toml pins "
        f"{distribution} to the tested series: adapt {user} before widening the pin."
    )


def load_dev_script() -> ModuleType:
    """Import scripts/dev.py by its path, as the script it is."""
    spec = importlib.util.spec_from_file_location("doorstep_dev", REPO_ROOT / "scripts" / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("distribution", PINNED)
def test_the_installed_version_is_the_one_pinned_and_checked_here(distribution):
    # The checks below look at what is installed: it must be the series the pin names.
    wanted = [
        requirement
        for requirement in map(Requirement, importlib.metadata.requires("doorstep") or [])
        if requirement.name == distribution and not requirement.extras
    ]
    assert wanted, f"doorstep no longer requires {distribution}: drop it from this file"
    installed = importlib.metadata.version(distribution)
    assert wanted[0].specifier.contains(installed, prereleases=True), (
        f"{distribution} {installed} is installed, pyproject.toml pins {wanted[0].specifier}: "
        "run `python3 scripts/dev.py setup`"
    )


# --- pywebview (desktop/window.py) -------------------------------------------------------


@pytest.fixture
def qt_browser_view():
    """pywebview's Qt BrowserView class (the Linux backend; elsewhere the code skips it)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("pywebview's Qt backend is the window's on Linux only")
    from webview.platforms.qt import BrowserView

    return BrowserView


def test_pywebview_qt_keeps_each_windows_browser_view_by_its_uid(qt_browser_view):
    why = moved(
        "webview.platforms.qt.BrowserView.instances (by window uid)",
        "desktop/qt.py's native_view",
        "pywebview",
    )
    assert isinstance(qt_browser_view.instances, dict), why
    source = inspect.getsource(qt_browser_view.__init__)
    assert re.search(r"instances\[\s*window\.uid\s*\]\s*=\s*self\b", source), why
    assert re.search(r"self\._js_results\s*=\s*\{\s*\}", source), why


def test_pywebview_qt_browser_views_hold_their_qwebengineview(qt_browser_view):
    why = moved(
        "BrowserView.webview (the QWebEngineView, whose profile signals downloads)",
        "desktop/qt.py's save_downloads_as_named",
        "pywebview",
    )
    source = inspect.getsource(qt_browser_view.__init__)
    assert re.search(r"self\.webview\s*=\s*BrowserView\.WebView\(", source), why
    # Only with ALLOW_DOWNLOADS does pywebview connect its own handler beside ours.
    assert re.search(r"if settings\['ALLOW_DOWNLOADS'\]:\s*\n\s*self\.webview\.page\(\)"
                     r"\.profile\(\)\.downloadRequested\.connect", source), why  # fmt: skip


def test_pywebview_qt_js_callers_wait_on_a_semaphore_that_releasing_unblocks(qt_browser_view):
    # The thread pywebview's evaluate_js blocks forever once the window is gone: the exact
    # case desktop/window.py's _unblock_pywebview_threads exists for.
    from desktop.window import _unblock_pywebview_threads

    why = moved(
        "BrowserView.evaluate_js waiting on _js_results[id]['semaphore']",
        "desktop/window.py's _unblock_pywebview_threads",
        "pywebview",
    )
    view = SimpleNamespace(_js_results={}, evaluate_js_trigger=SimpleNamespace(emit=print))
    caller = threading.Thread(
        target=qt_browser_view.evaluate_js, args=(view, "1", False), name="js-caller"
    )
    caller.start()
    deadline = time.monotonic() + 5
    while not view._js_results and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert [set(entry) >= {"semaphore"} for entry in view._js_results.values()] == [True], why
    finally:
        _unblock_pywebview_threads([view], timeout=5)
        caller.join(5)
    assert not caller.is_alive(), why
    assert view._js_results == {}, why


# --- waitress (desktop/server.py) --------------------------------------------------------


def test_waitress_servers_have_the_trigger_map_and_dispatcher_stop_uses():
    from waitress import wasyncore
    from waitress.server import create_server

    from desktop.server import bind_socket

    why = moved(
        "a waitress server's trigger.pull_trigger, _map, task_dispatcher.shutdown and "
        "wasyncore.close_all",
        "desktop/server.py's EmbeddedServer.stop",
        "waitress",
    )
    assert "ignore_all" in inspect.signature(wasyncore.close_all).parameters, why
    # As EmbeddedServer makes it: one socket bound beforehand, so a single server.
    server = create_server(
        lambda environ, start_response: [], sockets=[bind_socket()], threads=1, ident="probe"
    )
    try:
        assert isinstance(server._map, dict), why
        assert server in server._map.values(), why
        assert "thunk" in inspect.signature(server.trigger.pull_trigger).parameters, why
        assert "timeout" in inspect.signature(server.task_dispatcher.shutdown).parameters, why
    finally:
        wasyncore.close_all(server._map, ignore_all=True)
        server.task_dispatcher.shutdown(timeout=1)
    assert server._map == {}, why


def test_waitress_channels_make_their_own_answers_with_an_error_task_class():
    from waitress.channel import HTTPChannel
    from waitress.server import BaseWSGIServer
    from waitress.task import ErrorTask

    why = moved(
        "HTTPChannel.error_task_class, BaseWSGIServer.channel_class and ErrorTask.response_headers",
        "desktop/server.py's make_waitress_server (security headers on waitress's 400/413)",
        "waitress",
    )
    assert issubclass(HTTPChannel.error_task_class, ErrorTask), why
    assert BaseWSGIServer.channel_class is HTTPChannel, why
    assert "self.response_headers" in inspect.getsource(ErrorTask.execute), why


# --- Flask-Limiter (webapp/extensions.py) ------------------------------------------------


def test_flask_limiter_checks_decorated_limits_in_the_view_not_only_before_each_request():
    from flask import Flask
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    why = moved(
        "Limiter._check_request_limit as the before_request hook, and limit() checking "
        "in the view it wraps",
        "webapp/extensions.py's DecoratorLimiter",
        "flask-limiter",
    )
    app = Flask(__name__)
    limiter = Limiter(key_func=get_remote_address, storage_uri="memory://")
    limiter.init_app(app)
    hooks = app.before_request_funcs[None]
    assert limiter._check_request_limit in hooks, why
    hooks.remove(limiter._check_request_limit)  # as DecoratorLimiter does
    app.add_url_rule("/", "index", limiter.limit("1 per minute")(lambda: "ok"))
    client = app.test_client()
    assert [client.get("/").status_code, client.get("/").status_code] == [200, 429], why


# --- Flask-Login (webapp/errors.py) ------------------------------------------------------


def test_flask_login_can_be_told_the_request_has_no_user():
    from flask import Flask
    from flask_login import LoginManager, current_user

    why = moved(
        "LoginManager._update_request_context_with_user()",
        "webapp/errors.py's _database_failed",
        "flask-login",
    )
    app = Flask(__name__)
    manager = LoginManager(app)
    assert callable(getattr(manager, "_update_request_context_with_user", None)), why
    with app.test_request_context():
        # With no user loader at all: it must not try to load one from the database.
        manager._update_request_context_with_user()
        assert current_user.is_anonymous, why


def test_flask_login_drops_a_remember_cookie_the_session_marks_clear():
    from flask import Flask, session
    from flask_login import LoginManager
    from flask_login.utils import decode_cookie, encode_cookie

    why = moved(
        'session["_remember"] = "clear" and flask_login.utils.decode_cookie',
        "webapp/auth/logins.py's forget_ended_login",
        "flask-login",
    )
    app = Flask(__name__)
    app.secret_key = "test"
    LoginManager(app).user_loader(lambda token: None)

    @app.get("/")
    def index():
        session["_remember"] = "clear"
        return ""

    with app.test_request_context():
        cookie = encode_cookie("a login token")
        assert decode_cookie(cookie) == "a login token", why
    client = app.test_client()
    client.set_cookie("remember_token", cookie)
    response = client.get("/")
    assert "remember_token=;" in response.headers.get("Set-Cookie", ""), why


# --- Flask-Migrate (webapp/database.py, webapp/migrations/env.py) ------------------------


def test_flask_migrate_keeps_itself_and_its_alembic_options_in_app_extensions(tmp_path):
    from alembic.config import Config

    from webapp import create_app
    from webapp.database import alembic_config, bind_migrate

    why = moved(
        'app.extensions["migrate"].migrate and .configure_args',
        "webapp/database.py's bind_migrate and webapp/migrations/env.py",
        "flask-migrate",
    )
    app = create_app({"DATA_DIR": str(tmp_path)})
    migrate = bind_migrate(app)
    extension = app.extensions["migrate"]
    assert extension.migrate is migrate, why
    assert extension.configure_args.get("render_as_batch") is True, why
    with app.app_context():
        assert isinstance(alembic_config(), Config), why
    from flask_migrate.cli import db as commands

    assert callable(commands.make_context), why  # `flask db`: webapp.database.MigrationCommands


# --- Debian packages (scripts/debian-packages.txt) ---------------------------------------


def test_the_debian_package_list_names_one_valid_package_a_line():
    names = load_dev_script().debian_packages()
    assert "xvfb" in names and "postgresql" in names
    assert len(names) == len(set(names)), "a package is listed twice"
    # Debian policy: lower case letters, digits, + - . ; two characters at least.
    assert [name for name in names if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", name)] == []


# The step runs on Linux; Windows' `bash` may be WSL's launcher, with no Linux behind it.
@pytest.mark.skipif(
    sys.platform == "win32" or not shutil.which("bash"), reason="the workflow's step is bash"
)
def test_the_hosted_workflow_installs_that_list_less_chromium():
    # ruamel.yaml comes with check-jsonschema, which validates this workflow (test_workflow.py).
    workflow = YAML(typ="safe").load(REPO_ROOT / ".github" / "workflows" / "build.yml")
    steps = workflow["jobs"]["build"]["steps"]
    installs = [step["run"] for step in steps if "apt-get install" in step.get("run", "")]
    assert len(installs) == 1, "one step installs Debian packages"
    # Run the part of the step that reads the list (before apt-get) and print what it read.
    reading = installs[0][: installs[0].index("sudo apt-get update")]
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", reading + 'printf "%s\\n" $packages'],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    listed = load_dev_script().debian_packages()
    assert result.stdout.split() == [name for name in listed if name != "chromium"]


def test_a_line_with_two_packages_is_refused(tmp_path):
    listed = tmp_path / "packages.txt"
    listed.write_text("# a comment\nxvfb  # why\n\nlibgl1 libegl1\n")
    with pytest.raises(SystemExit, match=r"packages\.txt:4: one package a line"):
        load_dev_script().debian_packages(listed)
