"""The embedded server: waitress on a socket bound early, the webapp loaded in its thread."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger("doorstep.server")

# Seconds stop() waits for in-flight requests and the server thread.
STOP_TIMEOUT = 1.5


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


def url_host(host: str) -> str:
    """Return how `host` is written in a URL a local client can open."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def load_webapp(data_dir: Path) -> Any:
    """Import the webapp and build it on `data_dir` (the slow part of start-up)."""
    from webapp import create_app

    return create_app({"DATA_DIR": str(data_dir)})


def render_landing_page(app: Any) -> None:
    """Render the landing page once, unseen, so its templates are compiled before it is asked for."""
    try:
        app.test_client().get("/")
    except Exception:  # the real request will show (and log) whatever is wrong
        log.exception("Rendering the landing page ahead of time failed")


def load_database(app: Any) -> None:
    """Open the webapp's database (and import SQLAlchemy) now instead of on first use."""
    from webapp.extensions import db

    try:
        db.warm_up(app)
    except Exception:  # the page that needs the database will show the error
        log.exception("Opening the database ahead of time failed")


def dispose_database(app: Any) -> None:
    """Close the webapp's pooled database connections."""
    from webapp.extensions import db

    db.dispose(app)


def _failure_app(log_path: Path | None) -> Any:
    from desktop.guard import error_page

    where = f" Details are in the log file {log_path}." if log_path else ""
    status, headers, body = error_page(
        "500 Internal Server Error",
        "Doorstep could not start",
        "Something went wrong while starting Doorstep." + where,
    )

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(status, headers)
        return [body]

    return app


class EmbeddedServer:
    """waitress serving the guarded webapp on an already-listening socket, in its own thread."""

    def __init__(
        self,
        sock: socket.socket,
        data_dir: Path,
        token: str,
        host_names: tuple[str, ...] = (),
        log_path: Path | None = None,
        database: Literal["first", "alongside", "later"] = "first",
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
        # When to open the database (SQLAlchemy takes a while to import): before serving,
        # in the background as soon as serving starts, or when database_soon() says so (or
        # a page needs it). An anonymous landing page needs no database.
        self.database = database
        self._database_loader: threading.Thread | None = None
        # Not a daemon: the process waits for it, so nothing dies mid-write at exit.
        self._thread = threading.Thread(target=self._run, name="doorstep-server")

    def start(self) -> None:
        """Load the webapp and start serving, in the background."""
        self._thread.start()

    def database_soon(self) -> None:
        """Open the webapp's database in the background now (once), ahead of first use."""
        with self._lock:
            if self._app is None or self._database_loader is not None or self._stopping:
                return
            self._database_loader = threading.Thread(
                target=load_database, args=(self._app,), name="doorstep-database"
            )
            self._database_loader.start()

    def database_used(self) -> bool:
        """Whether a page has used the webapp's database yet."""
        from webapp.extensions import db

        return self._app is not None and db.used(self._app)

    def _run(self) -> None:
        try:
            self._serve()
        except Exception as exc:  # e.g. waitress itself missing: fail loudly, never hang
            log.exception("The server failed")
            self.error = self.error or exc
            self.sock.close()
        finally:
            self.ready.set()
        with self._lock:
            loader = self._database_loader
        if loader is not None:
            loader.join()  # before disposing: it may still be opening connections
        if self._app is not None:
            dispose_database(self._app)
        log.info("Server stopped")

    def _serve(self) -> None:
        from desktop.guard import AccessGuard

        try:
            app = load_webapp(self.data_dir)
            render_landing_page(app)
            if self.database == "first":
                load_database(app)
            self._app = app
            wsgi = AccessGuard(self._app, self.token, self.port, self.host_names)
        except Exception as exc:  # shown in the window and logged, instead of a blank page
            log.exception("The webapp failed to start")
            self.error = exc
            wsgi = _failure_app(self.log_path)

        from waitress.server import create_server

        server = create_server(
            wsgi,
            sockets=[self.sock],
            threads=4,
            ident="Doorstep",
            clear_untrusted_proxy_headers=True,
        )
        with self._lock:
            self._server = server
            stopping = self._stopping
            self.ready.set()
        if not stopping:
            log.info("Serving on %s:%s", *self.sock.getsockname()[:2])
            if self.database == "alongside":
                self.database_soon()
            server.run()
        else:
            self._close_all()
        # In-flight requests get a moment to finish; the loop no longer runs.
        server.task_dispatcher.shutdown(timeout=STOP_TIMEOUT)

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
