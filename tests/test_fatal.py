"""Fatal messages reach the user with a console (stderr) and without one (box, alert, log)."""

from __future__ import annotations

import ctypes
import io
import logging
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from desktop import __version__, fatal, windows
from desktop.__main__ import main
from tests.support import REPO_ROOT
from tests.support.data import load_newer_database
from tests.support.processes import child_env

MESSAGE = "this data folder (C:\\Users\\Zoë\\Doorstep) was written by a newer version"


@pytest.fixture
def shown(monkeypatch) -> list[tuple[str, str, str]]:
    """What the native seams were asked to show, as (seam, message, title)."""
    calls: list[tuple[str, str, str]] = []
    monkeypatch.setattr(fatal, "_message_box", lambda m, t: calls.append(("box", m, t)))
    monkeypatch.setattr(fatal, "_alert", lambda m, t: calls.append(("alert", m, t)))
    return calls


@pytest.mark.parametrize("system", ["linux", "win32", "darwin"])
def test_with_a_console_it_is_printed_on_stderr_only(monkeypatch, capsys, caplog, shown, system):
    monkeypatch.setattr(sys, "platform", system)
    fatal.tell_user(MESSAGE)
    assert capsys.readouterr().err == f"doorstep: {MESSAGE}\n"
    assert shown == []
    assert not [r for r in caplog.records if r.name == "doorstep"]


@pytest.mark.parametrize(
    ("system", "seam"), [("win32", "box"), ("darwin", "alert"), ("linux", None)]
)
def test_without_a_console_it_is_shown_natively_and_logged(
    monkeypatch, caplog, shown, system, seam
):
    monkeypatch.setattr(sys, "platform", system)
    monkeypatch.setattr(sys, "stderr", None)
    with caplog.at_level(logging.INFO):
        fatal.tell_user(MESSAGE, title="Doorstep")
    # A box shows a sentence; Linux has the window's page and the log.
    expected = [(seam, "T" + MESSAGE[1:], "Doorstep")] if seam else []
    assert shown == expected
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("doorstep", logging.ERROR, MESSAGE)
    ]


def test_stderr_that_leads_to_the_null_device_counts_as_none(monkeypatch, shown):
    # What a macOS app started from the Finder has.
    monkeypatch.setattr(sys, "platform", "darwin")
    with open(os.devnull, "w", encoding="utf-8") as null:
        monkeypatch.setattr(sys, "stderr", null)
        fatal.tell_user(MESSAGE)
    assert shown == [("alert", "T" + MESSAGE[1:], "Doorstep")]


class BrokenPipe(io.StringIO):
    """A stderr whose reader has gone away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError("the reader went away")


@pytest.mark.parametrize("problem", ["closed", "broken-pipe"])
def test_stderr_that_cannot_be_written_counts_as_none(monkeypatch, shown, problem):
    stream = BrokenPipe() if problem == "broken-pipe" else io.StringIO()
    if problem == "closed":
        stream.close()
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(sys, "stderr", stream)
    fatal.tell_user(MESSAGE)
    assert shown == [("box", "T" + MESSAGE[1:], "Doorstep")]
    stream.close()


@pytest.mark.parametrize("system", ["win32", "darwin"])
def test_a_box_that_cannot_be_shown_is_no_crash(monkeypatch, caplog, tmp_path, system):
    # The real seams, here on Linux: no ctypes.windll, no osascript on the PATH.
    monkeypatch.setattr(sys, "platform", system)
    monkeypatch.setattr(sys, "stderr", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    fatal.tell_user(MESSAGE)
    messages = [r.getMessage() for r in caplog.records if r.name == "doorstep"]
    assert messages == [MESSAGE, "Could not show the message to the user"]


def test_the_alert_passes_the_text_as_arguments_never_as_script():
    sneaky = '-e " & (do shell script "touch /tmp/owned") & "'
    command = fatal.alert_command(sneaky, "Doorstep")
    assert command[0] == "osascript"
    script = command[1:-2]
    assert script[::2] == ["-e"] * len(fatal.ALERT_SCRIPT)
    assert tuple(script[1::2]) == fatal.ALERT_SCRIPT
    assert all("touch" not in line for line in fatal.ALERT_SCRIPT)
    # The title, which Doorstep chooses, ends osascript's options before the message comes.
    assert command[-2:] == ["Doorstep", sneaky]
    assert fatal.ALERT_SCRIPT[0] == "on run argv" and fatal.ALERT_SCRIPT[-1] == "end run"


def test_the_macos_alert_runs_osascript_and_waits_for_it(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda command, **options: calls.append(command))
    fatal._alert("Cannot use the data folder", "Doorstep")
    assert calls == [fatal.alert_command("Cannot use the data folder", "Doorstep")]


def test_the_windows_box_is_an_error_box_with_an_ok_button(monkeypatch):
    calls = []
    user32 = types.SimpleNamespace(MessageBoxW=lambda *args: calls.append(args) or 1)
    monkeypatch.setattr(ctypes, "windll", types.SimpleNamespace(user32=user32), raising=False)
    fatal._message_box("Cannot use the data folder", "Doorstep")
    # No owner window, then MB_OK | MB_ICONERROR.
    assert calls == [(None, "Cannot use the data folder", "Doorstep", 0x10)]


def test_an_unusable_data_folder_is_told_in_a_box_on_windows(monkeypatch, tmp_path, shown):
    # main() itself, as a windowed Windows build runs it: no stderr at all.
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(sys, "stderr", None)
    assert main(["--data-dir", str(not_a_folder)]) == 1
    assert len(shown) == 1
    seam, message, title = shown[0]
    assert (seam, title) == ("box", "Doorstep")
    assert message.startswith(f"Cannot use the data folder {not_a_folder}: ")


def test_without_webview2_a_windows_window_is_refused_in_a_box(monkeypatch, tmp_path, shown):
    # Checked before pywebview is imported, which would die with a misleading traceback.
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(sys, "stderr", None)
    monkeypatch.setattr(windows, "webview2_version", lambda read=None: None)
    monkeypatch.setattr(windows, "restrict_to_current_user", lambda folder: False)  # Win32 ACLs
    assert main(["--data-dir", str(tmp_path / "data")]) == 1
    assert [(seam, message) for seam, message, _title in shown] == [
        ("box", windows.MISSING_WEBVIEW2_MESSAGE[:1].upper() + windows.MISSING_WEBVIEW2_MESSAGE[1:])
    ]
    assert "webview" not in sys.modules or "webview.platforms.winforms" not in sys.modules


def test_a_frozen_windows_build_clears_the_download_mark_before_the_window(
    monkeypatch, tmp_path, shown
):
    cleared: list[object] = []
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "stderr", None)
    monkeypatch.setattr(
        windows, "clear_mark_of_the_web", lambda folder: cleared.append(folder) or 0
    )
    monkeypatch.setattr(windows, "webview2_version", lambda read=None: None)  # stop there
    monkeypatch.setattr(windows, "restrict_to_current_user", lambda folder: False)  # Win32 ACLs
    assert main(["--data-dir", str(tmp_path / "data")]) == 1
    assert cleared == [Path(sys.executable).parent]


# Runs Doorstep's command line as a windowed build does: without stdout or stderr. Anything
# that escapes main() is reported on the real stderr, which the test reads.
NO_CONSOLE = """
import sys, traceback
sys.stdout = sys.stderr = None
from desktop.__main__ import main
try:
    status = main(sys.argv[1:])
except BaseException:
    traceback.print_exc(file=sys.__stderr__)
    status = 99
sys.exit(status)
"""


@pytest.mark.parametrize(
    "args", [["serve"], []], ids=["serve", "window-without-display-falls-back-to-serve"]
)
def test_without_a_console_a_refused_database_is_logged_and_exits_1(tmp_path, args):
    data_dir = tmp_path / "data"
    load_newer_database(data_dir)
    result = subprocess.run(
        [sys.executable, "-c", NO_CONSOLE, *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=child_env({"DISPLAY": "", "WAYLAND_DISPLAY": ""}),
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "")
    log = (data_dir / "logs" / "doorstep.log").read_text(encoding="utf-8")
    # Said by tell_user (logger "doorstep"), not only logged by the server ("doorstep.server").
    told = [line for line in log.splitlines() if " ERROR doorstep [MainThread] " in line]
    assert told[-1].endswith(
        f"this data folder ({data_dir}) was written by a newer version of Doorstep "
        f"(database revision 9999); this is Doorstep {__version__}. Nothing was changed."
    )
    assert "Traceback" not in log
