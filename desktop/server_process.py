"""The window's server in a child process, so the webapp loads on another core than Qt.

Both the webapp's import and Qt's start-up are mostly Python work under one interpreter lock
(PyQt even holds it while QtWebEngine initialises), so in threads they take turns instead of
overlapping. A child process gets the socket the window process already bound and the token,
runs the same EmbeddedServer (the webapp loaded, its database upgraded), and stops cleanly
when its stdin closes: when the window process says so, or when it dies. On Linux the child
is fork()ed before the window process imports anything heavy, so it starts with an
interpreter already running; elsewhere it is the same executable started again, given the
socket and the token over its stdin, its output sent to a file beside the logs.
docs/startup.md has the measurements.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import ntpath
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from desktop import WINDOW_SERVER_ARG, locations, system

log = logging.getLogger("doorstep.server")

SERVER_LOG_NAME = "doorstep-server.log"
# Not the rotating log above: on Windows a file the child holds open as its stderr could not
# be renamed, so that log could never rotate. Only what bypasses logging lands here: a
# traceback before logging starts, warnings, the refusal line.
SERVER_OUTPUT_NAME = "doorstep-server-output.log"
STOP_TIMEOUT = 3.0
# The child's exit status when the webapp refused the data folder's database: it has said
# why in the window (and told its stderr, or its log), so the window process adds nothing.
REFUSED_STATUS = 3


def child_launch(
    executable: str, base_executable: str | None, frozen: bool, platform_name: str
) -> tuple[list[str], dict[str, str]]:
    """Return the server child's command and what it needs added to this environment."""
    if frozen:
        return [executable, WINDOW_SERVER_ARG], {}
    module = ["-m", "desktop", WINDOW_SERVER_ARG]
    if (
        platform_name == "win32"
        and base_executable
        and ntpath.normcase(executable) != ntpath.normcase(base_executable)
    ):
        # A Windows virtual environment's python.exe is a launcher that starts the real
        # interpreter as a child of its own: socket.share() would name the launcher's pid.
        # As multiprocessing does (bpo-35797), start the base interpreter directly and tell it
        # through __PYVENV_LAUNCHER__ which environment it runs for.
        return [base_executable, *module], {"__PYVENV_LAUNCHER__": executable}
    return [executable, *module], {}


def child_command() -> tuple[list[str], dict[str, str] | None]:
    """Return the command that starts the server child here, and its environment (None: ours)."""
    command, extra_env = child_launch(
        sys.executable,
        getattr(sys, "_base_executable", None),
        bool(getattr(sys, "frozen", False)),
        sys.platform,
    )
    return command, ({**os.environ, **extra_env} if extra_env else None)


def child_output_path(data_dir_arg: str | None) -> Path:
    """Return the file that takes whatever a spawned server child writes to stdout or stderr."""
    return locations.log_dir(data_dir_arg) / SERVER_OUTPUT_NAME


class ServerProcess:
    """The child process serving the webapp on a socket bound by the window process."""

    def __init__(
        self, sock: socket.socket, data_dir: Path, token: str, data_dir_arg: str | None
    ) -> None:
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        self.data_dir = data_dir
        self.token = token
        self.data_dir_arg = data_dir_arg
        self.proc: subprocess.Popen[bytes] | ForkedChild | None = None

    def start(self, fork: bool | None = None) -> ServerProcess:
        """Start the child (fork()ed if `fork`, by default where it can be) and return self."""
        handoff: dict[str, Any] = {
            "token": self.token,
            "data_dir": str(self.data_dir),
            "data_dir_arg": self.data_dir_arg,
        }
        if fork is None:
            # Forking a process with other threads could copy a lock some thread holds.
            fork = system.can_fork() and threading.active_count() == 1
        if fork:
            self.proc = ForkedChild.start(self.sock, handoff)
            self.sock.close()  # the child has its own copy
            return self
        command, env = child_command()
        # Its output goes to a file, not to this process's stdout and stderr: a windowed build
        # has none to pass on (a macOS app's lead to /dev/null), and a pipe would need a reader.
        # On POSIX the child inherits the listening socket's descriptor itself.
        inherited = [self.sock.fileno()] if os.name == "posix" else []
        with system.open_private_output(child_output_path(self.data_dir_arg)) as output:
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=output,
                env=env,
                pass_fds=inherited,
            )
        if inherited:
            handoff["fd"] = self.sock.fileno()
        else:
            # Windows shares a socket with one given process, so the child must exist first,
            # and be the interpreter itself (see child_launch).
            shared = self.sock.share(self.proc.pid)  # type: ignore[attr-defined, unused-ignore]  # Windows-only
            handoff["share"] = base64.b64encode(shared).decode()
        assert self.proc.stdin is not None
        # Over stdin, not argv or the environment, which other local programs can read.
        self.proc.stdin.write(json.dumps(handoff).encode() + b"\n")
        self.proc.stdin.flush()
        # The child holds its own copy; if it dies, the window gets "connection refused"
        # rather than a request queued forever.
        self.sock.close()
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Ask the child to stop (close its stdin) and return its exit status."""
        if self.proc is None:
            return None
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):  # the child is already gone
                self.proc.stdin.close()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("The server process did not stop within %s s; terminating it", timeout)
            self.proc.kill()
            return self.proc.wait()


class ForkedChild:
    """A fork()ed server child, with the part of subprocess.Popen's interface used here."""

    def __init__(self, pid: int, stdin: Any) -> None:
        self.pid = pid
        self.stdin = stdin
        self.returncode: int | None = None

    @classmethod
    def start(cls, sock: socket.socket, handoff: dict[str, Any]) -> ForkedChild:
        """Fork; the child serves on `sock` until the pipe that is its stdin closes."""
        read_fd, write_fd = os.pipe()
        pid = os.fork()  # type: ignore[attr-defined, unused-ignore]  # POSIX-only
        if pid == 0:  # the child: never returns into the window process's code
            status = 1
            try:
                os.close(write_fd)
                # The window process's log handlers stay with it; the child logs to its own.
                for handler in logging.getLogger().handlers[:]:
                    logging.getLogger().removeHandler(handler)
                status = serve_the_window(handoff, sock, read_fd)
            except BaseException:
                logging.getLogger("doorstep.server").exception("The server process failed")
            finally:
                logging.shutdown()
                os._exit(status)
        os.close(read_fd)
        return cls(pid, os.fdopen(write_fd, "wb"))

    def poll(self) -> int | None:
        """Return the exit status if the child has ended, else None."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)  # type: ignore[attr-defined, unused-ignore]  # POSIX-only
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to end; raise subprocess.TimeoutExpired after `timeout` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (status := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"server process {self.pid}", timeout or 0)
            time.sleep(0.01)
        return status

    def send_signal(self, signum: int) -> None:
        """Send `signum` to the child, if it still runs."""
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        """Kill the child."""
        self.send_signal(signal.SIGKILL)  # type: ignore[attr-defined, unused-ignore]  # POSIX-only


def run_child() -> int:
    """Serve as the window's (spawned) child process until stdin closes or SIGTERM."""
    stdin_fd = sys.stdin.fileno()
    handoff = json.loads(_read_line(stdin_fd))
    if "fd" in handoff:
        sock = socket.socket(fileno=handoff["fd"])
    else:
        sock = socket.fromshare(base64.b64decode(handoff["share"]))  # type: ignore[attr-defined, unused-ignore]  # Windows-only
    return serve_the_window(handoff, sock, stdin_fd)


def serve_the_window(handoff: dict[str, Any], sock: socket.socket, stdin_fd: int) -> int:
    """Serve until `stdin_fd` reaches its end or SIGTERM comes; return the exit status."""
    from desktop.fatal import tell_user
    from desktop.server import EmbeddedServer, refusal_message
    from desktop.signals import StopSignals

    log_path = system.setup_logging(handoff["data_dir_arg"], SERVER_LOG_NAME)

    # Ctrl-C in a terminal reaches the whole process group; the window process decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signals = StopSignals(stop_signals=(signal.SIGTERM,)).install()

    server = EmbeddedServer(sock, Path(handoff["data_dir"]), handoff["token"], log_path=log_path)

    def follow_the_window() -> None:
        # os.read, not sys.stdin: a thread still blocked in a buffered read holds its lock,
        # and after a SIGTERM the interpreter would abort on it at exit.
        while _read_line(stdin_fd):
            pass
        signals.release()  # EOF: stop asked for, or the window process died

    # A daemon: it only ever reads, and may still be blocked reading after a SIGTERM.
    threading.Thread(target=follow_the_window, name="stdin-watch", daemon=True).start()
    server.start()
    server.ready.wait()  # a stop asked for meanwhile is seen right after
    refused = refusal_message(server.error)
    if refused is not None:  # the window shows it too
        tell_user(refused)
    signals.wait()
    stopped = server.stop()
    signals.uninstall()
    if refused is not None:
        return REFUSED_STATUS
    if server.error is not None:
        return 1
    return 0 if stopped else 1


def _read_line(fd: int) -> bytes:
    """Read up to a newline straight from `fd`, leaving nothing behind in a buffer."""
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        line += chunk
    return bytes(line)
