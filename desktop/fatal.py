"""Telling the user why Doorstep cannot go on, whether or not it has a console."""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

log = logging.getLogger("doorstep")

TITLE = "Doorstep"
# user32.MessageBoxW's uType flags: an OK button and the error icon.
MB_OK = 0x00000000
MB_ICONERROR = 0x00000010

# The message and the title reach the script as arguments of its run handler, never as part of
# its text, so nothing in a message (a folder named `" & do shell script "…`) can run as code.
ALERT_SCRIPT = (
    "on run argv",
    # osascript has no window of its own: without this the alert may open behind others.
    "activate",
    'display alert (item 1 of argv) message (item 2 of argv) as critical buttons {"OK"}'
    ' default button "OK"',
    "end run",
)


def tell_user(message: str, title: str = TITLE) -> None:
    """Say `message` on stderr, or where there is none, in a native message box or the log."""
    console = _console()
    if console is not None:
        try:
            console.write(f"doorstep: {message}\n")
            console.flush()
            return
        except (OSError, ValueError):  # a closed pipe or file: as good as no console
            pass
    # A message box leaves no trace once dismissed; the log keeps what was said.
    log.error("%s", message)
    try:
        if sys.platform == "win32":
            _message_box(sentence(message), title)
        elif sys.platform == "darwin":
            _alert(sentence(message), title)
        # Elsewhere (Linux), the log is it: the window shows the refusal page itself, and
        # there is no message box every desktop is sure to have.
    except Exception:  # the message must never become a crash of its own
        log.exception("Could not show the message to the user")


def alert_command(message: str, title: str = TITLE) -> list[str]:
    """Return the osascript command that shows `message` in a macOS alert titled `title`."""
    command = ["osascript"]
    for line in ALERT_SCRIPT:
        command += ["-e", line]
    # The title comes first: osascript reads options until its first other argument, and the
    # title (never the message) is what the program chooses, so a message starting with "-"
    # is never taken for an option.
    return [*command, title, message]


def _console() -> TextIO | None:
    """Return sys.stderr if it leads somewhere a person may read, else None."""
    # PyInstaller's windowed executables (and pythonw) have no stderr at all; an app launched
    # from the macOS Finder (or a Linux desktop entry) has one that leads to the null device.
    stream = sys.stderr
    if stream is None or getattr(stream, "closed", False):
        return None
    if os.name == "posix":
        try:
            if os.path.samestat(os.fstat(stream.fileno()), os.stat(os.devnull)):
                return None
        except (OSError, ValueError, AttributeError):  # no file behind it (a test's capture)
            pass
    return stream


def sentence(message: str) -> str:
    """Return `message` as it reads on its own in a box: a capital first letter."""
    return message[:1].upper() + message[1:]


def _message_box(message: str, title: str) -> None:
    """Show a Windows message box and wait for OK (the seam tests replace)."""
    import ctypes

    # windll is Windows-only: unknown to mypy checking as another OS (a test provides a fake).
    windll = ctypes.windll  # type: ignore[attr-defined, unused-ignore]
    windll.user32.MessageBoxW(None, message, title, MB_OK | MB_ICONERROR)


def _alert(message: str, title: str) -> None:
    """Show a macOS alert and wait for OK (the seam tests replace)."""
    import subprocess  # here: the window's start-up path never needs it

    subprocess.run(
        alert_command(message, title),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
