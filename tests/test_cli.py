"""The `doorstep` command line: help, version, --data-dir, and the no-display fallback.

The tests marked @source_and_frozen run against the PyInstaller bundle too.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from desktop import __version__
from tests.support import REPO_ROOT
from tests.support.bundle import source_and_frozen
from tests.support.processes import (
    child_env,
    launch,
    port_is_free,
    read_running_url,
    serving,
    wait_for,
)


def run_doorstep(
    command: list[str], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `command ARGS` to completion and capture its output."""
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env=child_env(env),
        timeout=60,
        check=False,
    )


def test_help_lists_the_modes_and_options(doorstep):
    result = run_doorstep(doorstep, "--help")
    assert result.returncode == 0
    for word in ("serve", "--dev", "--data-dir", "--version"):
        assert word in result.stdout
    serve_help = run_doorstep(doorstep, "serve", "--help")
    assert serve_help.returncode == 0
    for word in ("--host", "--port", "--data-dir", "--open"):
        assert word in serve_help.stdout


@source_and_frozen
def test_version_is_the_product_version(doorstep):
    result = run_doorstep(doorstep, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"Doorstep {__version__}"


def test_unknown_option_is_a_usage_error(doorstep):
    result = run_doorstep(doorstep, "--no-such-option")
    assert result.returncode == 2
    assert "usage: doorstep" in result.stderr


@source_and_frozen
def test_without_a_display_it_says_so_and_serves(doorstep, tmp_path):
    data_dir = tmp_path / "data"
    no_display = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    running = launch(doorstep, ["--data-dir", str(data_dir)], tmp_path, env=no_display)
    try:
        url = read_running_url(running)
        assert url.startswith("http://127.0.0.1:") and "?token=" in url
        assert (data_dir / "doorstep.db").is_file()
        assert running.stop() == 0
    finally:
        running.kill()
    messages = [line for line in running.stderr().splitlines() if "display" in line.lower()]
    assert len(messages) == 1
    assert "no display" in messages[0].lower()


def test_data_dir_may_follow_serve_and_keeps_data_and_logs_together(doorstep, tmp_path):
    data_dir = tmp_path / "custom"
    with serving(doorstep, data_dir):
        assert (data_dir / "doorstep.db").is_file()
        assert (data_dir / "secret_key").is_file()
    assert (data_dir / "logs" / "doorstep.log").is_file()


def test_environment_variable_chooses_the_data_dir_when_no_flag_does(doorstep, tmp_path):
    data_dir = tmp_path / "from-env"
    running = launch(doorstep, ["serve"], tmp_path, env={"DOORSTEP_DATA_DIR": str(data_dir)})
    try:
        read_running_url(running)
        assert (data_dir / "doorstep.db").is_file()
        assert running.stop() == 0
    finally:
        running.kill()


def test_default_data_dir_is_the_platform_location(doorstep, tmp_path):
    # conftest points XDG_DATA_HOME at the test's tmp dir; logs go to XDG_STATE_HOME.
    running = launch(doorstep, ["serve"], tmp_path)
    try:
        read_running_url(running)
        assert (tmp_path / "xdg-data" / "Doorstep" / "doorstep.db").is_file()
        assert running.stop() == 0
    finally:
        running.kill()
    assert (tmp_path / "xdg-state" / "Doorstep" / "log" / "doorstep.log").is_file()


@pytest.mark.skipif(
    not (REPO_ROOT / ".venv" / "bin" / "doorstep").exists(),
    reason="the README's commands have not set up .venv here (scripts/dev.py test does)",
)
def test_readme_run_command_is_doorstep_itself(tmp_path):
    # `python3 scripts/dev.py run` must not leave Doorstep behind when it gets a SIGTERM:
    # the script becomes Doorstep rather than starting it as a child.
    running = launch(
        [sys.executable, str(REPO_ROOT / "scripts" / "dev.py"), "run"],
        ["serve", "--data-dir", str(tmp_path / "data")],
        tmp_path,
    )
    try:
        read_running_url(running)
        running.signal(signal.SIGTERM)
        assert running.wait(10) == 0
        wait_for(lambda: port_is_free(running.port), 10, "the port to be released")
    finally:
        running.kill()
