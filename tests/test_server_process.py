"""The window's server child on its own (no display needed): it serves, then stops cleanly."""

from __future__ import annotations

import http.client
import os
import signal
import sqlite3
import stat
import subprocess
import sys

import pytest

from desktop import WINDOW_SERVER_ARG, __version__, system
from desktop.server import EmbeddedServer, bind_socket, new_token
from desktop.server_process import (
    REFUSED_STATUS,
    ServerProcess,
    child_command,
    child_launch,
    child_output_path,
)
from tests.support import REPO_ROOT
from tests.support.data import load_newer_database
from tests.support.processes import child_env, port_is_free, wait_for
from webapp.database import newest_revision
from webapp.paths import migrations_dir

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


def start_child(data_dir, fork: bool | None = None) -> ServerProcess:
    """A server child handed a freshly bound socket, as the window process starts it."""
    return ServerProcess(bind_socket(), data_dir, new_token(), str(data_dir)).start(fork)


# fork() is how Linux starts it; a new process of the same executable is how other systems do.
START_MODES = [
    pytest.param(True, id="forked", marks=pytest.mark.skipif(not system.can_fork(), reason="")),
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


def test_the_database_is_ready_before_the_first_page(child, data_dir):
    # The child loads the whole webapp and upgrades its database before serving: the window's
    # first request waits in the socket's backlog meanwhile, and then finds everything ready.
    with sqlite3.connect(data_dir / "doorstep.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (newest_revision(migrations_dir()),)
        ]


def test_on_linux_it_is_forked_when_the_window_process_has_one_thread(tmp_path):
    # Forking spares the child a second interpreter start-up (docs/startup.md); with other
    # threads running, a lock one of them holds could be copied, so it is spawned instead.
    script = """
import sys, threading
from desktop.server import EmbeddedServer, bind_socket, new_token
from desktop.server_process import ServerProcess
def kind():
    server = ServerProcess(bind_socket(), sys.argv[1], new_token(), sys.argv[1]).start()
    try:
        return type(server.proc).__name__
    finally:
        server.stop()
alone = kind()
threading.Thread(target=threading.Event().wait, args=(5,), daemon=True).start()
print(alone, kind())
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data")],
        capture_output=True, text=True, env=child_env(), cwd=REPO_ROOT, timeout=60, check=True,
    )  # fmt: skip
    expected = "ForkedChild" if system.can_fork() else "Popen"
    assert result.stdout.split() == [expected, "Popen"]


def test_the_landing_page_is_compiled_before_serving_starts(data_dir):
    # Its templates compile while the window process is still starting Qt, not on request.
    server = EmbeddedServer(bind_socket(), data_dir, new_token())
    server.start()
    try:
        assert server.ready.wait(START_LIMIT) and server.error is None
        compiled = {name for _loader, name in server._app.jinja_env.cache}
        assert {"base.html", "main/index.html"} <= compiled
    finally:
        assert server.stop()


def test_loading_the_webapp_leaves_garbage_collection_on_and_its_objects_frozen(data_dir):
    # Collecting garbage while importing is wasted work (docs/startup.md); after the load,
    # collection must be on again, with what the load made kept out of later passes.
    script = """
import gc, sys
from desktop.server import load_webapp
load_webapp(sys.argv[1])
print(gc.isenabled(), gc.get_freeze_count() > 10_000)
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(data_dir)],
        capture_output=True, text=True, env=child_env(), cwd=REPO_ROOT, timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout.split() == ["True", "True"]


def test_a_spawned_child_writes_its_output_to_a_file_beside_the_logs(data_dir, capfd):
    # A windowed build has no stdout or stderr to pass on; the child's go to a file instead.
    # Its refusal line is something it writes there itself (not through logging).
    load_newer_database(data_dir)
    server = start_child(data_dir, fork=False)
    try:
        assert landing_status(server.port, server.token) == 503  # the refusal page
    finally:
        status = server.stop()
    assert status == REFUSED_STATUS
    assert capfd.readouterr() == ("", "")  # nothing on the test's own stdout and stderr
    said = (
        f"this data folder ({data_dir}) was written by a newer version of Doorstep "
        f"(database revision 9999); this is Doorstep {__version__}. Nothing was changed."
    )
    output = child_output_path(str(data_dir))
    assert output.parent == data_dir / "logs"
    assert output.read_text(encoding="utf-8").splitlines() == [f"doorstep: {said}"]
    assert f"ERROR doorstep.server [doorstep-server] {said}" in (
        data_dir / "logs" / "doorstep-server.log"
    ).read_text(encoding="utf-8")
    if os.name == "posix":
        assert stat.S_IMODE(output.stat().st_mode) == 0o600


def test_a_spawned_child_adds_to_its_output_file_and_a_served_run_writes_nothing(data_dir):
    output = child_output_path(str(data_dir))
    output.parent.mkdir(parents=True)
    output.write_bytes(b"an earlier run\n")
    server = start_child(data_dir, fork=False)
    try:
        assert landing_status(server.port, server.token) == 302
    finally:
        assert server.stop() == 0
    assert output.read_bytes() == b"an earlier run\n"


VENV_PYTHON = r"C:\Users\Zoë\doorstep\.venv\Scripts\python.exe"
BASE_PYTHON = r"C:\Program Files\Python311\python.exe"
MODULE = ["-m", "desktop", WINDOW_SERVER_ARG]


@pytest.mark.parametrize(
    ("executable", "base", "frozen", "system", "expected"),
    [
        # A Windows virtual environment: its python.exe only starts the base interpreter.
        pytest.param(
            VENV_PYTHON, BASE_PYTHON, False, "win32",
            ([BASE_PYTHON, *MODULE], {"__PYVENV_LAUNCHER__": VENV_PYTHON}),
            id="windows-venv",
        ),
        pytest.param(
            BASE_PYTHON, BASE_PYTHON.lower().replace("\\", "/"), False, "win32",
            ([BASE_PYTHON, *MODULE], {}),
            id="windows-base-python-spelt-differently",
        ),
        pytest.param(
            VENV_PYTHON, None, False, "win32", ([VENV_PYTHON, *MODULE], {}),
            id="windows-without-base-executable",
        ),
        pytest.param(
            r"C:\Program Files\Doorstep\Doorstep.exe", BASE_PYTHON, True, "win32",
            ([r"C:\Program Files\Doorstep\Doorstep.exe", WINDOW_SERVER_ARG], {}),
            id="windows-frozen",
        ),
        # A POSIX venv's python is a symlink: the pid is the interpreter's already.
        pytest.param(
            "/home/mei/.venv/bin/python", "/usr/bin/python3.11", False, "darwin",
            (["/home/mei/.venv/bin/python", *MODULE], {}),
            id="macos-venv",
        ),
        pytest.param(
            "/home/mei/.venv/bin/python", "/usr/bin/python3.11", False, "linux",
            (["/home/mei/.venv/bin/python", *MODULE], {}),
            id="linux-venv",
        ),
        pytest.param(
            "/Applications/Doorstep.app/Contents/MacOS/Doorstep", None, True, "darwin",
            (["/Applications/Doorstep.app/Contents/MacOS/Doorstep", WINDOW_SERVER_ARG], {}),
            id="macos-frozen",
        ),
    ],
)  # fmt: skip
def test_the_child_is_the_interpreter_itself(executable, base, frozen, system, expected):
    assert child_launch(executable, base, frozen, system) == expected


def test_here_the_child_is_this_executable_or_its_base_interpreter():
    command, env = child_command()
    assert command[1:] == MODULE
    if env is None:
        assert command[0] == sys.executable
    else:  # from a Windows virtual environment
        assert sys.platform == "win32"
        assert (command[0], env["__PYVENV_LAUNCHER__"]) == (sys._base_executable, sys.executable)


@pytest.mark.skipif(sys.platform != "win32", reason="the venv launcher is Windows-only")
def test_on_windows_the_pid_popen_returns_is_the_interpreters():
    # socket.share(pid) needs the process that runs Doorstep's code, not a launcher's, and
    # that process must still see this virtual environment's packages.
    command, env = child_command()
    script = "import os, sys; print(os.getpid()); print(sys.prefix)"
    with subprocess.Popen(
        [command[0], "-c", script], stdout=subprocess.PIPE, text=True, env=env
    ) as child:
        out, _ = child.communicate(timeout=60)
    pid, prefix = out.splitlines()
    assert int(pid) == child.pid
    assert os.path.normcase(prefix) == os.path.normcase(sys.prefix)
