"""Platform specifics of the shell, each system's answer checked on this one."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from desktop import system


@pytest.mark.parametrize("os_name", ["linux", "win32", "darwin"])
def test_the_backend_asked_for_is_qt_on_linux_only(monkeypatch, os_name):
    monkeypatch.setattr(sys, "platform", os_name)
    assert system.webview_gui() == ("qt" if os_name == "linux" else None)


def test_on_linux_the_window_gets_the_png_icon(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    icon = system.window_icon()
    assert icon is not None and icon.name == "doorstep.png" and icon.is_file()
    assert icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("os_name", ["win32", "darwin"])
def test_elsewhere_the_window_keeps_the_executables_own_icon(monkeypatch, os_name):
    # WinForms would hand a PNG to System.Drawing.Icon, which takes only .ico files, and
    # fail in its GUI thread: the window could not open.
    monkeypatch.setattr(sys, "platform", os_name)
    assert system.window_icon() is None


def test_on_linux_a_build_without_the_png_gets_no_icon(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert system.window_icon() is None


def test_child_output_is_appended_at_the_end_in_a_private_file(tmp_path):
    path = tmp_path / "logs" / "output.log"
    with system.open_private_output(path) as output:
        output.write(b"first run\n")
    with system.open_private_output(path) as output:
        # A child handed the bare handle (Windows) writes at its position: the end.
        assert output.tell() == len(b"first run\n")
        output.write(b"second run\n")
    assert path.read_bytes() == b"first run\nsecond run\n"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_child_output_starts_afresh_once_it_has_grown_too_big(tmp_path):
    path = tmp_path / "output.log"
    path.write_bytes(b"x" * 101)
    with system.open_private_output(path, max_bytes=100) as output:
        output.write(b"new\n")
    assert path.read_bytes() == b"new\n"
