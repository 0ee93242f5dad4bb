"""The embedded server refuses abuse early: oversized bodies before they are read, idle
connections after a while, and logins that hash cannot take the threads pages need."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from desktop import server as embedded
from desktop.server import EmbeddedServer, bind_socket, new_token
from tests.support.data import PASSWORD
from tests.support.forms import Browser
from tests.support.processes import serving
from webapp.config import DEFAULTS
from webapp.extensions import db
from webapp.hashing import HASH_SLOTS
from webapp.models import User

MAX_BODY = int(DEFAULTS["MAX_CONTENT_LENGTH"])  # type: ignore[call-overload]
MIB = 1024 * 1024
# An attacker's body: what made waitress write 200 MiB of temporary files per request.
HUGE_BODY = 200 * MIB
# What the client sends of it before it waits for the answer.
SENT_OF_IT = 64 * 1024
# The answer to an oversized body comes at once; this leaves room for a loaded machine.
ANSWER_DEADLINE = 2.0
# What the server may write while refusing (its answer and a log line), far below a body.
WRITE_ALLOWANCE = 64 * 1024
START_LIMIT = 60.0
# How long a login may be held inside Argon2 by the test before it gives up.
HOLD_LIMIT = 30.0

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the server's /proc/PID/io and fds"
)


def bytes_written(pid: int) -> int:
    """Every byte the process has written so far, to files and sockets (/proc/PID/io)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/PID/io")


def deleted_file_bytes(pid: int) -> int:
    """The size of the unlinked files the process holds open: temporary files."""
    total = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).endswith(" (deleted)"):
                total += fd.stat().st_size
        except OSError:  # closed meanwhile
            pass
    return total


def request_head(port: int, length: str = "", chunked: bool = False, cookie: str = "") -> bytes:
    """The head of a POST /login with the given Content-Length (or chunked)."""
    lines = [
        "POST /login HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/octet-stream",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(conn: socket.socket) -> int:
    """Read the status code of the answer on `conn`."""
    received = b""
    while b"\r\n" not in received:
        chunk = conn.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed after {received!r}")
        received += chunk
    return int(received.split(b" ", 2)[1])


def send_ignoring_reset(conn: socket.socket, data: bytes) -> int:
    """Send `data` until the server stops reading; return how much was sent."""
    sent = 0
    view = memoryview(data)
    try:
        while sent < len(data):
            sent += conn.send(view[sent : sent + MIB])
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


@pytest.fixture
def server(doorstep, data_dir):
    """A running `doorstep serve` on a temporary data dir."""
    with serving(doorstep, data_dir) as running:
        yield running


@linux_only
def test_a_200_mib_post_without_token_is_refused_from_its_length_and_never_written(server):
    pid = server.proc.pid
    before = bytes_written(pid)
    for _ in range(4):  # as the attack: four of them
        with socket.create_connection(("127.0.0.1", server.port), timeout=ANSWER_DEADLINE) as conn:
            started = time.monotonic()
            conn.sendall(request_head(server.port, str(HUGE_BODY)) + b"x" * SENT_OF_IT)
            assert status_of(conn) == 413
            assert time.monotonic() - started < ANSWER_DEADLINE
            assert deleted_file_bytes(pid) == 0
    assert bytes_written(pid) - before < WRITE_ALLOWANCE


@linux_only
def test_a_chunked_body_is_cut_at_the_limit_and_kept_off_the_disk(server):
    pid = server.proc.pid
    before = bytes_written(pid)
    chunk = b"x" * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    # Twice the limit, never finished: the server must answer before the end of it.
    body = framed * (2 * MAX_BODY // len(chunk))
    with socket.create_connection(("127.0.0.1", server.port), timeout=ANSWER_DEADLINE) as conn:
        conn.sendall(request_head(server.port, chunked=True))
        send_ignoring_reset(conn, body)
        assert status_of(conn) == 413
    assert bytes_written(pid) - before < WRITE_ALLOWANCE


def test_the_limit_is_the_webapps_max_content_length(server):
    browser = Browser()
    browser.get(server.url)
    cookie = "; ".join(f"{cookie.name}={cookie.value}" for cookie in browser.jar)
    for length, status in [(MAX_BODY, 400), (MAX_BODY + 1, 413)]:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
            conn.sendall(request_head(server.port, str(length), cookie=cookie))
            send_ignoring_reset(conn, b"x" * length)
            # At the limit the webapp reads it (and finds no CSRF token); above, waitress
            # refuses it unread.
            assert status_of(conn) == status, length


@pytest.fixture
def embedded_server(make_app, data_dir):
    """An EmbeddedServer in this process, on a data dir with Mei's account, stopped after."""
    app = make_app()
    with app.app_context():
        User.create(username="Mei", email="mei@example.com", password=PASSWORD)
        db.engine.dispose()
    servers = []

    def start() -> EmbeddedServer:
        server = EmbeddedServer(bind_socket(), data_dir, new_token())
        servers.append(server)
        server.start()
        assert server.ready.wait(START_LIMIT) and server.error is None
        return server

    yield start
    for server in servers:
        assert server.stop()


def test_pages_are_answered_while_slow_hashes_hold_every_slot(embedded_server, monkeypatch):
    from argon2 import PasswordHasher

    original_verify = PasswordHasher.verify
    lock = threading.Lock()
    inside = [0]
    most = [0]
    slots_full = threading.Event()
    release = threading.Event()

    def slow_verify(self, hash, password):
        # A hash that takes as long as the test wants: it holds its slot until released.
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            if inside[0] == HASH_SLOTS:
                slots_full.set()
        try:
            assert release.wait(HOLD_LIMIT), "never released"
            return original_verify(self, hash, password)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(PasswordHasher, "verify", slow_verify)
    server = embedded_server()
    base = f"http://127.0.0.1:{server.port}/"
    results: list[str] = []

    def log_in() -> None:
        browser = Browser()
        browser.get(f"{base}login?token={server.token}")
        browser.post(base + "login", {"email": "mei@example.com", "password": PASSWORD})
        results.append(browser.html)

    # More logins than slots: the extra ones wait for a slot, each in a server thread.
    logins = [threading.Thread(target=log_in) for _ in range(HASH_SLOTS + 2)]
    for login in logins:
        login.start()
    try:
        assert slots_full.wait(HOLD_LIMIT), "the logins never filled the hash slots"
        visitor = Browser()
        started = time.monotonic()
        visitor.get(f"{base}?token={server.token}")
        visitor.get(base + "login")
        elapsed = time.monotonic() - started
        assert elapsed < ANSWER_DEADLINE, f"pages took {elapsed:.2f} s"
        assert inside[0] == HASH_SLOTS  # the slots are still held: no login has finished
    finally:
        release.set()
        for login in logins:
            login.join(HOLD_LIMIT)
    assert most[0] == HASH_SLOTS  # never more at once than the cap
    assert len(results) == len(logins)
    assert all("Welcome back, Mei!" in page for page in results)


def test_an_idle_connection_is_closed_after_the_channel_timeout(embedded_server, monkeypatch):
    monkeypatch.setattr(embedded, "CHANNEL_TIMEOUT", 1)
    monkeypatch.setattr(embedded, "CLEANUP_INTERVAL", 1)
    server = embedded_server()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as idle:
        idle.sendall(b"GET / HTTP/1.1\r\n")  # half a request, then nothing
        started = time.monotonic()
        assert idle.recv(100) == b""  # closed by the server, not by the 10 s timeout
        assert time.monotonic() - started < 5


def test_the_server_is_made_with_the_documented_limits(embedded_server):
    server = embedded_server()
    adjustments = server._server.adj
    assert adjustments.threads == embedded.THREADS >= 2 * HASH_SLOTS
    assert adjustments.connection_limit == embedded.CONNECTION_LIMIT
    assert adjustments.channel_timeout == embedded.CHANNEL_TIMEOUT
    assert adjustments.max_request_body_size == MAX_BODY + 1
    assert adjustments.inbuf_overflow >= MAX_BODY + 1 + adjustments.recv_bytes  # its last read
