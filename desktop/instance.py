"""One Doorstep window per data folder: a lock that dies with its process, and "show yourself".

The first window process of a data folder holds an OS-level lock on `instance.lock` in it for
as long as it runs; the OS drops the lock when the process ends, however it ends (SIGKILL
included), so a crash never leaves a stale "already running". That process also listens on a
loopback port named, with a random secret, in `instance.json` (owner-only, like the folder).
A later launch that cannot take the lock sends the secret there, the first window comes to
the front, and the later launch exits. The listener lives in the window process rather than
behind the server's HTTP endpoint: the server is a child process with no hold on the window,
and the listener is up long before the webapp has loaded.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from desktop.system import open_owner_only, write_private_text

log = logging.getLogger("doorstep.instance")

LOCK_NAME = "instance.lock"
CHANNEL_NAME = "instance.json"
SHOW_REQUEST = b"show"
ANSWER = b"ok\n"
# A second launch must be done within 2 s; this leaves it time to start and to exit.
CLAIM_TIMEOUT = 1.5
ATTEMPT_TIMEOUT = 0.5
MAX_REQUEST = 256


class AlreadyRunningNoAnswer(Exception):
    """Another process holds the data folder's lock but did not come to the front."""


class InstanceLock:
    """The data folder's lock, held by this process until release() or its end."""

    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self._fd = fd
        self._listener: socket.socket | None = None

    @classmethod
    def try_acquire(cls, data_dir: Path) -> InstanceLock | None:
        """Take the data folder's lock without waiting; None when another process holds it."""
        fd = open_owner_only(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT)
        if not _lock(fd):
            os.close(fd)
            return None
        # Whatever a crashed holder left would send a later launch to a dead port.
        with contextlib.suppress(FileNotFoundError):
            (data_dir / CHANNEL_NAME).unlink()
        return cls(data_dir, fd)

    def listen(self, on_show: Callable[[], None]) -> None:
        """Answer "show yourself" from later launches by calling `on_show` (in a thread)."""
        # Started only once the server child is forked: a fork must not copy a running thread.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener = listener
        secret = secrets.token_urlsafe(32)
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(4)
            channel = {"port": listener.getsockname()[1], "secret": secret, "pid": os.getpid()}
            write_private_text(self.data_dir / CHANNEL_NAME, json.dumps(channel))
        except OSError:
            # The window matters more: later launches then say it does not respond.
            log.exception("Could not open the instance channel")
            return
        threading.Thread(
            target=_serve, args=(listener, secret, on_show), name="doorstep-instance", daemon=True
        ).start()

    def release(self) -> None:
        """Stop listening and drop the lock (the process's end drops it too)."""
        if self._listener is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.data_dir / CHANNEL_NAME).unlink()
            # shutdown wakes the thread blocked in accept(); close alone may not on Linux.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = -1


def claim(data_dir: Path, timeout: float = CLAIM_TIMEOUT) -> InstanceLock | None:
    """Take the data folder's lock, or bring its window to the front and return None.

    Raises AlreadyRunningNoAnswer when the holder neither answers nor goes away in time.
    """
    deadline = time.monotonic() + timeout
    while True:
        lock = InstanceLock.try_acquire(data_dir)
        if lock is not None:
            return lock
        # The holder may still be starting (no channel yet) or be closing (lock soon free).
        if ask_to_show(data_dir):
            return None
        if time.monotonic() >= deadline:
            raise AlreadyRunningNoAnswer(str(data_dir))
        time.sleep(0.05)  # a retry interval, not synchronisation: both conditions are re-read


def ask_to_show(data_dir: Path, timeout: float = ATTEMPT_TIMEOUT) -> bool:
    """Ask the window holding `data_dir` to come to the front; tell whether it said it will."""
    try:
        channel = json.loads((data_dir / CHANNEL_NAME).read_text(encoding="utf-8"))
        port, secret = int(channel["port"]), str(channel["secret"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(secret.encode() + b" " + SHOW_REQUEST + b"\n")
            conn.shutdown(socket.SHUT_WR)
            return _read_upto(conn, len(ANSWER)) == ANSWER
    except OSError:
        return False


def _serve(listener: socket.socket, secret: str, on_show: Callable[[], None]) -> None:
    """Accept "show yourself" requests until the listener is closed."""
    expected = secret.encode() + b" " + SHOW_REQUEST
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return  # closed by release()
        with conn:
            try:
                conn.settimeout(ATTEMPT_TIMEOUT)
                request = _read_upto(conn, MAX_REQUEST).rstrip(b"\n")
                # Any local program can connect; only one that read the owner-only file knows this.
                if not hmac.compare_digest(request, expected):
                    log.warning("Ignored a request on the instance channel without the secret")
                    continue
                log.info("Another launch asked for this window: bringing it to the front")
                on_show()
                conn.sendall(ANSWER)
            except Exception:  # the listener must outlive any one bad connection
                log.exception("Instance channel request failed")


def _read_upto(conn: socket.socket, limit: int) -> bytes:
    """Read until the peer stops sending, a newline, or `limit` bytes."""
    data = b""
    while len(data) < limit and not data.endswith(b"\n"):
        chunk = conn.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> bool:
        """Lock the file's first byte without waiting; tell whether it was free."""
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _lock(fd: int) -> bool:
        """Lock the file without waiting; tell whether it was free."""
        # A POSIX record lock (lockf), not flock: it belongs to this process alone, so the
        # server child fork()ed from it does not keep it alive after a crash of the window.
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True
