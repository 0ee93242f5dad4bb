"""SIGINT/SIGTERM as something a thread can wait for, whoever owns the main thread."""

from __future__ import annotations

import contextlib
import signal
import socket
from types import FrameType

STOP_SIGNALS = tuple(
    sig for sig in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if sig
)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Handler that only replaces the default (which would kill the process outright)."""


class StopSignals:
    """Route SIGINT/SIGTERM to a socket via signal.set_wakeup_fd, so they can be waited on.

    Python runs signal handlers only when the interpreter gets control, which it does not
    while Qt's event loop owns the main thread; the C-level wakeup fd is written at once,
    so a thread blocked on wait() sees the signal immediately either way.
    """

    def __init__(self, stop_signals: tuple[int, ...] = STOP_SIGNALS) -> None:
        self.stop_signals = stop_signals
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous: dict[int, object] = {}
        self._previous_fd = -1

    def install(self) -> StopSignals:
        """Take over the stop signals (call from the main thread)."""
        for sig in self.stop_signals:
            self._previous[sig] = signal.signal(sig, _ignore)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        return self

    def wait(self) -> int:
        """Block until a stop signal (its number) or release() (0)."""
        while True:
            data = self._reader.recv(1)
            if not data:
                return 0
            if data[0] == 0 or data[0] in self.stop_signals:
                return data[0]

    def release(self) -> None:
        """Wake wait() without a signal, e.g. when the window was closed by the user."""
        with contextlib.suppress(OSError):
            self._writer.send(b"\0")

    def uninstall(self) -> None:
        """Give the signals back and close the sockets (call from the main thread)."""
        signal.set_wakeup_fd(self._previous_fd)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._reader.close()
        self._writer.close()
