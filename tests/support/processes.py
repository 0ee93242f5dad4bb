"""Doorstep as a child process: start it, read its URL line, stop it; ports and polling.

Every function that starts Doorstep takes the command under test first (the `doorstep`
fixture): `python -m desktop` from the checkout, or the frozen bundle.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.support import REPO_ROOT

RUNNING_LINE = re.compile(r"^Doorstep is running at (http://\S+)$")
START_TIMEOUT = 60.0

T = TypeVar("T")


def doorstep_command() -> list[str]:
    """The checkout's Doorstep, `python -m desktop`, unless $DOORSTEP_COMMAND names another."""
    override = os.environ.get("DOORSTEP_COMMAND")
    if override:
        return shlex.split(override)
    return [sys.executable, "-m", "desktop"]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return the environment for a Doorstep child process."""
    env = dict(os.environ)
    # As root, QtWebEngine's sandbox refuses to start: tests (never the product) turn it off.
    flags = env.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
    if "--no-sandbox" not in flags:
        env["QTWEBENGINE_CHROMIUM_FLAGS"] = (flags + " --no-sandbox").strip()
    # Run the checkout's code even when the package is not installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"
    env.pop("DOORSTEP_DATA_DIR", None)
    env.update(extra or {})
    return env


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `condition` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether nothing accepts connections on host:port and it can be bound again."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return False
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """Return a port that was free a moment ago (for a port a child process binds)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OutputReader:
    """Drain a pipe into lines in a thread, so the child never blocks on a full pipe."""

    def __init__(self, stream: Any) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        with stream:  # closed at end of output, so no ResourceWarning is left behind
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.seen.append(line)
                self.lines.put(line)
        self.lines.put(None)

    def join(self, timeout: float) -> None:
        """Wait for the end of output (after the process has exited)."""
        self._thread.join(timeout)

    def next_line(self, timeout: float) -> str | None:
        """Return the next line, or None at end of stream; raise TimeoutError at the deadline."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no output within {timeout:.0f} s") from None


@dataclass
class Running:
    """A Doorstep child process and where to reach it."""

    proc: subprocess.Popen[bytes]
    stdout: OutputReader
    stderr_path: Path
    url: str = ""

    @property
    def base_url(self) -> str:
        """The URL without the token: http://127.0.0.1:PORT/."""
        parts = urllib.parse.urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}/"

    @property
    def token(self) -> str:
        """The access token from the URL."""
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.url).query)["token"][0]

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return urllib.parse.urlsplit(self.url).port or 80

    def stderr(self) -> str:
        """What the process wrote to stderr so far."""
        if self.stderr_path.exists():
            return self.stderr_path.read_text("utf-8", "replace")
        return ""

    def signal(self, signum: int = signal.SIGTERM) -> None:
        """Send `signum` to the process."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the exit status; raise TimeoutError (after killing it) at the deadline."""
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # PYTHONFAULTHANDLER (set by child_env) makes SIGABRT print every thread's stack.
            self.proc.send_signal(signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
            self.kill()
            raise TimeoutError(
                f"Doorstep did not exit within {timeout} s; its stderr:\n{self.stderr()[-5000:]}"
            ) from None
        self.stdout.join(10)
        return status

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, then wait; return the exit status."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """Kill the process if it still runs (clean-up after a failed test)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.stdout.join(10)


def launch(
    command: Sequence[str],
    args: Sequence[str],
    log_dir: Path,
    env: dict[str, str] | None = None,
) -> Running:
    """Start `command ARGS`, stdout piped (read it via .stdout), stderr to a file in log_dir."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir / f"doorstep-stderr-{time.monotonic_ns()}.txt"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [*command, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=child_env(env),
            cwd=REPO_ROOT,
        )
    assert proc.stdout is not None
    return Running(proc, stdout=OutputReader(proc.stdout), stderr_path=stderr_path)


def read_running_url(running: Running, timeout: float = START_TIMEOUT) -> str:
    """Read the 'Doorstep is running at URL' line (it must be the first) and return the URL."""
    line = running.stdout.next_line(timeout)
    if line is None:
        raise AssertionError(
            f"Doorstep exited ({running.proc.wait(10)}) before printing its URL:\n"
            + running.stderr()
        )
    match = RUNNING_LINE.match(line)
    assert match, f"first stdout line is not the URL line: {line!r}"
    running.url = match.group(1)
    return running.url


def start_serve(
    command: Sequence[str], data_dir: Path, *extra_args: str, env: dict[str, str] | None = None
) -> Running:
    """Run `command serve --data-dir DATA_DIR [EXTRA_ARGS]`; return it once it is serving."""
    running = launch(
        command, ["serve", "--data-dir", str(data_dir), *extra_args], data_dir.parent, env
    )
    try:
        read_running_url(running)
    except BaseException:
        running.kill()
        raise
    return running


@contextlib.contextmanager
def serving(
    command: Sequence[str], data_dir: Path, *extra_args: str, env: dict[str, str] | None = None
) -> Iterator[Running]:
    """start_serve as a context manager that always stops (or kills) the server."""
    running = start_serve(command, data_dir, *extra_args, env=env)
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            with contextlib.suppress(TimeoutError):
                running.stop()
        running.kill()
