"""`doorstep --dev`: Flask's debug server with its reloader, in a child process, in the window.

The reloader restarts the whole interpreter on a code change, which pywebview cannot survive
in a thread of its own process; so `flask run --debug` runs as a child and the window stays.
No access token here: the debug server is a developer's tool bound to 127.0.0.1 only, and
Werkzeug's debugger has its own PIN. Never ship a build that runs --dev for users.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from desktop import locations
from desktop.fatal import tell_user

if TYPE_CHECKING:
    from desktop.instance import InstanceLock

log = logging.getLogger("doorstep.dev")

START_TIMEOUT = 30.0


def _free_port() -> int:
    # Werkzeug binds its own socket in the child (and hands it down across reloads), so here
    # the port is picked first and bound second; acceptable for a developer-only mode.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dev_server_command(port: int) -> list[str]:
    """Return the command that runs the webapp under Flask's debug server on `port`."""
    return [
        sys.executable, "-m", "flask", "--app", "webapp", "run",
        "--debug", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip


def _wait_until_listening(proc: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # The reloader is a parent of the serving process: stop the whole group.
    if proc.poll() is not None:
        return
    if os.name == "posix":
        os.killpg(proc.pid, signal.SIGTERM)  # type: ignore[attr-defined, unused-ignore]  # POSIX-only
    else:
        proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(data_dir: Path, log_path: Path, lock: InstanceLock | None = None) -> int:
    """Run the debug server as a child, show it in a window with devtools; return the status."""
    from desktop.window import show

    if getattr(sys, "frozen", False):
        tell_user("--dev needs a source checkout, not a packaged build")
        return 2
    from webapp import create_app
    from webapp.database import DatabaseRefused, prepare_database

    try:  # here, not in the reloading child: a refused database ends the run with its message
        prepare_database(create_app({"DATA_DIR": str(data_dir)}))
    except DatabaseRefused as refused:
        tell_user(str(refused))
        return 1
    port = _free_port()
    env = {**os.environ, locations.DATA_DIR_ENV: str(data_dir)}
    log.info("Dev server on 127.0.0.1:%s", port)
    proc = subprocess.Popen(
        dev_server_command(port), env=env, start_new_session=(os.name == "posix")
    )
    try:
        if not _wait_until_listening(proc, port):
            tell_user("the Flask dev server did not start (see above)")
            return 1
        show(f"http://127.0.0.1:{port}/", data_dir, debug=True, instance=lock)
        return 0
    finally:
        _stop(proc)
