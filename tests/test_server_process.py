"""The window's server child on its own (no display needed): it serves, then stops cleanly."""

from __future__ import annotations

import http.client
import json
import signal

import pytest

from desktop import platform
from desktop.server import bind_socket, new_token
from desktop.server_process import FIRST_PAGE_HINT, ServerProcess
from tests.support import port_is_free, wait_for
from webapp import create_app

START_LIMIT = 60.0


def get(port: int, path: str, cookie: str = "") -> http.client.HTTPResponse:
    """Send one GET (waiting, if need be, for the webapp to load) and return the response."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=START_LIMIT)
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def landing_status(port: int, token: str) -> int | None:
    """GET /?token=… and return the status (a 302 to / once the webapp answers), or None."""
    try:
        return get(port, f"/?token={token}").status
    except OSError:
        return None


def open_landing_page(server: ServerProcess, session_cookie: str = "") -> None:
    """Load the landing page as the window does, and say it is on screen."""
    token_cookie = get(server.port, f"/?token={server.token}").getheader("Set-Cookie")
    cookie = "; ".join(filter(None, [token_cookie.split(";", 1)[0], session_cookie]))
    assert get(server.port, "/", cookie).status == 200
    server.page_shown()


def hint(data_dir) -> dict | None:
    """What the server child noted about the first page, if it did."""
    path = data_dir / FIRST_PAGE_HINT
    return json.loads(path.read_text()) if path.exists() else None


def start_child(data_dir, fork: bool | None = None) -> ServerProcess:
    """A server child handed a freshly bound socket, as the window process starts it."""
    return ServerProcess(bind_socket(), data_dir, new_token(), str(data_dir)).start(fork)


# fork() is how Linux starts it; a new process of the same executable is how other systems do.
START_MODES = [
    pytest.param(True, id="forked", marks=pytest.mark.skipif(not platform.can_fork(), reason="")),
    pytest.param(False, id="spawned"),
]


@pytest.fixture(params=START_MODES)
def child(data_dir, request):
    """A running server child on the test's data dir, started each way."""
    server = start_child(data_dir, fork=request.param)
    assert landing_status(server.port, server.token) == 302
    yield server
    server.stop()


def test_closing_its_stdin_stops_it_cleanly(child):
    assert child.stop() == 0
    assert port_is_free(child.port)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_of_its_own_is_handled(child, signum):
    # SIGTERM (a logout, `pkill doorstep`) stops it cleanly; SIGINT (Ctrl-C reaching the whole
    # process group) is the window process's to decide, so the child keeps serving.
    assert child.proc is not None
    child.proc.send_signal(signum)
    if signum == signal.SIGTERM:
        assert child.proc.wait(10) == 0
        wait_for(lambda: port_is_free(child.port), 10, "the port to be released")
    else:
        assert landing_status(child.port, child.token) == 302
        assert child.proc.poll() is None


def test_anonymous_landing_page_opens_the_database_only_once_on_screen(child, data_dir):
    open_landing_page(child)
    wait_for(lambda: hint(data_dir) == {"used_database": False}, 10, "the first-page note")
    wait_for(lambda: (data_dir / "doorstep.db").is_file(), 10, "the database to be opened")


def test_a_first_page_that_used_the_database_is_noted(child, data_dir):
    # A logged-in session (what Remember me restores) makes the landing page load the user.
    app = create_app({"DATA_DIR": str(data_dir)})
    signed = app.session_interface.get_signing_serializer(app).dumps({"_user_id": "1"})
    open_landing_page(child, f"{app.config['SESSION_COOKIE_NAME']}={signed}")
    wait_for(lambda: hint(data_dir) == {"used_database": True}, 10, "the first-page note")


def test_database_is_loaded_at_once_when_the_last_first_page_used_it(data_dir):
    data_dir.mkdir(parents=True)
    (data_dir / FIRST_PAGE_HINT).write_text('{"used_database": true}')
    server = start_child(data_dir)
    try:
        # No page asked for it and none is on screen: the child loads it alongside Qt's start.
        wait_for(lambda: (data_dir / "doorstep.db").is_file(), 30, "the database to be opened")
    finally:
        assert server.stop() == 0
