"""What differs between the systems the shell runs on: backend, display, logs, the browser."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from io import TextIOWrapper
from pathlib import Path
from typing import BinaryIO, Literal, cast

from desktop.locations import log_dir, make_private_dir, resource_path

LOG_FILE_NAME = "doorstep.log"
LOG_MAX_BYTES = 1_000_000
# The folder setup_logging sends this process's log to (the menu's "Open log folder").
_log_folder: Path | None = None


def is_linux() -> bool:
    """Tell whether this is Linux (where the Qt backend of pywebview is used)."""
    return sys.platform.startswith("linux")


def can_fork() -> bool:
    """Tell whether a child may be fork()ed without exec: Linux only.

    macOS's system libraries are not fork-safe and Windows has no fork; there the server
    child is a new process of the same executable.
    """
    return sys.platform.startswith("linux")


def webview_gui() -> Literal["qt"] | None:
    """Return the pywebview backend to ask for: "qt" on Linux, else None (the system's own)."""
    # pyproject installs Qt on Linux; pywebview would try GTK first.
    return "qt" if is_linux() else None


def window_icon() -> Path | None:
    """Return the window's icon file where the backend takes one (Qt: a PNG), else None."""
    # WinForms hands the icon to System.Drawing.Icon, which reads only .ico files, and fails
    # in its GUI thread where nothing catches it; Cocoa ignores it. Windows and macOS show
    # the executable's or the app bundle's own icon instead.
    if webview_gui() != "qt":
        return None
    icon = resource_path("static", "img", "doorstep.png")
    return icon if icon.is_file() else None


def has_display() -> bool:
    """Tell whether a window can be shown: always on Windows/macOS, on Linux only with X or Wayland."""
    if sys.platform.startswith(("win", "darwin")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def setup_logging(
    data_dir_override: str | os.PathLike[str] | None, file_name: str = LOG_FILE_NAME
) -> Path:
    """Send Doorstep's (and waitress') log records to a rotating file; return its path."""
    folder = make_private_dir(log_dir(data_dir_override))
    path = folder / file_name
    handler = PrivateRotatingFileHandler(
        path, maxBytes=LOG_MAX_BYTES, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    global _log_folder
    _log_folder = folder
    return path


def log_folder() -> Path:
    """Return the folder this process logs to (the platform's, before setup_logging)."""
    return _log_folder or log_dir(None)


def open_owner_only(path: Path, flags: int) -> int:
    """Open `path` with `flags`, created owner-only, and tighten a file made looser before."""
    fd = os.open(path, flags, 0o600)
    if os.name == "posix":
        # The mode applies only to a file os.open creates: an older Doorstep made logs 0644.
        os.fchmod(fd, 0o600)  # type: ignore[attr-defined, unused-ignore]  # POSIX-only
    return fd


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files only their owner can read: logs name the user's folders."""

    def _open(self) -> TextIOWrapper:
        fd = open_owner_only(Path(self.baseFilename), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        stream = open(fd, self.mode, encoding=self.encoding, errors=self.errors)  # noqa: SIM115
        return cast(TextIOWrapper, stream)  # a text mode ("a"), as every FileHandler opens


def write_private_text(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically (readers see the old file or the new), owner-only."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = open_owner_only(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with open(fd, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        # On disk before the rename: a power cut must not leave an empty file in its place.
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def open_private_output(path: Path, max_bytes: int = LOG_MAX_BYTES) -> BinaryIO:
    """Open `path` (owner-only) to append a child process's output, emptied once past `max_bytes`."""
    make_private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
    with contextlib.suppress(OSError):
        if path.stat().st_size > max_bytes:
            flags |= os.O_TRUNC  # nothing rotates it: only start-up failures land here
    fd = open_owner_only(path, flags)
    stream = open(fd, "ab")  # noqa: SIM115 - the caller closes it
    # A Windows child gets the bare handle, without the C runtime's append flag, and writes
    # at the handle's position: that must be the end, not the first byte.
    stream.seek(0, os.SEEK_END)
    return stream


def open_folder(path: Path) -> bool:
    """Show the folder `path` in the system's file manager; return False when that failed."""
    import subprocess  # here: the window's start-up path never needs it

    try:
        if sys.platform == "win32":
            os.startfile(path)  # type: ignore[attr-defined, unused-ignore]  # Windows-only
            return True
        command = ["open" if sys.platform == "darwin" else "xdg-open", str(path)]
        # Not waited for: xdg-open may stay until the file manager exits.
        subprocess.Popen(
            command,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        logging.getLogger("doorstep").exception("Could not open the folder %s", path)
        return False
    return True


def _child_env() -> dict[str, str]:
    """Return the environment for a system program, without the frozen bundle's libraries."""
    env = dict(os.environ)
    # PyInstaller points LD_LIBRARY_PATH at the bundle's own Qt and libc++ builds: a file
    # manager started with them may fail to load. It keeps the user's value as *_ORIG.
    if getattr(sys, "frozen", False):
        original = env.pop("LD_LIBRARY_PATH_ORIG", None)
        if original is None:
            env.pop("LD_LIBRARY_PATH", None)
        else:
            env["LD_LIBRARY_PATH"] = original
    return env


def open_in_browser(url: str) -> bool:
    """Open `url` in the user's default browser; return False when none could be started."""
    import webbrowser

    try:
        return webbrowser.open(url, new=2)
    except webbrowser.Error:
        return False
