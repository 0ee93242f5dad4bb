"""Smoke-test a built Doorstep: `python build/smoke_test.py [--window] EXE`.

Without --window, runs `EXE serve --data-dir <tmp> --port 0`, reads its first stdout line
(`Doorstep is running at <URL>`), opens the URL keeping cookies (the token URL sets a cookie
and redirects to the landing page), checks the landing page is Doorstep's and its stylesheets
and scripts are served, that a request without the cookie gets a 403, then stops it.
On Windows EXE is the console twin, `doorstep-console.exe`: the windowed `doorstep.exe` has no
stdout.

With --window, runs `EXE --data-dir <tmp>` (the window; on Windows the windowed
`doorstep.exe`), waits for its server child to log `Serving on 127.0.0.1:PORT` to
`<tmp>/logs/doorstep-server.log`, checks the server answers (403 without the token: the guard
is up, so the webapp loaded), that the window is on screen (Linux: `xwininfo`, Windows: the
process's top-level windows; macOS: not checked), that both stay up for a few seconds, then
closes it as the system would (`taskkill /PID` sends WM_CLOSE on Windows, SIGTERM elsewhere)
and checks it exits with status 0 and its server child lets go of the port. On Linux run it
under a display: `xvfb-run -a python build/smoke_test.py --window dist/doorstep/doorstep`.

Standard library only, so any Python runs it. Every wait polls a condition until a deadline;
nothing sleeps to synchronise. Exit status 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")

START_TIMEOUT = 120.0  # a first launch (antivirus scans, cold caches) on a hosted runner
STOP_TIMEOUT = 20.0
KEEP_UP = 5.0  # seconds the window must stay up
HTTP_TIMEOUT = 15.0
RUNNING_LINE = re.compile(r"^Doorstep is running at (http://\S+)$")
SERVING_LINE = re.compile(r"Serving on 127\.0\.0\.1:(\d+)")
SERVER_LOG = Path("logs") / "doorstep-server.log"
TITLE = "<title>Doorstep</title>"
WINDOW_TITLE = "Doorstep"
IS_WINDOWS = sys.platform == "win32"


class SmokeError(Exception):
    """A check failed."""


def say(message: str) -> None:
    print(f"smoke_test: {message}", flush=True)


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll `condition` until it returns something truthy; raise SmokeError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise SmokeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Lines:
    """Read a pipe's lines in a thread (portable: no select() on Windows pipes)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                self._queue.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        self._queue.put(None)

    def next(self, timeout: float) -> str | None:
        """Return the next line, None at the end of output; raise SmokeError at the deadline."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise SmokeError(f"no output within {timeout:.0f} s") from None


def fetch(opener: urllib.request.OpenerDirector, url: str) -> tuple[int, str, str, str]:
    """GET `url`; return (status, final URL, content type, body). HTTP errors raise."""
    with opener.open(url, timeout=HTTP_TIMEOUT) as response:
        body = response.read().decode("utf-8", "replace")
        return response.status, response.geturl(), response.headers.get_content_type(), body


def status_without_token(port: int) -> int:
    """The status of GET / with neither token nor cookie (the guard says 403)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=HTTP_TIMEOUT) as resp:
            return resp.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def accepts_connections(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def log_tails(data_dir: Path, lines: int = 40) -> str:
    """The ends of the logs in `data_dir`, for a failure report."""
    parts = []
    for path in sorted((data_dir / "logs").glob("*.log")):
        text = path.read_text("utf-8", "replace").splitlines()[-lines:]
        parts.append(f"--- {path.name} (last {lines} lines) ---\n" + "\n".join(text))
    return "\n".join(parts) or "(no logs)"


def stop(proc: subprocess.Popen[bytes], window: bool) -> int:
    """Ask `proc` to stop as the system would and return its exit status."""
    if IS_WINDOWS:
        if window:
            # Without /F, taskkill posts WM_CLOSE to the process's windows: the user's close.
            subprocess.run(["taskkill", "/PID", str(proc.pid)], check=False)
        else:
            # A console process gets no WM_CLOSE and no SIGTERM: end it outright.
            proc.terminate()
    else:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SmokeError(f"still running {STOP_TIMEOUT:.0f} s after being asked to stop") from None


def kill(proc: subprocess.Popen[bytes]) -> None:
    """Clean-up after a failure: end `proc` (and on Windows its children) for good."""
    if proc.poll() is not None:
        return
    if IS_WINDOWS:
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], check=False)
    else:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(STOP_TIMEOUT)


# --- serve ----------------------------------------------------------------------------------


def check_serve(exe: str, data_dir: Path) -> None:
    command = [exe, "serve", "--data-dir", str(data_dir), "--port", "0"]
    say("starting: " + " ".join(command))
    started = time.monotonic()
    # stderr goes to ours, so whatever the app complains about shows in the CI log.
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = Lines(proc.stdout).next(START_TIMEOUT)
        if line is None:
            raise SmokeError(f"exited ({proc.wait(STOP_TIMEOUT)}) before printing its URL")
        match = RUNNING_LINE.match(line)
        if not match:
            raise SmokeError(f"the first stdout line is not the URL line: {line!r}")
        url = match.group(1)
        port = urllib.parse.urlsplit(url).port or 80
        say(f"serving after {time.monotonic() - started:.1f} s on port {port}")

        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        status, final, _type, page = fetch(opener, url)
        path = urllib.parse.urlsplit(final)
        if status != 200 or path.path != "/" or "token" in path.query:
            raise SmokeError(f"the token URL ended at {final} ({status}), not the landing page")
        if TITLE not in page:
            raise SmokeError(f"the landing page has no {TITLE}:\n{page[:2000]}")
        say(f"landing page: 200, {TITLE}")

        assets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
        assets += re.findall(r'<script src="([^"]+)"', page)
        if not assets:
            raise SmokeError("the landing page links no stylesheet nor script")
        for asset in assets:
            status, _final, kind, body = fetch(opener, urllib.parse.urljoin(final, asset))
            if status != 200 or not body:
                raise SmokeError(f"{asset}: {status}, {len(body)} characters")
            say(f"{asset}: 200, {kind}, {len(body)} characters")

        refused = status_without_token(port)
        if refused != 403:
            raise SmokeError(f"a request without the token got {refused}, not 403")
        say("without the token: 403")

        status = stop(proc, window=False)
        if not IS_WINDOWS and status != 0:
            raise SmokeError(f"exit status {status} after SIGTERM, not 0")
        say(f"stopped: exit status {status}")
        wait_for(lambda: not accepts_connections(port), STOP_TIMEOUT, f"port {port} to close")
    except BaseException:
        kill(proc)
        raise


# --- window ---------------------------------------------------------------------------------


def server_port(data_dir: Path) -> int | None:
    """The port from the server child's `Serving on 127.0.0.1:PORT` log line, once written."""
    try:
        text = (data_dir / SERVER_LOG).read_text("utf-8", "replace")
    except OSError:
        return None
    match = SERVING_LINE.search(text)
    return int(match.group(1)) if match else None


def window_shown(pid: int) -> bool | None:
    """Whether a top-level window titled Doorstep is shown; None where this cannot tell."""
    if IS_WINDOWS:
        return _windows_window_shown(pid)
    if sys.platform.startswith("linux") and shutil.which("xwininfo"):
        tree = subprocess.run(
            ["xwininfo", "-root", "-tree"], capture_output=True, text=True, check=False
        ).stdout
        for found in re.finditer(
            rf'^\s*(0x[0-9a-f]+) "{WINDOW_TITLE}": .*?(\d+)x(\d+)\+', tree, re.M
        ):
            if int(found.group(2)) > 100:
                info = subprocess.run(
                    ["xwininfo", "-id", found.group(1)], capture_output=True, text=True, check=False
                ).stdout
                if "IsViewable" in info:
                    return True
        return False
    return None  # macOS: the window list is not readable without extra permissions


def _windows_window_shown(pid: int) -> bool:
    import ctypes
    from ctypes import wintypes

    user32 = ctypes.WinDLL("user32")  # type: ignore[attr-defined]
    enum_proc = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.HWND, wintypes.LPARAM)  # type: ignore[attr-defined]
    user32.EnumWindows.argtypes = [enum_proc, wintypes.LPARAM]
    user32.GetWindowThreadProcessId.argtypes = [wintypes.HWND, ctypes.POINTER(wintypes.DWORD)]
    user32.IsWindowVisible.argtypes = [wintypes.HWND]
    user32.GetWindowTextW.argtypes = [wintypes.HWND, wintypes.LPWSTR, ctypes.c_int]
    titles: list[str] = []

    def visit(hwnd: int, _lparam: int) -> bool:
        owner = wintypes.DWORD()
        user32.GetWindowThreadProcessId(hwnd, ctypes.byref(owner))
        if owner.value == pid and user32.IsWindowVisible(hwnd):
            title = ctypes.create_unicode_buffer(256)
            user32.GetWindowTextW(hwnd, title, 256)
            titles.append(title.value)
        return True

    user32.EnumWindows(enum_proc(visit), 0)
    return WINDOW_TITLE in titles


def check_window(exe: str, data_dir: Path) -> None:
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise SmokeError("no display: run it under xvfb-run")
    env = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # As root QtWebEngine's sandbox refuses to start: turned off for this check only,
        # as the tests do; the product never does.
        flags = env.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--no-sandbox" not in flags:
            env["QTWEBENGINE_CHROMIUM_FLAGS"] = (flags + " --no-sandbox").strip()
    command = [exe, "--data-dir", str(data_dir)]
    say("starting: " + " ".join(command))
    started = time.monotonic()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, env=env)
    try:

        def serving() -> int | None:
            if proc.poll() is not None:
                raise SmokeError(f"exited ({proc.returncode}) before its server was up")
            return server_port(data_dir)

        port = wait_for(serving, START_TIMEOUT, f"'Serving on' in {SERVER_LOG}")
        say(f"server child serving after {time.monotonic() - started:.1f} s on port {port}")
        answer = status_without_token(port)
        if answer != 403:
            raise SmokeError(f"GET / without the token got {answer}, not the guard's 403")
        say("server answers: 403 without the token (the guard, so the webapp loaded)")

        checkable = window_shown(proc.pid) is not None

        def shown() -> bool | None:
            if proc.poll() is not None:
                raise SmokeError(f"exited ({proc.returncode}) before its window showed")
            return window_shown(proc.pid)

        if checkable:
            wait_for(shown, START_TIMEOUT, "the Doorstep window")
            say(f"window on screen after {time.monotonic() - started:.1f} s")
        else:
            say("window on screen: not checked on this OS (the process is up)")

        # Up for KEEP_UP seconds: waiting for an exit that must not come.
        with contextlib.suppress(subprocess.TimeoutExpired):
            status = proc.wait(KEEP_UP)
            raise SmokeError(f"the window exited by itself ({status}) within {KEEP_UP:.0f} s")
        answer = status_without_token(port)
        if answer != 403:
            raise SmokeError(f"after {KEEP_UP:.0f} s the server answers {answer}, not 403")
        if checkable and not window_shown(proc.pid):
            raise SmokeError(f"the window went away within {KEEP_UP:.0f} s")
        say(f"still up after {KEEP_UP:.0f} s more: window and server")

        closing = time.monotonic()
        status = stop(proc, window=True)
        say(f"closed: exit status {status} after {time.monotonic() - closing:.1f} s")
        if status != 0:
            raise SmokeError(f"exit status {status} after the close, not 0")
        wait_for(
            lambda: not accepts_connections(port),
            STOP_TIMEOUT,
            f"the server child to let go of port {port}",
        )
        say(f"port {port} closed: the server child stopped with the window")
    except BaseException:
        kill(proc)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exe", help="the frozen executable (or any Doorstep command)")
    parser.add_argument("--window", action="store_true", help="check the window, not serve")
    args = parser.parse_args(argv)

    exe = str(Path(args.exe).absolute())
    if not Path(exe).is_file():
        say(f"FAILED: {exe} does not exist (build it with build/build.py)")
        return 1
    data_dir = Path(tempfile.mkdtemp(prefix="doorstep-smoke-"))
    try:
        (check_window if args.window else check_serve)(exe, data_dir)
    except (SmokeError, OSError) as error:  # OSError: urllib's errors, a refused connection
        say(f"FAILED: {error}\n{log_tails(data_dir)}")
        return 1
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    say("passed: " + ("window" if args.window else "serve"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
