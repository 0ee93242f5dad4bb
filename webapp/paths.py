"""Where Doorstep finds its bundled resources and keeps its per-user data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

# One implementation for the shell and the webapp (desktop.platform imports no Flask).
from desktop.platform import make_private_dir as ensure_private_dir  # noqa: F401

APP_NAME = "Doorstep"
DATA_DIR_ENV = "DOORSTEP_DATA_DIR"


def resource_root() -> Path:
    """Return the folder holding `templates/` and `static/`, in a checkout or a frozen bundle."""
    # PyInstaller unpacks (onefile) or places (onedir) bundled data under sys._MEIPASS.
    bundle_dir = getattr(sys, "_MEIPASS", None)
    if bundle_dir:
        return Path(bundle_dir)
    return Path(__file__).resolve().parent.parent


def migrations_dir() -> Path:
    """Return the Alembic migrations folder, shipped inside the webapp package."""
    # Beside this module in a checkout and a wheel; the bundle puts it at the same place.
    return Path(__file__).resolve().parent / "migrations"


def default_data_dir() -> Path:
    """Return the per-user data folder: $DOORSTEP_DATA_DIR, else the platform's location."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_data_path(APP_NAME, appauthor=False)
