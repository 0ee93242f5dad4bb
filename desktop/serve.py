"""`doorstep serve`: the embedded server without a window, for testers and browsers."""

from __future__ import annotations

import ipaddress
import logging
import socket
from pathlib import Path

from desktop import system
from desktop.fatal import tell_user
from desktop.server import (
    WILDCARD_HOSTS,
    EmbeddedServer,
    PortInUseError,
    bind_socket,
    new_token,
    refusal_message,
    url_host,
)
from desktop.signals import StopSignals

log = logging.getLogger("doorstep.serve")

# How long `serve` waits for the webapp before giving up.
READY_TIMEOUT = 60.0


def is_loopback(host: str) -> bool:
    """Tell whether only this machine can reach `host` (a loopback address or localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: whatever it resolves to, treat it as reachable
        return False


def host_names(host: str) -> tuple[str, ...]:
    """Return the Host names the guard allows besides 127.0.0.1 and localhost for --host."""
    names = [url_host(host)]
    if not is_loopback(host):
        # Other machines may reach it by this machine's name as well as by the address.
        names.append(socket.gethostname())
    return tuple(names)


def exposure_warning(host: str, port: int) -> str | None:
    """Return the one-line warning for a --host other machines can reach, else None."""
    if is_loopback(host):
        return None
    where = "every address of this machine" if host in WILDCARD_HOSTS else url_host(host)
    return (
        f"warning: serving on {where}, port {port}, to any machine that can reach it, over "
        "unencrypted plain HTTP: the token, passwords and pages can be read on the way"
    )


def run(
    host: str, port: int, data_dir: Path, log_path: Path | None, open_browser: bool = False
) -> int:
    """Serve until SIGINT/SIGTERM; the first stdout line is the URL. Return the exit status."""
    signals = StopSignals().install()
    try:
        try:
            sock = bind_socket(host, port)
        except PortInUseError as exc:
            hint = " (is another Doorstep running? try --port 0)" if port else ""
            tell_user(f"{exc.strerror}{hint}")
            log.error("%s", exc.strerror)
            return 2
        token = new_token()
        server = EmbeddedServer(
            sock, data_dir, token, host_names=host_names(host), log_path=log_path
        )
        server.start()
        if not server.ready.wait(READY_TIMEOUT) or server.error is not None:
            refused = refusal_message(server.error)
            problem = (
                refused or f"the webapp failed to start: {server.error}. See the log: {log_path}"
            )
            tell_user(problem)
            server.stop()
            return 1

        warning = exposure_warning(host, server.port)
        if warning:
            tell_user(warning)
            log.warning("%s", warning)
        url = f"http://{url_host(host)}:{server.port}/?token={token}"
        print(f"Doorstep is running at {url}", flush=True)
        log.info("Serving for testers on %s:%s", host, server.port)
        if open_browser and not system.open_in_browser(url):
            tell_user("could not open a browser; open the URL above")

        signum = signals.wait()
        log.info("Stopping on signal %s", signum)
        stopped = server.stop()
        return 0 if stopped else 1
    finally:
        signals.uninstall()
