"""The security headers on every response, defined once, without importing Flask.

The webapp adds them in an after_request hook (webapp/security.py); the token guard and the
start-up failure page (desktop/guard.py) answer before Flask has routed anything, or when it
could not load at all, so they import the same values from here. docs/security.md says why
each is there.
"""

from __future__ import annotations

import base64
import hashlib

# Doorstep's pages load only their own stylesheets, script and images, and post only to
# themselves: nothing inline (no 'unsafe-inline' anywhere), no plugins, no <base>, no frames.
CSP_DIRECTIVES = {
    "default-src": "'self'",
    # Bootstrap's stylesheet draws the checkbox tick and the navbar toggler as data: SVGs.
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

# pywebview adds this <style> to every page in the window, so that text cannot be selected
# there, as in a native window (webview/js/customize.js; text_select=False, its default).
# Allowed by its hash alone; tests/test_security_headers.py checks it against pywebview's.
PYWEBVIEW_STYLE = (
    "body {-webkit-user-select: none; -khtml-user-select: none; -ms-user-select: none; "
    "user-select: none; cursor: default;}"
)

# Whatever the policy, every response also carries these.
STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Cross-Origin-Opener-Policy": "same-origin",
}

# On every page a logged-in user may see: nothing private is kept in a cache on disk.
NO_STORE = "no-store"


def content_security_policy(inline_styles: tuple[str, ...] = ()) -> str:
    """Return the Content-Security-Policy value, allowing these inline <style> texts too."""
    styles = (PYWEBVIEW_STYLE, *inline_styles)
    directives = {**CSP_DIRECTIVES, "style-src": " ".join(["'self'", *map(style_hash, styles)])}
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def style_hash(css: str) -> str:
    """Return the CSP source that allows exactly this inline <style> text."""
    digest = hashlib.sha256(css.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def security_headers(inline_styles: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Return the security headers as a WSGI header list, allowing these inline styles."""
    return [
        ("Content-Security-Policy", content_security_policy(inline_styles)),
        *STATIC_HEADERS.items(),
    ]


# The webapp's own pages: everything from 'self' (and pywebview's one style).
SECURITY_HEADERS = tuple(security_headers())
