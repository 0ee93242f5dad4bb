"""Helpers for tests that run Doorstep as a real process: serve mode, Xvfb, windows, CDP.

Nothing here sleeps to synchronise: every wait polls a condition until a deadline.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import ctypes.util
import http.cookiejar
import json
import os
import queue
import re
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "test-artifacts"
RUNNING_LINE = re.compile(r"^Doorstep is running at (http://\S+)$")
START_TIMEOUT = 60.0

T = TypeVar("T")


def doorstep_command() -> list[str]:
    """Return the command that runs Doorstep: $DOORSTEP_COMMAND (e.g. a frozen build) or -m."""
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
    url: str = ""
    stdout: OutputReader | None = None
    stderr_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

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
        if self.stderr_path and self.stderr_path.exists():
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
        if self.stdout is not None:
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
        if self.stdout is not None:
            self.stdout.join(10)


def launch(
    args: Sequence[str],
    log_dir: Path,
    env: dict[str, str] | None = None,
    command: Sequence[str] | None = None,
) -> Running:
    """Start Doorstep with `args`, stdout piped (read it via .stdout), stderr to a file."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir / f"doorstep-stderr-{time.monotonic_ns()}.txt"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [*(command or doorstep_command()), *args],
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
    assert running.stdout is not None
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
    data_dir: Path,
    *extra_args: str,
    env: dict[str, str] | None = None,
    command: Sequence[str] | None = None,
) -> Running:
    """Run `doorstep serve --data-dir DATA_DIR [extra args]` and return it once it is serving."""
    running = launch(
        ["serve", "--data-dir", str(data_dir), *extra_args],
        data_dir.parent,
        env=env,
        command=command,
    )
    try:
        read_running_url(running)
    except BaseException:
        running.kill()
        raise
    return running


@contextlib.contextmanager
def serving(
    data_dir: Path, *extra_args: str, env: dict[str, str] | None = None
) -> Iterator[Running]:
    """Context manager around start_serve that always stops (or kills) the server."""
    running = start_serve(data_dir, *extra_args, env=env)
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            with contextlib.suppress(TimeoutError):
                running.stop()
        running.kill()


# --- an HTTP client that fills in forms -----------------------------------------------------


class FormsParser(HTMLParser):
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
        """GET `url`; return the page."""
        return self._open(urllib.request.Request(url))

    def post(self, url: str, fields: dict[str, str]) -> str:
        """POST the form on the last page (its CSRF token included) to `url`; return the page."""
        data = urllib.parse.urlencode({"csrf_token": self.csrf(), **fields}).encode()
        return self._open(urllib.request.Request(url, data=data, method="POST"))

    def csrf(self) -> str:
        """The CSRF token of the last page's form."""
        parser = FormsParser()
        parser.feed(self.html)
        assert parser.csrf, f"no csrf_token on {self.url}"
        return parser.csrf[0]

    def alerts(self) -> list[str]:
        """The texts of the last page's alerts."""
        parser = FormsParser()
        parser.feed(self.html)
        return [" ".join(text.split()) for text in parser.alerts]

    @property
    def path(self) -> str:
        """The path of the last page."""
        return urllib.parse.urlsplit(self.url).path


# --- Xvfb -------------------------------------------------------------------------------


@contextlib.contextmanager
def xvfb(size: str = "1280x800x24", timeout: float = 20.0) -> Iterator[str]:
    """Run Xvfb on a free display (it picks one itself via -displayfd); yield ':N'."""
    if not shutil.which("Xvfb"):
        raise RuntimeError("Xvfb is not installed (Debian package: xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", size, "-nolisten", "tcp"],
        pass_fds=[write_fd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        # Xvfb writes the display number once it accepts clients.
        buffer = b""
        deadline = time.monotonic() + timeout
        while not buffer.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([read_fd], [], [], max(remaining, 0))
            if not ready:
                raise TimeoutError("Xvfb did not start")
            chunk = os.read(read_fd, 16)
            if not chunk:
                raise RuntimeError(f"Xvfb exited with {proc.wait()}")
            buffer += chunk
        yield f":{int(buffer)}"
    finally:
        os.close(read_fd)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- X11 windows (no window manager runs under bare Xvfb) ----------------------------------


def xwininfo(display: str, *args: str, check: bool = False) -> str:
    """Return what `xwininfo ARGS` prints about `display`."""
    return subprocess.run(
        ["xwininfo", *args, "-display", display], capture_output=True, text=True, check=check
    ).stdout


def find_window(display: str, title: str) -> int | None:
    """Return the id of a mapped top-level window named `title`, or None."""
    for line in xwininfo(display, "-root", "-tree").splitlines():
        match = re.match(r'\s*(0x[0-9a-f]+) "(.*)": .*?(\d+)x(\d+)\+', line)
        if match and match.group(2) == title and int(match.group(3)) > 100:
            window = int(match.group(1), 16)
            if "IsViewable" in xwininfo(display, "-id", hex(window)):
                return window
    return None


def window_size(display: str, window: int) -> tuple[int, int]:
    """Return the window's (width, height)."""
    out = xwininfo(display, "-id", hex(window), check=True)
    width = int(re.search(r"Width: (\d+)", out).group(1))  # type: ignore[union-attr]
    height = int(re.search(r"Height: (\d+)", out).group(1))  # type: ignore[union-attr]
    return width, height


def screenshot(display: str, path: Path, window: int | None = None) -> Path:
    """Save a PNG of `window` (or the whole screen) with ImageMagick's import."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = hex(window) if window else "root"
    subprocess.run(
        ["import", "-display", display, "-window", target, str(path)], check=True, timeout=30
    )
    return path


def keep_artifact(path: Path, name: str | None = None) -> Path:
    """Copy a screenshot to test-artifacts/ (git-ignored) for humans to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / (name or path.name)
    shutil.copyfile(path, target)
    return target


class _ClientMessageData(ctypes.Union):
    _fields_ = [("b", ctypes.c_char * 20), ("s", ctypes.c_short * 10), ("l", ctypes.c_long * 5)]


class _XClientMessageEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", _ClientMessageData),
    ]


class _XEvent(ctypes.Union):
    _fields_ = [("xclient", _XClientMessageEvent), ("pad", ctypes.c_long * 24)]


def close_window(display: str, window: int) -> None:
    """Ask `window` to close as a window manager's close button does (WM_DELETE_WINDOW)."""
    xlib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlib.XSendEvent.argtypes = [
        ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(_XEvent)
    ]  # fmt: skip
    xlib.XFlush.argtypes = [ctypes.c_void_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = xlib.XOpenDisplay(display.encode())
    if not dpy:
        raise RuntimeError(f"cannot open X display {display}")
    try:
        event = _XEvent()
        event.xclient.type = 33  # ClientMessage
        event.xclient.window = window
        event.xclient.message_type = xlib.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        event.xclient.format = 32
        event.xclient.data.l[0] = xlib.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        event.xclient.data.l[1] = 0  # CurrentTime
        if not xlib.XSendEvent(dpy, window, 0, 0, ctypes.byref(event)):
            raise RuntimeError("XSendEvent failed")
        xlib.XFlush(dpy)
    finally:
        xlib.XCloseDisplay(dpy)


# --- Chrome DevTools Protocol (QtWebEngine's remote debugging port) --------------------------


def free_port() -> int:
    """Return a port that was free a moment ago (for a debugging port the child binds)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cdp_targets(debug_port: int) -> list[dict[str, Any]]:
    """Return the page targets the remote-debugging endpoint lists, [] if it is not up yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json/list", timeout=2) as r:
            return [t for t in json.load(r) if t.get("type") == "page"]
    except (OSError, ValueError):
        return []


class CDPSession:
    """A minimal Chrome DevTools Protocol client over a WebSocket (standard library only)."""

    def __init__(self, ws_url: str, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(ws_url)
        self._sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self._sock.sendall(
            (
                f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            response += chunk
        head, self._buffer = response.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"WebSocket handshake refused: {head[:200]!r}")
        self._next_id = 0

    def close(self) -> None:
        """Close the connection."""
        self._sock.close()

    def __enter__(self) -> CDPSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send_frame(self, payload: bytes) -> None:
        header = bytes([0x81])  # FIN + text
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._sock.sendall(header + mask + masked)

    def _read_exact(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _read_message(self) -> bytes:
        message = b""
        while True:
            first, second = self._read_exact(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read_exact(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read_exact(8))[0]
            payload = self._read_exact(length)  # servers do not mask
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            if opcode in (0x9, 0xA):  # ping/pong: not part of a message
                continue
            message += payload
            if first & 0x80:
                return message

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events in between are skipped)."""
        self._next_id += 1
        ident = self._next_id
        self._send_frame(json.dumps({"id": ident, "method": method, "params": params}).encode())
        while True:
            reply = json.loads(self._read_message())
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """Evaluate a JavaScript expression in the page and return its (JSON) value.

        A promise is awaited and its value returned.
        """
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")


def loaded_page(debug_port: int, url_prefix: str) -> dict[str, Any] | None:
    """Return the page's state once the page at `url_prefix` has fully loaded, else None."""
    for target in cdp_targets(debug_port):
        if not target.get("url", "").startswith(url_prefix):
            continue
        try:
            with CDPSession(target["webSocketDebuggerUrl"], timeout=5) as cdp:
                state = cdp.evaluate(
                    "({ready: document.readyState, url: location.href, title: document.title,"
                    " brand: (document.querySelector('.navbar-brand') || {}).textContent || '',"
                    " text: document.body ? document.body.innerText : ''})"
                )
        except (OSError, ConnectionError, RuntimeError, ValueError):
            return None
        # The target may still list the URL being navigated to while about:blank is loaded.
        if state and state.get("ready") == "complete" and state["url"].startswith(url_prefix):
            return state
    return None
