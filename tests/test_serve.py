"""`doorstep serve` over a real socket: the token, the Host allowlist, the forms, the user's
database, clean shutdown.

The tests marked @source_and_frozen run against the PyInstaller bundle too.
"""

from __future__ import annotations

import http.client
import re
import signal
import socket
import stat
import time
from urllib.parse import urlsplit

import pytest
from alembic.script import ScriptDirectory

from desktop import __version__
from tests.support.bundle import source_and_frozen
from tests.support.data import (
    V0_1_0_ACCOUNTS,
    load_0_1_0_database,
    load_newer_database,
    read_rows,
    sha256,
)
from tests.support.forms import Browser
from tests.support.processes import free_port, launch, port_is_free, serving, wait_for
from webapp.paths import migrations_dir

EXIT_LIMIT = 2.0


def request(
    running,
    path: str,
    headers: dict[str, str] | None = None,
    host: str | None = None,
    address: str = "127.0.0.1",
) -> http.client.HTTPResponse:
    """Send one GET to the server at `address` (nothing follows redirects); return the response."""
    conn = http.client.HTTPConnection(address, running.port, timeout=10)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", host or f"127.0.0.1:{running.port}")
    for name, value in (headers or {}).items():
        conn.putheader(name, value)
    conn.endheaders()
    response = conn.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    conn.close()
    return response


def token_cookie(running) -> str:
    """Do the token handshake and return the 'name=value' cookie it sets."""
    response = request(running, f"/?token={running.token}")
    return response.getheader("Set-Cookie").split(";", 1)[0]


@pytest.fixture
def server(doorstep, data_dir):
    """A running `doorstep serve` on a temporary data dir."""
    with serving(doorstep, data_dir) as running:
        yield running


def test_first_line_is_the_url_with_a_token(server):
    parts = urlsplit(server.url)
    assert parts.scheme == "http"
    assert parts.hostname == "127.0.0.1"
    assert parts.port and parts.port > 0
    assert len(server.token) >= 40


def test_database_is_open_before_the_url_is_announced(server, data_dir):
    # Testers' first request is as quick as any later one: serve loads everything up front.
    assert (data_dir / "doorstep.db").is_file()


@source_and_frozen
def test_token_is_swapped_for_a_strict_httponly_cookie_and_stripped_from_the_url(server):
    response = request(server, f"/login?next=%2Faccount&token={server.token}")
    assert response.status == 302
    # Same address without the token, other parameters kept.
    assert response.getheader("Location") == "/login?next=%2Faccount"
    cookie = response.getheader("Set-Cookie")
    assert cookie.startswith(f"doorstep_token_{server.port}={server.token};")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes


@source_and_frozen
def test_cookie_lets_the_landing_page_through(server):
    response = request(server, "/", {"Cookie": token_cookie(server)})
    assert response.status == 200
    page = response.body.decode()
    assert "<title>Doorstep" in page
    assert "navbar-brand" in page


@source_and_frozen
def test_register_log_in_greeting_log_out_over_http(server, data_dir):
    base = server.base_url
    browser = Browser()
    # The token URL swaps the token for a cookie and redirects to the landing page.
    browser.get(server.url)
    assert browser.path == "/" and "token" not in browser.url
    assert "<title>Doorstep</title>" in browser.html

    browser.register(base, "Frieda", "frieda@example.org", "correct horse")
    assert browser.path == "/login", browser.alerts()
    assert any("Your account is ready" in a for a in browser.alerts())

    browser.post(base + "login", {"email": "frieda@example.org", "password": "correct horse"})
    assert browser.path == "/"
    assert "Welcome back, Frieda!" in browser.html

    browser.post(base + "logout", {})
    assert browser.path == "/"
    assert "Welcome back" not in browser.html
    assert "You have been logged out." in browser.alerts()
    assert (data_dir / "doorstep.db").is_file()


@source_and_frozen
def test_without_token_or_cookie_every_path_is_forbidden(server):
    for path in ("/", "/login", "/register", "/static/vendor/bootstrap/bootstrap.min.css"):
        response = request(server, path)
        assert response.status == 403, path
        assert b"Forbidden" in response.body


def test_wrong_token_or_cookie_is_forbidden(server):
    assert request(server, "/?token=not-the-token").status == 403
    assert request(server, "/?token=").status == 403
    wrong = {"Cookie": f"doorstep_token_{server.port}=not-the-token"}
    assert request(server, "/", wrong).status == 403
    # The right token under another instance's cookie name does not count either.
    other = {"Cookie": f"doorstep_token_{server.port + 1}={server.token}"}
    assert request(server, "/", other).status == 403


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "localhost", "[::1]:{port}"]
)
def test_foreign_host_header_gets_a_self_contained_400_page(server, host):
    cookie = {"Cookie": token_cookie(server)}
    response = request(server, "/", cookie, host=host.format(port=server.port))
    assert response.status == 400
    page = response.body.decode()
    assert page.startswith("<!doctype html>")
    assert "Bad request" in page
    # Self-contained: no stylesheet, script or link back into the app.
    assert "<link" not in page and "<script" not in page and "href=" not in page


# Cookies other programs on 127.0.0.1 set (cookies do not separate ports), as browsers send
# them: none may hide the token cookie beside them.
ODD_COOKIES = [
    'json={"a":1}',
    "spaced=a b",
    'quote="unterminated',
    "comma=1,2",
    "=no-name",
    "no-value",
    'escaped="a\\"b"',
    "latin=\xe9t\xe9",  # raw bytes that are not UTF-8, as WSGI hands them over (latin-1)
    "",
]


def test_another_apps_odd_cookie_does_not_lock_the_user_out(server):
    # The replay: json={"a":1} made the old parser give up, and the user got a 403.
    token = token_cookie(server)
    for odd in ('json={"a":1}', "spaced=a b", "comma=1,2"):
        for cookies in (f"{odd}; {token}", f"{token}; {odd}"):
            response = request(server, "/", {"Cookie": cookies})
            assert response.status == 200, cookies
            assert b"navbar-brand" in response.body


@pytest.mark.parametrize("odd", ODD_COOKIES)
def test_guard_finds_the_token_cookie_beside_any_odd_cookie(odd):
    from desktop.guard import AccessGuard

    guard = AccessGuard(_app, "s3cret", 5000)
    for cookies in (f"{odd}; doorstep_token_5000=s3cret", f"doorstep_token_5000=s3cret; {odd}"):
        assert _call_guard(guard, cookie=cookies)[0] == "200 OK", cookies
    assert _call_guard(guard, cookie=f"{odd}; doorstep_token_5000=wrong")[0] == "403 Forbidden"


def test_guard_takes_the_right_token_among_cookies_of_the_same_name():
    from desktop.guard import AccessGuard

    # A stale cookie of the same name on a longer path comes first; the right one still counts.
    guard = AccessGuard(_app, "s3cret", 5000)
    both = "doorstep_token_5000=stale; doorstep_token_5000=s3cret"
    assert _call_guard(guard, cookie=both)[0] == "200 OK"
    assert _call_guard(guard, cookie='doorstep_token_5000="s3cret"')[0] == "200 OK"


def non_loopback_address() -> str | None:
    """This machine's address on its default route, if it has one that is not loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, a route is chosen
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def warnings_in(running) -> list[str]:
    """The warning lines `serve` wrote on stderr."""
    return [line for line in running.stderr().splitlines() if "warning" in line.lower()]


def test_a_loopback_host_gives_no_warning(server):
    assert warnings_in(server) == []


def test_a_non_loopback_host_is_allowed_by_address_and_name_with_a_warning(doorstep, data_dir):
    address = non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback address here (the 0.0.0.0 test covers the host name)")
    name = socket.gethostname()
    with serving(doorstep, data_dir, "--host", address) as running:
        assert urlsplit(running.url).hostname == address
        (warning,) = warnings_in(running)
        assert warning.startswith("doorstep: warning: ")
        assert address in warning and "unencrypted plain HTTP" in warning

        def get(path, headers=None, host=None):
            return request(running, path, headers, host=host, address=address)

        at_address = f"{address}:{running.port}"
        assert get("/", host=at_address).status == 403  # the token still applies
        swap = get(f"/?token={running.token}", host=at_address)
        assert swap.status == 302
        cookie = {"Cookie": swap.getheader("Set-Cookie").split(";", 1)[0]}
        assert get("/", cookie, host=at_address).status == 200
        assert get("/", cookie, host=f"{name}:{running.port}").status == 200
        assert get("/", cookie, host=f"evil.example:{running.port}").status == 400


def test_every_address_is_allowed_by_the_host_name_with_a_warning(doorstep, data_dir):
    with serving(doorstep, data_dir, "--host", "0.0.0.0") as running:
        (warning,) = warnings_in(running)
        assert "every address of this machine" in warning
        assert "unencrypted plain HTTP" in warning
        by_name = f"{socket.gethostname()}:{running.port}"
        assert request(running, "/", host=by_name).status == 403
        cookie = {"Cookie": token_cookie(running)}
        assert request(running, "/", cookie, host=by_name).status == 200
        assert request(running, "/", cookie, host=f"evil.example:{running.port}").status == 400


def test_localhost_host_is_allowed(server):
    cookie = {"Cookie": token_cookie(server)}
    response = request(server, "/", cookie, host=f"localhost:{server.port}")
    assert response.status == 200


@source_and_frozen
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_exits_zero_quickly_and_releases_the_port(server, signum):
    # A keep-alive connection left open must not keep the server alive (waitress' close() would).
    idle = socket.create_connection(("127.0.0.1", server.port))
    idle.sendall(
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nConnection: keep-alive\r\n\r\n".encode()
    )
    assert idle.recv(100).startswith(b"HTTP/1.1 403")
    started = time.monotonic()
    server.signal(signum)
    status = server.wait(EXIT_LIMIT + 10)
    elapsed = time.monotonic() - started
    idle.close()
    assert status == 0
    assert elapsed <= EXIT_LIMIT, f"took {elapsed:.2f} s"
    assert port_is_free(server.port)


def test_taken_port_gives_a_clear_error(doorstep, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        running = launch(
            doorstep, ["serve", "--data-dir", str(tmp_path / "data"), "--port", str(port)], tmp_path
        )
        status = running.wait(60)
    assert status != 0
    assert running.stdout.next_line(10) is None  # no URL line
    message = running.stderr()
    assert f"127.0.0.1:{port}" in message
    assert "in use" in message.lower()
    assert "Traceback" not in message


def test_fixed_port_is_used_when_asked(doorstep, tmp_path):
    port = free_port()
    with serving(doorstep, tmp_path / "data", "--port", str(port)) as running:
        assert running.port == port
        assert request(running, "/").status == 403


def test_data_dir_holds_the_database_and_the_log(doorstep, tmp_path):
    data_dir = tmp_path / "elsewhere"
    with serving(doorstep, data_dir) as running:
        assert request(running, "/", {"Cookie": token_cookie(running)}).status == 200
        assert (data_dir / "doorstep.db").is_file()
    log = (data_dir / "logs" / "doorstep.log").read_text()
    assert "Serving" in log
    assert "Server stopped" in log


def test_two_instances_do_not_share_a_cookie(doorstep, tmp_path):
    with (
        serving(doorstep, tmp_path / "one") as first,
        serving(doorstep, tmp_path / "two") as second,
    ):
        assert first.port != second.port
        first_cookie = token_cookie(first)
        assert request(second, "/", {"Cookie": first_cookie}).status == 403
        both = {"Cookie": f"{first_cookie}; {token_cookie(second)}"}
        assert request(first, "/", both).status == 200
        assert request(second, "/", both).status == 200


def test_webapp_start_up_failure_is_reported_and_exits_non_zero(doorstep, tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "secret_key").mkdir(parents=True)  # unreadable as a key: create_app fails
    running = launch(doorstep, ["serve", "--data-dir", str(data_dir)], tmp_path)
    status = running.wait(60)
    assert status == 1
    assert running.stdout.next_line(10) is None  # no URL line
    message = running.stderr()
    assert "failed to start" in message
    assert str(data_dir / "logs" / "doorstep.log") in message
    assert "Traceback" in (data_dir / "logs" / "doorstep.log").read_text()


def test_unusable_data_dir_is_a_clear_error(doorstep, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    running = launch(doorstep, ["serve", "--data-dir", str(not_a_folder)], tmp_path)
    assert running.wait(60) == 1
    assert f"cannot use the data folder {not_a_folder}" in running.stderr()
    assert "Traceback" not in running.stderr()


def test_open_hands_the_url_with_token_to_the_system_browser(doorstep, tmp_path):
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    browser.chmod(0o755)
    with serving(doorstep, tmp_path / "data", "--open", env={"BROWSER": str(browser)}) as running:
        assert wait_for(lambda: opened.exists() and opened.read_text(), 30, "the browser")
        assert opened.read_text() == running.url


# The middleware on its own, for the corners a socket test does not reach easily.


def _call_guard(guard, path="/", query="", host="127.0.0.1:5000", cookie=None):
    captured = {}

    def start_response(status, headers):
        captured["status"], captured["headers"] = status, dict(headers)

    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_HOST": host,
    }
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    body = b"".join(guard(environ, start_response))
    return captured["status"], captured["headers"], body


def _app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"inner app"]


def test_guard_redirect_keeps_a_non_ascii_path_and_other_parameters():
    from desktop.guard import AccessGuard

    guard = AccessGuard(_app, "s3cret", 5000)
    # WSGI hands paths over as latin-1 decoded UTF-8 bytes.
    path = "/users/张伟".encode().decode("latin-1")
    status, headers, _ = _call_guard(guard, path, "a=1&token=s3cret&b=%C3%A9")
    assert status == "302 Found"
    assert headers["Location"] == "/users/%E5%BC%A0%E4%BC%9F?a=1&b=%C3%A9"


def test_guard_accepts_ipv6_host_when_served_there_and_checks_hosts_case_insensitively():
    from desktop.guard import AccessGuard

    guard = AccessGuard(_app, "s3cret", 5000, hosts=("[::1]",))
    cookie = "doorstep_token_5000=s3cret"
    assert _call_guard(guard, host="[::1]:5000", cookie=cookie)[0] == "200 OK"
    assert _call_guard(guard, host="LOCALHOST:5000", cookie=cookie)[0] == "200 OK"
    assert _call_guard(guard, host="", cookie=cookie)[0] == "400 Bad Request"


def test_guard_rejects_a_non_ascii_token_without_crashing():
    from desktop.guard import AccessGuard

    guard = AccessGuard(_app, "s3cret", 5000)
    status, _, body = _call_guard(guard, query="token=%C3%A9")
    assert status == "403 Forbidden"
    assert b"Forbidden" in body


@source_and_frozen
def test_a_0_1_0_data_dir_is_backed_up_and_upgraded_and_its_accounts_log_in(doorstep, data_dir):
    database = load_0_1_0_database(data_dir)
    stored = read_rows(database)
    head = ScriptDirectory(str(migrations_dir())).get_current_head()
    with serving(doorstep, data_dir) as running:
        # The upgrade runs before the URL is printed: the backup exists by now.
        (backup,) = (data_dir / "backups").glob("doorstep-*.db")
        assert re.fullmatch(r"doorstep-\d{8}T\d{6}Z-0\.1\.0\.db", backup.name), backup.name
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        assert read_rows(backup) == stored
        assert read_rows(database, "SELECT version_num FROM alembic_version") == [(head,)]

        browser = Browser()
        browser.get(running.url)
        for username, email, password in V0_1_0_ACCOUNTS:
            browser.get(running.base_url + "login")
            browser.post(running.base_url + "login", {"email": email, "password": password})
            assert browser.path == "/", (username, browser.alerts())
            assert f"Welcome back, {username}!" in browser.html
            browser.post(running.base_url + "logout", {})
            assert "You have been logged out." in browser.alerts()
        assert running.stop(timeout=10) == 0
    log = (data_dir / "logs" / "doorstep.log").read_text(encoding="utf-8")
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]


@source_and_frozen
def test_a_newer_database_stops_serve_with_the_message_and_is_left_alone(doorstep, tmp_path):
    data_dir = tmp_path / "data"
    database = load_newer_database(data_dir)
    before = sha256(database)
    running = launch(doorstep, ["serve", "--data-dir", str(data_dir)], tmp_path)
    assert running.wait(60) == 1, running.stderr()[-3000:]
    assert running.stdout.seen == []  # not even the URL line
    assert running.stderr().splitlines()[-1] == (
        f"doorstep: this data folder ({data_dir}) was written by a newer version of Doorstep "
        f"(database revision 9999); this is Doorstep {__version__}. Nothing was changed."
    )
    assert sha256(database) == before
    assert not (data_dir / "backups").exists()
    # Reading a WAL database, even read-only, leaves SQLite's -shm (and an empty -wal) behind;
    # nothing may have been written to the log.
    wal = data_dir / "doorstep.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_a_damaged_database_stops_serve_naming_the_file(doorstep, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "doorstep.db").write_bytes(b"not a database at all" * 100)
    running = launch(doorstep, ["serve", "--data-dir", str(data_dir)], tmp_path)
    assert running.wait(60) == 1
    assert f"doorstep: {data_dir / 'doorstep.db'} is not a Doorstep database" in running.stderr()
    assert (data_dir / "doorstep.db").read_bytes() == b"not a database at all" * 100


def test_logs_are_private(doorstep, tmp_path):
    data_dir = tmp_path / "data"
    with serving(doorstep, data_dir):
        pass
    for log in (data_dir / "logs").iterdir():
        assert stat.S_IMODE(log.stat().st_mode) == 0o600, log.name
