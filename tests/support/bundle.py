"""The PyInstaller bundle in dist/ (built by `python build/build.py`) as a command under test.

A test decorated with @source_and_frozen runs twice: against `python -m desktop` and, marked
`frozen` (so `-m "not frozen"` leaves it out), against the bundle. Without a bundle the frozen
run skips, unless DOORSTEP_REQUIRE_FROZEN=1 (as in CI, right after the build), which turns a
missing bundle into a failure.
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.support import REPO_ROOT

BUNDLE = REPO_ROOT / "dist" / "doorstep"
FROZEN_EXECUTABLE = BUNDLE / ("doorstep.exe" if sys.platform == "win32" else "doorstep")
INTERNAL = BUNDLE / "_internal"  # PyInstaller 6 onedir: sys._MEIPASS

# Parametrizes the `doorstep` fixture (the command under test) of the decorated test.
source_and_frozen = pytest.mark.parametrize(
    "doorstep", ["source", pytest.param("frozen", marks=pytest.mark.frozen)], indirect=True
)


def frozen_executable_or_skip() -> list[str]:
    """The bundle's command; skip (or fail, with DOORSTEP_REQUIRE_FROZEN=1) when not built."""
    if not FROZEN_EXECUTABLE.is_file():
        reason = (
            f"{FROZEN_EXECUTABLE.relative_to(REPO_ROOT)} is not built (run: python build/build.py)"
        )
        if os.environ.get("DOORSTEP_REQUIRE_FROZEN") == "1":
            pytest.fail(reason + " and DOORSTEP_REQUIRE_FROZEN=1", pytrace=False)
        pytest.skip(reason)
    return [str(FROZEN_EXECUTABLE)]
