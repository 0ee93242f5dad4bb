"""Where the webapp finds its resources, its migrations and the user's data."""

from __future__ import annotations

from pathlib import Path

# The one definition the shell uses too (desktop.locations imports no Flask).
from desktop.locations import DATA_DIR_ENV, data_dir, resource_root  # noqa: F401
from desktop.locations import make_private_dir as ensure_private_dir  # noqa: F401


def migrations_dir() -> Path:
    """Return the Alembic migrations folder, shipped inside the webapp package."""
    # Beside this module in a checkout and a wheel; the bundle puts it at the same place.
    return Path(__file__).resolve().parent / "migrations"


def default_data_dir() -> Path:
    """Return the per-user data folder: $DOORSTEP_DATA_DIR, else the platform's location."""
    return data_dir(None)
