"""Helpers for the tests (fixtures live in tests/conftest.py), one module per concern.

- processes: run Doorstep as a child process, wait for conditions, find free ports;
- bundle: the PyInstaller bundle in dist/ and the marks that run a test against it too;
- x11: Xvfb, and finding, measuring, photographing and closing windows on it;
- devtools: read the page inside the Qt window over QtWebEngine's remote-debugging port;
- forms: use Doorstep's forms over HTTP (a cookie-keeping client, CSRF tokens, auth actions);
- data: the test accounts, and databases as older and newer Doorsteps left them;
- postgres: a throwaway PostgreSQL server;
- artifacts: where screenshots are kept for people to look at.

Nothing here sleeps to synchronise: every wait polls a condition until a deadline.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
