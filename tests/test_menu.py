"""The window's native menu (Qt under Xvfb): its entries, Ctrl+Q, and the folder openers.

The window runs in a harness: `python -c HARNESS` runs Doorstep's own command line and, from
inside the process, writes what Qt's menu bar holds to a JSON file and triggers a menu entry
when the test names one in a file, as a click would (XTest clicks on a menu bar without a
window manager are too fragile to be a test).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from desktop import __version__
from desktop.languages import DEFAULT_LOCALE, translations
from desktop.menu import ABOUT, FILE, LICENCE, OPEN_DATA, OPEN_LOGS, QUIT, about_text
from tests import test_window
from tests.support.processes import port_is_free, wait_for
from tests.support.x11 import find_window, press_key
from tests.test_chinese_type import CHINESE_DESKTOP
from tests.test_window import EXIT_LIMIT

# The window fixtures of tests/test_window.py, for this module's tests too.
display = test_window.display
open_window = test_window.open_window

pytestmark = pytest.mark.window

# Runs in the window's process: every 0.1 s, the menu bar (on Qt's thread) goes to
# argv[1], and a menu entry named in argv[2] is triggered (and the file removed).
HARNESS = """
import json, os, sys, threading
import webview
from desktop import qt
from desktop.__main__ import main

out, trigger = sys.argv[1], sys.argv[2]
create_window = webview.create_window

def inspect(view):
    entries = {}
    for top in view.menuBar().actions():
        entries[top.text()] = [
            [a.text(), a.shortcut().toString(), a.isSeparator()] for a in top.menu().actions()
        ]
        for action in top.menu().actions():
            if os.path.exists(trigger) and action.text() == open(trigger).read():
                os.remove(trigger)
                action.trigger()
    # What shows before the first page paints: the page's and the window's background.
    palette_colour = view.palette().color(view.backgroundRole()).name()
    entries["(background)"] = [view.webview.page().backgroundColor().name(), palette_colour]
    with open(out + ".tmp", "w") as file:
        json.dump(entries, file)
    os.replace(out + ".tmp", out)

def watch(window):
    from webview.platforms.qt import BrowserView
    view = BrowserView.instances[window.uid]
    while not window.events.closed.wait(0.1):
        qt.run_on_gui_thread(view, lambda: inspect(view))

def create(*args, **kwargs):
    window = create_window(*args, **kwargs)
    window.events.shown += lambda: threading.Thread(target=watch, args=(window,), daemon=True).start()
    return window

webview.create_window = create
sys.exit(main(sys.argv[3:]))
"""


@pytest.fixture
def harness(tmp_path) -> tuple[Path, Path]:
    """The files the harness writes the menu bar to and reads a menu entry to trigger from."""
    return tmp_path / "menu.json", tmp_path / "trigger.txt"


@pytest.fixture
def doorstep(harness) -> list[str]:
    """Doorstep's command line, run inside the harness."""
    out, trigger = harness
    return [sys.executable, "-c", HARNESS, str(out), str(trigger)]


@pytest.fixture
def data_dir(tmp_path, request) -> Path:
    """A per-test data dir, named by the test's `data_dir` parameter where it has one."""
    return tmp_path / getattr(request, "param", "data")


@pytest.fixture
def recorder(tmp_path) -> dict[str, str]:
    """An environment whose xdg-open records the folder it is asked to open, in opened.txt."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opener = bin_dir / "xdg-open"
    opener.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{tmp_path / "opened.txt"}"\n')
    opener.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def menu_bar(
    harness: tuple[Path, Path], file: str = FILE, quit: str = QUIT
) -> dict[str, list[list]]:
    """The menu bar as the harness last saw it, once Quit has its shortcut."""

    def ready() -> dict | None:
        try:
            entries = json.loads(harness[0].read_text())
        except (OSError, ValueError):
            return None
        quits = [item for item in entries.get(file, []) if item[0] == quit]
        return entries if quits and quits[0][1] else None

    return wait_for(ready, 60, "the menu bar with Quit's shortcut")


def trigger(harness: tuple[Path, Path], title: str) -> None:
    """Trigger the menu entry `title` in the window, as a click on it would."""
    harness[1].write_text(title)
    wait_for(lambda: not harness[1].exists(), 10, f"{title!r} to be triggered")


def test_the_menu_bar_has_about_the_folders_and_quit(open_window, harness, tmp_path):
    window = open_window()
    window.page("/")
    entries = menu_bar(harness)
    del entries["(background)"]
    assert entries == {
        "File": [
            [OPEN_DATA, "", False],
            [OPEN_LOGS, "", False],
            ["", "", True],
            [QUIT, "Ctrl+Q", False],
        ],
        "Help": [[ABOUT, "", False]],
    }
    window.screenshot(tmp_path, "menu-bar.png")


@pytest.mark.parametrize(("scheme", "background"), [("light", "#ffffff"), ("dark", "#212529")])
def test_the_window_is_painted_in_the_system_scheme_before_the_page(
    open_window, harness, scheme, background
):
    # Until the first page paints, the window shows the page's background colour: white
    # would flash in a dark desktop (the GTK 3 platform theme stands in for one, as in
    # test_dark_mode.py). Bootstrap's dark body background is what the page paints next.
    theme = "Adwaita:dark" if scheme == "dark" else "Adwaita"
    open_window(env={"QT_QPA_PLATFORMTHEME": "gtk3", "GTK_THEME": theme})
    assert menu_bar(harness)["(background)"] == [background, background]


def test_ctrl_q_quits_cleanly(open_window, display, harness):
    window = open_window()
    port = window.app_port
    menu_bar(harness)  # Quit has its shortcut by now

    started = time.monotonic()
    press_key(display, window.xid, "Control_L", "q")
    status = window.running.wait(EXIT_LIMIT + 10)
    assert time.monotonic() - started <= EXIT_LIMIT
    assert status == 0, window.running.stderr()
    assert port_is_free(port)
    assert find_window(display, "Doorstep") is None


def test_quit_in_the_menu_quits_cleanly(open_window, display, harness):
    window = open_window()
    port = window.app_port
    menu_bar(harness)
    trigger(harness, QUIT)
    assert window.running.wait(EXIT_LIMIT + 10) == 0, window.running.stderr()
    assert port_is_free(port)


def test_the_folders_open_in_the_file_manager(open_window, data_dir, harness, recorder, tmp_path):
    window = open_window(env=recorder)
    window.page("/")
    menu_bar(harness)
    opened = tmp_path / "opened.txt"

    trigger(harness, OPEN_DATA)
    wait_for(lambda: opened.exists(), 30, "xdg-open to be run")
    assert opened.read_text().splitlines() == [str(data_dir)]

    trigger(harness, OPEN_LOGS)
    wait_for(lambda: len(opened.read_text().splitlines()) == 2, 30, "xdg-open to be run again")
    assert opened.read_text().splitlines()[1] == str(data_dir / "logs")


# A Chinese folder name too: Qt draws it in a CJK face (fonts-noto-cjk), not as boxes.
@pytest.mark.parametrize("data_dir", ["data", "文档"], indirect=True)
def test_about_names_the_version_data_folder_and_licence(
    open_window, display, data_dir, harness, tmp_path
):
    window = open_window()
    window.page("/")
    menu_bar(harness)
    trigger(harness, ABOUT)
    dialog = wait_for(lambda: find_window(display, ABOUT), 30, "the About box")
    window.screenshot_of(
        dialog, tmp_path, "about.png" if data_dir.name == "data" else "about-zh.png"
    )
    text = about_text(data_dir, translations(DEFAULT_LOCALE).gettext)
    assert __version__ in text and str(data_dir) in text and LICENCE in text


def test_under_a_chinese_system_the_menu_and_about_speak_chinese(
    open_window, display, harness, tmp_path
):
    # Native menus follow the system's language (gettext's variables), as other apps' do.
    window = open_window(env=CHINESE_DESKTOP)
    window.page("/")
    entries = menu_bar(harness, file="文件", quit="退出")
    del entries["(background)"]
    assert entries == {
        "文件": [
            ["打开数据文件夹", "", False],
            ["打开日志文件夹", "", False],
            ["", "", True],
            ["退出", "Ctrl+Q", False],
        ],
        "帮助": [["关于 Doorstep", "", False]],
    }
    trigger(harness, "关于 Doorstep")
    dialog = wait_for(lambda: find_window(display, "关于 Doorstep"), 30, "the About box")
    # Qt's own button too (its qtbase catalogue): look at the screenshot.
    window.screenshot_of(dialog, tmp_path, "about-chinese-system.png")


def test_a_frozen_app_starts_the_file_manager_with_the_users_libraries(monkeypatch):
    from desktop import system

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/doorstep/_internal")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/local/lib")
    env = system._child_env()
    assert env["LD_LIBRARY_PATH"] == "/usr/local/lib" and "LD_LIBRARY_PATH_ORIG" not in env
    monkeypatch.delenv("LD_LIBRARY_PATH_ORIG")
    assert "LD_LIBRARY_PATH" not in system._child_env()


def test_open_folder_says_when_no_file_manager_could_start(monkeypatch, tmp_path):
    from desktop import system

    if sys.platform == "win32":
        pytest.skip("os.startfile, not a program on PATH")
    monkeypatch.setenv("PATH", str(tmp_path))  # no xdg-open or open on it
    assert system.open_folder(tmp_path) is False
