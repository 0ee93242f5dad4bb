"""Platform specifics of the desktop shell: display detection, folders, the system browser."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import BinaryIO

APP_NAME = "Doorstep"
# Same variable as webapp.paths.DATA_DIR_ENV; repeated here because importing anything from
# the webapp package imports Flask, which the shell keeps off its start-up path.
DATA_DIR_ENV = "DOORSTEP_DATA_DIR"
LOG_FILE_NAME = "doorstep.log"
LOG_MAX_BYTES = 1_000_000


def is_linux() -> bool:
    """Tell whether this is Linux (where the Qt backend of pywebview is used)."""
    return sys.platform.startswith("linux")


def can_fork() -> bool:
    """Tell whether a child may be fork()ed without exec: Linux only.

    macOS's system libraries are not fork-safe and Windows has no fork; there the server
    child is a new process of the same executable.
    """
    return sys.platform.startswith("linux")


def webview_gui() -> str | None:
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


def data_dir(override: str | os.PathLike[str] | None) -> Path:
    """Return the data folder: --data-dir, else $DOORSTEP_DATA_DIR, else the platform's location."""
    # Mirrors webapp.paths.default_data_dir (see DATA_DIR_ENV above for why it is not imported).
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def log_dir(data_dir_override: str | os.PathLike[str] | None) -> Path:
    """Return the log folder: `<data dir>/logs` when --data-dir is given, else the platform's."""
    # An explicit data dir keeps everything of that run together (and tests out of $HOME).
    if data_dir_override:
        return Path(data_dir_override).expanduser().resolve() / "logs"
    import platformdirs

    return platformdirs.user_log_path(APP_NAME, appauthor=False)


def resource_path(*parts: str) -> Path:
    """Return a path inside the bundled resources (checkout root or PyInstaller's _MEIPASS)."""
    # Mirrors webapp.paths.resource_root, again to keep Flask off the start-up path.
    root = getattr(sys, "_MEIPASS", None)
    base = Path(root) if root else Path(__file__).resolve().parent.parent
    return base.joinpath(*parts)


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
    return path


def make_private_dir(path: Path) -> Path:
    """Create `path` if needed, make it readable by its owner only (even if it existed); return it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if sys.platform == "win32":
        # Modes set no ACLs on Windows. Outside the user's AppData (--data-dir elsewhere) the
        # folder gets an owner-only DACL, which the files created inside inherit: the secret
        # key, the database and its -wal/-shm, the backups, the logs.
        from desktop import windows

        windows.restrict_to_current_user(path)
    elif os.name == "posix":
        path.chmod(0o700)  # mkdir's mode applies only to a folder it creates
    return path


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files only their owner can read: logs name the user's folders."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if os.name == "posix":
            os.fchmod(fd, 0o600)  # a log an older Doorstep created as 0644
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)  # noqa: SIM115


def open_private_output(path: Path, max_bytes: int = LOG_MAX_BYTES) -> BinaryIO:
    """Open `path` (owner-only) to append a child process's output, emptied once past `max_bytes`."""
    make_private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
    with contextlib.suppress(OSError):
        if path.stat().st_size > max_bytes:
            flags |= os.O_TRUNC  # nothing rotates it: only start-up failures land here
    fd = os.open(path, flags, 0o600)
    if os.name == "posix":
        os.fchmod(fd, 0o600)
    stream = open(fd, "ab")  # noqa: SIM115 - the caller closes it
    # A Windows child gets the bare handle, without the C runtime's append flag, and writes
    # at the handle's position: that must be the end, not the first byte.
    stream.seek(0, os.SEEK_END)
    return stream


def open_in_browser(url: str) -> bool:
    """Open `url` in the user's default browser; return False when none could be started."""
    import webbrowser

    try:
        return webbrowser.open(url, new=2)
    except webbrowser.Error:
        return False
