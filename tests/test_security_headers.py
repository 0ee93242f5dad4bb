"""Security headers on every kind of response of a real `doorstep serve`, and in Chromium:
every page visited, no Content Security Policy violation anywhere."""

from __future__ import annotations

import http.client
import json
import re
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from desktop.headers import NO_STORE
from tests.support.data import PASSWORD
from tests.support.devtools import CDPSession, cdp_targets, loaded_page
from tests.support.forms import Browser
from tests.support.processes import free_port, launch, serving, wait_for
from tests.support.x11 import xvfb
from tests.test_browser import CHROMIUM, QUIET_CHROMIUM

# The directives issue #11 asks for, each with the one value it must have.
REQUIRED_DIRECTIVES = {
    "default-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}
REQUIRED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Pages only a logged-in user sees (and the export, a download of their data).
ACCOUNT_PAGES = [
    "/",
    "/account",
    "/account/profile",
    "/account/password",
    "/account/recovery-code",
    "/account/delete",
    "/account/export",
]
LOCAL = "http://127.0.0.1:"
# A name Chromium is told resolves to 127.0.0.1, as a DNS-rebinding page's would.
REBOUND_HOST = "rebound.test"


def security_problems(headers: Any) -> list[str]:
    """Return what is missing or wrong in a response's security headers (none: []);
    `headers` is anything with items(), duplicates kept (http.client's) or not (a dict)."""
    pairs = [(name.lower(), value) for name, value in headers.items()]
    policies = [value for name, value in pairs if name == "content-security-policy"]
    if len(policies) != 1:
        return [f"not exactly one Content-Security-Policy: {policies}"]
    problems = []
    policy = policies[0]
    directives = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value.strip()
    for name, value in REQUIRED_DIRECTIVES.items():
        if directives.get(name) != value:
            problems.append(f"{name} is {directives.get(name)!r}, not {value}")
    if "unsafe-" in policy:  # 'unsafe-inline', 'unsafe-eval', 'unsafe-hashes'
        problems.append(f"an unsafe- source in {policy!r}")
    for name, value in REQUIRED_HEADERS.items():
        given = [seen for key, seen in pairs if key == name.lower()]
        if given != [value]:
            problems.append(f"{name} is {given}, not [{value!r}]")
    return problems


def send(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str | None = None,
) -> http.client.HTTPResponse:
    """Send one request (nothing follows redirects); return the response, its body read."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", host or f"127.0.0.1:{port}")
    for name, value in (headers or {}).items():
        conn.putheader(name, value)
    if body or method == "POST":
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body or None)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def raw_response_head(port: int, request: bytes) -> tuple[int, dict[str, str]]:
    """Send raw bytes (what http.client would refuse to); return the status and headers."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
    lines = received.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def cookie_header(browser: Browser) -> str:
    """The Cookie header `browser` would send."""
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in browser.jar)


@pytest.fixture
def server(doorstep, data_dir):
    """A running `doorstep serve` on a temporary data dir."""
    with serving(doorstep, data_dir) as running:
        yield running


def test_every_kind_of_response_carries_the_security_headers(server):
    port = server.port
    browser = Browser()
    browser.get(server.url)
    anonymous = {"Cookie": cookie_header(browser)}
    cases = {
        "landing page": ("GET", "/", anonymous, b"", None, 200),
        "HEAD": ("HEAD", "/", anonymous, b"", None, 200),
        "static file": ("GET", "/static/app.css", anonymous, b"", None, 200),
        "image": ("GET", "/static/img/doorstep.png", anonymous, b"", None, 200),
        "404": ("GET", "/no/such/page", anonymous, b"", None, 404),
        "404 static": ("GET", "/static/nothing.css", anonymous, b"", None, 404),
        "405": ("DELETE", "/login", anonymous, b"", None, 405),
        "redirect to log in": ("GET", "/account", anonymous, b"", None, 302),
        "expired form": ("POST", "/login", anonymous, b"email=a", None, 400),
        "guard: no token": ("GET", "/", {}, b"", None, 403),
        "guard: wrong token": ("GET", "/?token=wrong", {}, b"", None, 403),
        "guard: token swap": ("GET", f"/?token={server.token}", {}, b"", None, 302),
        "guard: foreign host": ("GET", "/", anonymous, b"", "evil.example", 400),
    }
    for kind, (method, path, headers, body, host, status) in cases.items():
        response = send(port, method, path, headers, body, host)
        assert response.status == status, kind
        assert security_problems(response.headers) == [], kind

    # waitress's own answers: an oversized body, a malformed request.
    host = f"Host: 127.0.0.1:{port}\r\n".encode()
    for kind, request, status in [
        ("too large", b"POST / HTTP/1.1\r\n" + host + b"Content-Length: 999999999\r\n\r\n", 413),
        ("malformed", b"POST / HTTP/1.1\r\n" + host + b"Content-Length: x\r\n\r\n", 400),
    ]:
        got, headers = raw_response_head(port, request)
        assert got == status, kind
        assert security_problems(headers) == [], kind


def test_every_page_a_logged_in_user_sees_is_no_store(server):
    browser = Browser()
    browser.get(server.url)
    browser.register(server.base_url, "Mei", "mei@example.com", PASSWORD)
    browser.post(server.base_url + "login", {"email": "mei@example.com", "password": PASSWORD})
    assert "Welcome back, Mei!" in browser.html
    logged_in = {"Cookie": cookie_header(browser)}
    for path in ACCOUNT_PAGES:
        response = send(server.port, "GET", path, logged_in)
        assert response.status == 200, path
        assert response.getheader("Cache-Control") == NO_STORE, path
        assert security_problems(response.headers) == [], path
    # The token swap and the guard's pages are not cached either.
    assert send(server.port, "GET", f"/?token={server.token}").getheader("Cache-Control") == (
        NO_STORE
    )
    assert send(server.port, "GET", "/").getheader("Cache-Control") == NO_STORE


def test_the_start_up_failure_page_carries_them_and_its_style_is_allowed_by_hash():
    from desktop.headers import style_hash
    from desktop.server import _failure_app

    captured = {}

    def start_response(status, headers):
        captured["status"], captured["headers"] = status, dict(headers)

    body = b"".join(_failure_app(None, RuntimeError("boom"))({}, start_response)).decode()
    assert captured["status"].startswith("500")
    headers = captured["headers"]
    assert security_problems(headers) == []
    (style,) = re.findall(r"<style>(.*?)</style>", body, re.S)
    assert style_hash(style) in headers["Content-Security-Policy"]


def test_the_style_pywebview_adds_in_the_window_is_the_one_the_policy_allows():
    # pywebview adds it to every page in the window; if an upgrade changes it, the window
    # would report a violation on every page (and let text be selected).
    import webview

    from desktop.headers import PYWEBVIEW_STYLE, SECURITY_HEADERS, style_hash

    script = Path(webview.__file__).with_name("js") / "customize.js"
    (shipped,) = re.findall(r"var disableTextCss = '([^']*)'", script.read_text("utf-8"))
    assert shipped == PYWEBVIEW_STYLE
    policy = dict(SECURITY_HEADERS)["Content-Security-Policy"]
    (style_src,) = [part for part in policy.split("; ") if part.startswith("style-src ")]
    assert style_src == f"style-src 'self' {style_hash(PYWEBVIEW_STYLE)}"


# --- In Chromium: every page, no CSP violation ----------------------------------------------

# Reports every violation to the test, on every page, before any of the page's own code runs.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation({
    page: location.href,
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    sample: event.sample,
  });
});
"""


@pytest.fixture(scope="module")
def rebinding_browser():
    """Debian's Chromium, resolving REBOUND_HOST to 127.0.0.1."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `python3 scripts/dev.py system-deps`")
    from playwright.sync_api import sync_playwright

    rules = f"--host-resolver-rules=MAP {REBOUND_HOST} 127.0.0.1"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*QUIET_CHROMIUM, rules]
        )
        yield chromium
        chromium.close()


def fill(page, fields: dict[str, str]) -> None:
    """Type into the fields labelled so."""
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)


class PageWatch:
    """What a tab's pages reported: CSP violations, console messages about CSP, script
    errors, and every response from the server with its headers."""

    def __init__(self, context, base_url: str) -> None:
        self.violations: list[dict] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        self.responses: list[tuple[str, int, dict[str, str]]] = []
        self.base_url = base_url
        context.expose_binding(
            "reportViolation", lambda _source, seen: self.violations.append(seen)
        )
        context.add_init_script(REPORT_VIOLATIONS)

    def watch(self, page) -> None:
        """Listen to `page`'s console, script errors and responses."""
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("response", self._response)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def _response(self, response) -> None:
        if response.url.startswith("data:"):
            return
        self.responses.append((response.url, response.status, response.all_headers()))


@pytest.mark.browser
def test_no_page_violates_the_policy_in_chromium(rebinding_browser, doorstep, tmp_path):
    from playwright.sync_api import expect

    with serving(doorstep, tmp_path / "data") as server:
        # Narrow, so the navbar's toggler (a data: SVG in Bootstrap's stylesheet) shows.
        context = rebinding_browser.new_context(viewport={"width": 390, "height": 844})
        watch = PageWatch(context, server.base_url)
        page = context.new_page()
        page.set_default_timeout(10_000)
        watch.watch(page)
        base = server.base_url
        visited = []

        def visit(path: str, status: int = 200) -> None:
            response = page.goto(base + path.lstrip("/"))
            assert response is not None and response.status == status, path
            page.evaluate("1")  # a round trip: reports sent meanwhile have arrived
            visited.append(path)

        page.goto(server.url)
        expect(page.get_by_role("heading", name="Doorstep")).to_be_visible()
        # The policy bites, and the report reaches the test: an inline style is refused.
        refused = page.evaluate(
            """() => new Promise((resolve) => {
                document.addEventListener("securitypolicyviolation",
                    (event) => resolve(event.effectiveDirective), {once: true});
                document.body.setAttribute("style", "color: red");
            })"""
        )
        page.evaluate("1")
        assert refused == "style-src-attr"
        assert [seen["directive"] for seen in watch.violations] == ["style-src-attr"]
        watch.violations.clear()
        watch.console.clear()

        visit("/")
        visit("/recover")
        visit("/login")
        page.get_by_label("Remember me").check()  # the tick is a data: SVG too
        visit("/register")
        # Invalid fields get Bootstrap's warning icon, another data: SVG.
        fill(page, {"Username": "Mei", "Email": "not an email", "Password": "short"})
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_text("Enter a valid email address")).to_be_visible()
        fill(page, {"Email": "mei@example.com", "Password": PASSWORD, "Confirm password": PASSWORD})
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", name="Save your recovery code")).to_be_visible()
        page.get_by_role("button", name="I have saved my recovery code").click()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Remember me").check()
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Welcome back, Mei!")).to_be_visible()
        for path in ACCOUNT_PAGES[:-1]:  # the export is a download, not a page
            visit(path)
        visit("/no/such/page", 404)

        # The guard's own pages, in a tab without the token cookie and from a foreign host.
        stranger = context.browser.new_context()
        watch_stranger = PageWatch(stranger, base)
        tab = stranger.new_page()
        watch_stranger.watch(tab)
        assert tab.goto(base).status == 403
        expect(tab.get_by_role("heading", name="Forbidden")).to_be_visible()
        tab.evaluate("1")
        rebound = base.replace("127.0.0.1", REBOUND_HOST)
        assert tab.goto(rebound).status == 400
        expect(tab.get_by_role("heading", name="Bad request")).to_be_visible()
        tab.evaluate("1")

        for seen in (watch, watch_stranger):
            assert seen.violations == []
            assert seen.console == []
            assert seen.errors == []
            assert seen.responses, "no responses seen"
            for url, status, headers in seen.responses:
                assert security_problems(headers) == [], (url, status)
        documents = {
            url
            for url, _, headers in watch.responses
            if "text/html" in headers.get("content-type", "")
        }
        assert {base + path.lstrip("/") for path in visited} <= documents
        stranger.close()
        context.close()


# --- In the Qt window: pywebview's own additions pass too ----------------------------------

# Records violations where they survive the page: in the tab's sessionStorage.
KEEP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  const seen = JSON.parse(sessionStorage.getItem("csp") || "[]");
  seen.push(`${location.pathname} ${event.effectiveDirective} ${event.blockedURI}`);
  sessionStorage.setItem("csp", JSON.stringify(seen));
});
"""
# True once pywebview has added its style to the page (it does so after each load).
PYWEBVIEW_STYLED = (
    "document.readyState === 'complete' && [...document.head.querySelectorAll('style')]"
    ".some((style) => style.textContent.includes('user-select'))"
)
# One turn of the event loop: a violation queued meanwhile has been reported.
NEXT_TASK = "new Promise((resolve) => setTimeout(resolve, 0))"


@pytest.mark.window
def test_no_page_violates_the_policy_in_the_window(doorstep, tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("the window tests drive Qt's xcb backend under Xvfb (Linux)")
    debug_port = free_port()
    with xvfb() as display:
        env = {
            "DISPLAY": display,
            "QTWEBENGINE_REMOTE_DEBUGGING": str(debug_port),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        }
        running = launch(doorstep, ["--data-dir", str(tmp_path / "data")], tmp_path, env=env)
        try:
            state = wait_for(lambda: loaded_page(debug_port, LOCAL), 90, "the window's page")
            base = state["url"].split("?")[0].rstrip("/")
            (target,) = [t for t in cdp_targets(debug_port) if t["url"].startswith(LOCAL)]
            with CDPSession(target["webSocketDebuggerUrl"], timeout=20) as cdp:
                cdp.call("Page.enable")
                cdp.call("Page.addScriptToEvaluateOnNewDocument", source=KEEP_VIOLATIONS)
                for path in ["/", "/login", "/register", "/recover", "/no/such/page"]:
                    cdp.evaluate(f"location.href = {json.dumps(base + path)}")
                    wait_for(
                        lambda path=path: cdp.evaluate(
                            f"location.pathname === {json.dumps(path)} && {PYWEBVIEW_STYLED}"
                        ),
                        20,
                        f"{path} with pywebview's style",
                    )
                    cdp.evaluate(NEXT_TASK)
                    # Allowed by its hash: applied, and nothing reported.
                    assert cdp.evaluate("getComputedStyle(document.body).userSelect") == "none"
                    assert cdp.evaluate("sessionStorage.getItem('csp')") is None, path
        finally:
            running.kill()
