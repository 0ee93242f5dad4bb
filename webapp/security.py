"""Security headers on every response of the webapp: a small after_request hook.

Why a hook and not Flask-Talisman: Talisman's defaults are made for a public HTTPS site
(a redirect to https://, HSTS, secure-only session cookies), each of which would have to be
switched off for a server on http://127.0.0.1; it would be one more dependency in the wheel
and the frozen bundle; and it cannot reach the pages the token guard and the start-up
failure page give before Flask routes anything, so the values would live in two places
anyway. A dozen lines over the values in desktop/headers.py, shared with those pages, is
less to audit. docs/security.md has the policy and the reasons for each header.
"""

from __future__ import annotations

from flask import Flask, Response, request

from desktop.headers import NO_STORE, SECURITY_HEADERS


def register(app: Flask) -> None:
    """Add the security headers to every response `app` gives."""
    app.after_request(add_security_headers)


def add_security_headers(response: Response) -> Response:
    """Set the security headers, and no-store on everything but static files."""
    # Set, never merged: no view can loosen them by accident.
    for name, value in SECURITY_HEADERS:
        response.headers[name] = value
    # Every page and download may show a logged-in user's data or a form's CSRF token; only
    # the static files are the same for everyone. Deciding by endpoint, not by the current
    # user, keeps a database look-up off the static files' path.
    if request.endpoint != "static":
        response.headers["Cache-Control"] = NO_STORE
    return response
