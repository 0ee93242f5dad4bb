"""The embedded server: waitress on a socket bound early, the webapp loaded in its thread."""

from __future__ import annotations

import gc
import logging
import os
import secrets
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waitress.server import BaseWSGIServer

log = logging.getLogger("doorstep.server")

# Seconds stop() waits for in-flight requests and the server thread.
STOP_TIMEOUT = 1.5

# waitress's limits (docs/security.md, "The embedded server"). Twice the 8 logins at
# once: logins waiting for a hash slot (webapp/hashing.py caps them at one per core, at most
# 8) hold their threads, and at least as many are left for pages meanwhile. An idle thread
# costs next to nothing.
THREADS = 16
# Chromium opens at most 6 connections to a host, so the window and a browser or two stay
# far below this; each connection may buffer a body of up to MAX_CONTENT_LENGTH, so this also
# bounds that memory (64 MiB). Beyond it waitress stops accepting: a new connection waits in
# the listen backlog, it is not refused.
CONNECTION_LIMIT = 64
# waitress's default is 120 s: a connection that sends nothing (or half a request) for 30 s
# is closed, so trickling clients cannot hold the connections for long. Browsers and the
# window reconnect for their next request; the check runs every CLEANUP_INTERVAL seconds.
CHANNEL_TIMEOUT = 30
CLEANUP_INTERVAL = 10
# waitress checks a chunked body against the limit after each read (8 KiB at most), so one
# can go that far past it before it is cut; memory buffers are kept this much larger.
READ_MARGIN = 64 * 1024
# When the webapp failed to load there is no MAX_CONTENT_LENGTH to read, and the failure
# page reads no body at all.
FAILURE_MAX_BODY = 64 * 1024
# The webapp's own default (webapp/config.py), for a MAX_CONTENT_LENGTH set to none.
DEFAULT_MAX_BODY = 1024 * 1024


def new_token() -> str:
    """Return a fresh random access token for one launch."""
    return secrets.token_urlsafe(32)


class PortInUseError(OSError):
    """The --port asked for cannot be bound."""


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """Bind and listen on host:port (0 lets the OS pick); raise PortInUseError if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if os.name == "posix":
        # Lets a relaunch bind a fixed port still in TIME_WAIT; on Windows the same option
        # would let two servers share a port, so it stays off there.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUseError(
            exc.errno, f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    # Listening now, before Flask is even imported: the window's first request waits in the
    # kernel's backlog until waitress starts accepting, so the GUI need not wait for the app.
    sock.listen(128)
    return sock


# The --host values that mean every address of the machine.
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def url_host(host: str) -> str:
    """Return how `host` is written in a URL a local client can open."""
    if host in WILDCARD_HOSTS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def load_webapp(data_dir: Path) -> Any:
    """Import the webapp and build it on `data_dir`, its database upgraded (the slow part)."""
    # Importing makes objects that live as long as the process: collecting garbage meanwhile
    # is wasted work, about a tenth of the load (docs/startup.md).
    gc.disable()
    try:
        from webapp import create_app
        from webapp.database import prepare_database

        app = create_app({"DATA_DIR": str(data_dir)})
        prepare_database(app)
    finally:
        gc.freeze()  # and later collections need not look at them again
        gc.enable()
    return app


def render_landing_page(app: Any) -> None:
    """Render the landing page once, unseen, so its templates are compiled before it is asked for."""
    try:
        app.test_client().get("/")
    except Exception:  # the real request will show (and log) whatever is wrong
        log.exception("Rendering the landing page ahead of time failed")


def dispose_database(app: Any) -> None:
    """Close the webapp's pooled database connections."""
    from webapp.extensions import db

    with app.app_context():
        db.engine.dispose()


def _failure_app(log_path: Path | None, error: BaseException) -> Any:
    from desktop.fatal import sentence
    from desktop.guard import error_page
    from desktop.languages import N_, environ_locale, translations

    # The reason a database was refused stays in English: the webapp that words it in the
    # user's language could not start (docs/i18n.md).
    refused = refusal_message(error)
    parts: list[tuple[str, dict[str, str]]]  # English messages and their values
    if refused is not None:
        status, title = "503 Service Unavailable", N_("Doorstep cannot open your data")
        # A sentence on a page of its own, and what to do next: the run ends with the window.
        parts = [(sentence(refused), {}), (N_("Close this window to quit Doorstep."), {})]
    else:
        status, title = "500 Internal Server Error", N_("Doorstep could not start")
        parts = [(N_("Something went wrong while starting Doorstep."), {})]
        if log_path:
            parts.append((N_("Details are in the log file %(path)s."), {"path": str(log_path)}))

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        locale = environ_locale(environ)
        gettext = translations(locale).gettext
        message = " ".join(
            gettext(text) % values if values else gettext(text) for text, values in parts
        )
        status_line, headers, body = error_page(status, gettext(title), message, locale)
        start_response(status_line, headers)
        return [body]

    return app


def make_waitress_server(wsgi: Any, sock: socket.socket, max_body: int) -> BaseWSGIServer:
    """Return a waitress server for `wsgi` on `sock`, refusing bodies over `max_body` bytes."""
    from waitress.server import BaseWSGIServer, create_server

    # waitress refuses a Content-Length >= its limit, Flask one > MAX_CONTENT_LENGTH: + 1
    # makes them the same limit. Refused from the declared length (or, chunked, as soon as
    # the limit is passed), before the guard: a body too large for the webapp is never read.
    limit = max_body + 1
    server = create_server(
        wsgi,
        sockets=[sock],
        threads=THREADS,
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=CHANNEL_TIMEOUT,
        cleanup_interval=CLEANUP_INTERVAL,
        max_request_body_size=limit,
        # Bodies within the limit stay in memory (at most CONNECTION_LIMIT of them), so
        # nothing a client sends is ever written to a temporary file.
        inbuf_overflow=limit + READ_MARGIN,
        ident="Doorstep",
        clear_untrusted_proxy_headers=True,
    )
    assert isinstance(server, BaseWSGIServer)  # one socket: one server, not a MultiSocketServer
    # waitress answers malformed and oversized requests itself; those answers get the same
    # security headers as every other.
    server.channel_class = _headed_channel_class()
    return server


def _headed_channel_class() -> Any:
    from waitress.channel import HTTPChannel
    from waitress.task import ErrorTask

    from desktop.headers import SECURITY_HEADERS

    class HeadedErrorTask(ErrorTask):
        def execute(self) -> None:
            self.response_headers = [*self.response_headers, *SECURITY_HEADERS]
            super().execute()

    class HeadedChannel(HTTPChannel):
        error_task_class = HeadedErrorTask

    return HeadedChannel


def refusal_message(error: BaseException | None) -> str | None:
    """Return the message of a database the webapp refused to open, else None."""
    database = sys.modules.get("webapp.database")  # loaded, if it is what refused
    if database is not None and isinstance(error, database.DatabaseRefused):
        return str(error)
    return None


class EmbeddedServer:
    """waitress serving the guarded webapp on an already-listening socket, in its own thread."""

    def __init__(
        self,
        sock: socket.socket,
        data_dir: Path,
        token: str,
        host_names: tuple[str, ...] = (),
        log_path: Path | None = None,
    ) -> None:
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        self.data_dir = data_dir
        self.token = token
        self.host_names = host_names
        self.log_path = log_path
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._stopping = False
        self._server: Any = None
        self._app: Any = None
        # Not a daemon: the process waits for it, so nothing dies mid-write at exit.
        self._thread = threading.Thread(target=self._run, name="doorstep-server")

    def start(self) -> None:
        """Load the webapp and start serving, in the background."""
        self._thread.start()

    def _run(self) -> None:
        try:
            self._serve()
        except Exception as exc:  # e.g. waitress itself missing: fail loudly, never hang
            log.exception("The server failed")
            self.error = self.error or exc
            self.sock.close()
        finally:
            self.ready.set()
        if self._app is not None:
            dispose_database(self._app)
        log.info("Server stopped")

    def _serve(self) -> None:
        from desktop.guard import AccessGuard

        max_body = FAILURE_MAX_BODY
        try:
            app = load_webapp(self.data_dir)
            render_landing_page(app)
            self._app = app
            # None (no limit, to Flask) from a config.json still leaves the server one.
            max_body = app.config["MAX_CONTENT_LENGTH"] or DEFAULT_MAX_BODY
            wsgi = AccessGuard(self._app, self.token, self.port, self.host_names)
        except Exception as exc:  # shown in the window and logged, instead of a blank page
            if refusal_message(exc) is None:
                log.exception("The webapp failed to start")
            else:
                log.error("%s", exc)
            self.error = exc
            wsgi = _failure_app(self.log_path, exc)

        server = make_waitress_server(wsgi, self.sock, max_body)
        with self._lock:
            self._server = server
            stopping = self._stopping
            self.ready.set()
        if not stopping:
            log.info("Serving on %s:%s", *self.sock.getsockname()[:2])
            server.run()
        else:
            self._close_all()
        # In-flight requests get a moment to finish; the loop no longer runs. (waitress adds
        # the timeout to time.time(): a float is fine, though its stubs say int.)
        server.task_dispatcher.shutdown(timeout=STOP_TIMEOUT)  # type: ignore[arg-type]

    def _close_all(self) -> None:
        # waitress' close() only closes the listener: keep-alive channels would keep the loop
        # (and the process) alive, so close every dispatcher in its map. This runs in the
        # server's own loop thread (via the trigger), so nothing races the loop.
        from waitress import wasyncore

        wasyncore.close_all(self._server._map, ignore_all=True)

    def stop(self, timeout: float = STOP_TIMEOUT * 2) -> bool:
        """Stop serving, close every connection and dispose the database; True once stopped."""
        with self._lock:
            first_call = not self._stopping
            self._stopping = True
            server = self._server
        # Only the loop closes the trigger, and only after this first pull; pulling a closed
        # trigger would write into whatever file reused its descriptor.
        if first_call and server is not None and self._thread.is_alive():
            server.trigger.pull_trigger(self._close_all)
        if self._thread.is_alive():
            self._thread.join(timeout)
        elif server is None:
            self.sock.close()
        return not self._thread.is_alive()
