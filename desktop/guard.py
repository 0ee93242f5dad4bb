"""The WSGI middleware that keeps the embedded server to the one client holding its token."""

from __future__ import annotations

import hmac
import html
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from werkzeug.sansio.http import parse_cookie

from desktop.headers import NO_STORE, SECURITY_HEADERS, security_headers
from desktop.languages import DEFAULT_LOCALE, HTML_LANG, N_, environ_locale, translations

TOKEN_PARAM = "token"

# Self-contained on purpose: a foreign Host fails before Flask routes anything, so these pages
# cannot use url_for, templates or the request context (a layout page would turn 400 into 500).
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;"
    "color:#212529}h1{font-size:1.5rem}"
)
_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title} · Doorstep</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{style}</style></head>
<body><main><h1>{title}</h1><p>{message}</p></main></body></html>
"""
# The policy allows this page's own <style> by its hash, and no other inline style.
_PAGE_HEADERS = security_headers(inline_styles=(_STYLE,))


def cookie_name(port: int) -> str:
    """Return the token cookie's name, per port: cookies do not separate ports, names do."""
    return f"doorstep_token_{port}"


def error_page(
    status: str, title: str, message: str, locale: str = DEFAULT_LOCALE
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Return a small self-contained HTML error response as (status, headers, body); `title`
    and `message` are already in `locale`, which <html lang> names."""
    body = _PAGE.format(
        title=html.escape(title),
        message=html.escape(message),
        style=_STYLE,
        lang=HTML_LANG[locale],
    ).encode("utf-8")
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", NO_STORE),
        *_PAGE_HEADERS,
    ]
    return status, headers, body


StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class AccessGuard:
    """Answer only requests for an allowed Host that carry the launch's token or its cookie."""

    def __init__(self, app: WSGIApp, token: str, port: int, hosts: Iterable[str] = ()) -> None:
        """Wrap `app`; `hosts` are extra host names as written in URLs (IPv6 in brackets)."""
        self.app = app
        self._token = token.encode("ascii")
        self.port = port
        self.cookie = cookie_name(port)
        # Against DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host.
        names = {"127.0.0.1", "localhost", *hosts}
        self.allowed_hosts = {f"{name}:{port}".lower() for name in names}

    def _valid(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        try:
            return hmac.compare_digest(candidate.encode("ascii"), self._token)
        except UnicodeEncodeError:
            return False

    def _cookie_valid(self, environ: dict[str, Any]) -> bool:
        # Werkzeug's parser reads the header as browsers write it and skips what it cannot
        # read, where SimpleCookie gave up on the whole header: any other program on
        # 127.0.0.1 (cookies do not separate ports) can set a cookie like json={"a":1}.
        # The raw latin-1 text, not decoded as UTF-8: a stray byte must not fail either.
        cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
        # Any of them: a stale cookie of the same name on another path is sent as well.
        return any(self._valid(value) for value in cookies.getlist(self.cookie))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Check Host, then token or cookie; pass allowed requests on to the app."""
        host = environ.get("HTTP_HOST", "").lower()
        if host not in self.allowed_hosts:
            return self._error(
                environ,
                start_response,
                "400 Bad Request",
                N_("Bad request"),
                N_(
                    "This address is not served here. Open Doorstep from its own window "
                    "or from the address that 'doorstep serve' printed."
                ),
            )

        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        offered = [value for key, value in query if key == TOKEN_PARAM]
        if offered:
            if not self._valid(offered[-1]):
                return self._forbidden(environ, start_response)
            return self._redirect_without_token(environ, query, start_response)

        if not self._cookie_valid(environ):
            return self._forbidden(environ, start_response)
        return self.app(environ, start_response)

    def _redirect_without_token(
        self, environ: dict[str, Any], query: list[tuple[str, str]], start_response: StartResponse
    ) -> Iterable[bytes]:
        # Swap the token in the address for a cookie, so it leaves no trace in history or logs.
        path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")) or "/"
        # WSGI hands the path over as latin-1 decoded bytes; re-encode before quoting.
        location = quote(path.encode("latin-1"), safe="/:@!$&'()*+,;=-._~")
        rest = [(key, value) for key, value in query if key != TOKEN_PARAM]
        if rest:
            location += "?" + urlencode(rest)
        cookie = f"{self.cookie}={self._token.decode()}; Path=/; HttpOnly; SameSite=Strict"
        start_response(
            "302 Found",
            [
                ("Location", location),
                ("Set-Cookie", cookie),
                ("Cache-Control", NO_STORE),
                ("Content-Length", "0"),
                *SECURITY_HEADERS,
            ],
        )
        return [b""]

    def _forbidden(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return self._error(
            environ,
            start_response,
            "403 Forbidden",
            N_("Forbidden"),
            N_(
                "This Doorstep server only answers the window or browser it was opened in. "
                "Use the full address (with its token) that Doorstep printed when it started."
            ),
        )

    @staticmethod
    def _error(
        environ: dict[str, Any],
        start_response: StartResponse,
        status: str,
        title: str,
        message: str,
    ) -> Iterable[bytes]:
        """Answer with the error page in the request's language (`title`, `message`: English)."""
        locale = environ_locale(environ)
        _ = translations(locale).gettext
        status, headers, body = error_page(status, _(title), _(message), locale)
        start_response(status, headers)
        return [body]
