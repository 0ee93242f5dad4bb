"""Where Doorstep's data and resources live, for the shell and the webapp alike.

The one definition of both. It imports only the standard library (platformdirs when no data
folder is given), so the shell can use it before Flask is loaded; webapp.paths re-exports it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "Doorstep"
DATA_DIR_ENV = "DOORSTEP_DATA_DIR"


def data_dir(override: str | os.PathLike[str] | None) -> Path:
    """Return the data folder: --data-dir, else $DOORSTEP_DATA_DIR, else the platform's location."""
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


def resource_root() -> Path:
    """Return the folder holding `templates/` and `static/`."""
    # PyInstaller unpacks (onefile) or places (onedir) bundled data under sys._MEIPASS.
    bundle_dir = getattr(sys, "_MEIPASS", None)
    if bundle_dir:
        return Path(bundle_dir)
    # The folder holding the desktop and webapp packages: the checkout's root (also for an
    # editable install), or site-packages for an installed wheel. A wheel maps templates/
    # and static/ into the webapp package (see pyproject.toml), as folders of those names at
    # the top of site-packages could clash with other distributions.
    top = Path(__file__).resolve().parent.parent
    installed = top / "webapp"
    if (installed / "templates").is_dir():
        return installed
    return top


def resource_path(*parts: str) -> Path:
    """Return a path inside the resource root, e.g. resource_path("static", "app.css")."""
    return resource_root().joinpath(*parts)
