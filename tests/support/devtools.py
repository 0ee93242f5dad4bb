"""The page inside Doorstep's Qt window, read over QtWebEngine's remote-debugging port.

The child process gets QTWEBENGINE_REMOTE_DEBUGGING=<port>; the endpoint lists its pages at
/json/list, and CDPSession speaks the Chrome DevTools Protocol to one of them over a
WebSocket, standard library only. The product carries no test hook.

Why not Playwright, which drives Chromium in tests/test_browser.py: its connect_over_cdp does
reach QtWebEngine's endpoint, but by default it first sends Browser.setDownloadBehavior, which
QtWebEngine refuses ("Browser context management is not supported"), and the attach fails.
Only Playwright 1.60 and later can leave that command out (connect_over_cdp(...,
no_defaults=True)); the test extra accepts Playwright 1.45. And scripts/bench_startup.py polls
the page every 10 ms while the app starts: Playwright's Node.js driver would be one more
process competing for the CPU with the start-up being timed, where this client is one socket.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import urllib.parse
import urllib.request
from typing import Any


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
        address = (parts.hostname, parts.port or 80)
        self._sock = socket.create_connection(address, timeout=timeout)
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
        self._events: list[dict[str, Any]] = []  # those that arrived while a call waited

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
        """Send one command and return its result (events in between are kept for event())."""
        self._next_id += 1
        ident = self._next_id
        self._send_frame(json.dumps({"id": ident, "method": method, "params": params}).encode())
        while True:
            reply = json.loads(self._read_message())
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def event(self, method: str) -> dict[str, Any]:
        """Return the parameters of the next `method` event (of a domain enabled by call()).

        Other events before it are dropped. Waits at most the session's timeout (the
        socket's: TimeoutError).
        """
        while True:
            for index, event in enumerate(self._events):
                if event["method"] == method:
                    return self._events.pop(index).get("params", {})
            self._events.clear()  # none of them is wanted
            message = json.loads(self._read_message())
            if "method" in message:
                self._events.append(message)

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
