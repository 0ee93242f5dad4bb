"""test-artifacts/ (git-ignored): screenshots kept for people to look at after a run."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"


def keep_artifact(path: Path, name: str | None = None) -> Path:
    """Copy `path` to test-artifacts/ (as `name`, else its own name); return the copy."""
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / (name or path.name)
    shutil.copyfile(path, target)
    return target
