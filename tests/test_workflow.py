"""The hosted workflow is valid GitHub Actions syntax (it runs only on GitHub's runners)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO_ROOT


def test_the_hosted_workflow_matches_githubs_schema():
    # check-jsonschema ships the schema: nothing is downloaded.
    result = subprocess.run(
        [
            sys.executable, "-m", "check_jsonschema",
            "--builtin-schema", "vendor.github-workflows",
            str(REPO_ROOT / ".github" / "workflows" / "build.yml"),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout
