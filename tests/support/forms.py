"""Doorstep's forms over HTTP: a cookie-keeping client for a real server, and auth actions
for Flask's test client; both find the CSRF token a rendered form carries."""

from __future__ import annotations

import copy
import http.cookiejar
import re
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from typing import Any

from tests.support.data import PASSWORD

RECOVERY_CODE = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}(?:-[0-9A-HJKMNP-TV-Z]{4}){3}\b")


def recovery_code_from(html: str) -> str:
    """Return the recovery code a page shows."""
    match = re.search(r'data-testid="recovery-code"><code id="recovery-code">([^<]+)<', html)
    assert match, "no recovery code on the page"
    assert RECOVERY_CODE.fullmatch(match.group(1)), match.group(1)
    return match.group(1)


def csrf_token_from(html: str) -> str:
    """Return the CSRF token a rendered form carries."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


def recover(client: Any, code: str, email: str, password: str, confirm: str | None = None):
    """Post the /recover form on a Flask test client."""
    return client.post(
        "/recover",
        data={
            "email": email,
            "recovery_code": code,
            "password": password,
            "confirm": password if confirm is None else confirm,
        },
    )


class AuthActions:
    """Registers, logs in and logs out through the real forms, on a Flask test client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def register(self, username="Mei", email="mei@example.com", password=PASSWORD, confirm=None):
        """Post the registration form."""
        return self._client.post(
            "/register",
            data={
                "username": username,
                "email": email,
                "password": password,
                "confirm": password if confirm is None else confirm,
            },
        )

    def saved_recovery_code(self):
        """Press "I have saved my recovery code" on the page a new code was shown on."""
        return self._client.post("/recovery-code/saved")

    def login(self, email="mei@example.com", password=PASSWORD, remember=False, next=None):
        """Post the login form."""
        data = {"email": email, "password": password}
        if remember:
            data["remember"] = "y"
        url = "/login" if next is None else f"/login?next={next}"
        return self._client.post(url, data=data)

    def logout(self):
        """Press the navbar's Log out button."""
        return self._client.post("/logout")


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

    def copy(self) -> Browser:
        """A second client holding copies of this one's cookies, as a thief would."""
        thief = Browser()
        for cookie in self.jar:
            thief.jar.set_cookie(copy.copy(cookie))
        return thief

    def register(self, base: str, username: str, email: str, password: str) -> str:
        """Create an account through the form, continue past its recovery code, and return
        the code."""
        self.get(base + "register")
        fields = {"username": username, "email": email, "password": password, "confirm": password}
        code = recovery_code_from(self.post(base + "register", fields))
        self.post(base + "recovery-code/saved", {})
        return code

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
