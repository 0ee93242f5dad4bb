"""The window's server child on its own (no display needed): it serves, then stops cleanly."""

from __future__ import annotations

import http.client
import signal

import pytest

from desktop.server import bind_socket, new_token
from desktop.server_process import ServerProcess
from tests.support import port_is_free, wait_for

START_LIMIT = 60.0


def landing_status(port: int, token: str) -> int | None:
    """GET /?token=… and return the status (a 302 to / once the webapp answers), or None."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=START_LIMIT)
        conn.request("GET", f"/?token={token}")
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return None


@pytest.fixture
def child(data_dir):
    """A server child handed a freshly bound socket, as the window process starts it."""
    token = new_token()
    server = ServerProcess(bind_socket(), data_dir, token, str(data_dir)).start()
    assert landing_status(server.port, token) == 302
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
