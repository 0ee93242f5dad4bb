"""The window's size, position and maximised state: saved on close, restored on a screen."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import re
import subprocess

import pytest

from desktop import window_state
from desktop.window_state import Area, WindowState
from tests import test_window
from tests.support.processes import wait_for
from tests.support.x11 import close_window, xwininfo

# The window tests' fixtures: an Xvfb display (1280x800) for this module, windows on it.
display = test_window.display
open_window = test_window.open_window

MIN_SIZE = (480, 400)
SCREEN = Area(0, 0, 1280, 800)


def geometry(display: str, window: int) -> tuple[int, int, int, int]:
    """Return the window's (x, y, width, height) on the screen."""
    out = xwininfo(display, "-id", hex(window), check=True)
    values = [
        int(re.search(rf"{label}:\s+(-?\d+)", out).group(1))  # type: ignore[union-attr]
        for label in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")
    ]
    return values[0], values[1], values[2], values[3]


def move_resize(display: str, window: int, x: int, y: int, width: int, height: int) -> None:
    """Move and resize `window` as a user dragging it would have (no window manager here)."""
    xlib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XMoveResizeWindow.argtypes = [
        ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint, ctypes.c_uint
    ]  # fmt: skip
    xlib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = xlib.XOpenDisplay(display.encode())
    if not dpy:
        raise RuntimeError(f"cannot open X display {display}")
    try:
        xlib.XMoveResizeWindow(dpy, window, x, y, width, height)
        xlib.XSync(dpy, 0)
    finally:
        xlib.XCloseDisplay(dpy)


@pytest.mark.window
@pytest.mark.timeout(240)
def test_size_and_place_are_restored_at_the_next_launch(open_window, display, data_dir):
    first = open_window()
    first.page("/")
    move_resize(display, first.xid, 130, 70, 800, 600)
    wait_for(lambda: geometry(display, first.xid) == (130, 70, 800, 600), 10, "the new geometry")
    close_window(display, first.xid)
    assert first.running.wait(10) == 0
    saved = json.loads((data_dir / window_state.FILE_NAME).read_text())
    assert saved == {"x": 130, "y": 70, "width": 800, "height": 600, "maximized": False}
    assert (data_dir / window_state.FILE_NAME).stat().st_mode & 0o777 == 0o600

    again = open_window()
    assert geometry(display, again.xid) == (130, 70, 800, 600)


@pytest.mark.window
@pytest.mark.timeout(240)
def test_a_place_off_every_screen_is_brought_back_on(open_window, display, data_dir):
    # As if the window was last closed on a monitor to the right that is unplugged since.
    data_dir.mkdir(parents=True)
    (data_dir / window_state.FILE_NAME).write_text(
        json.dumps({"x": 3000, "y": 200, "width": 900, "height": 700, "maximized": False})
    )
    window = open_window()
    x, y, width, height = geometry(display, window.xid)
    assert (width, height) == (900, 700)
    assert x >= 0 and x + width <= 1280 and y >= 0 and y + height <= 800
    assert (x, y) == (380, 100)


# Without a window: the file and the clamping.


def test_a_state_is_saved_and_loaded(tmp_path):
    state = WindowState(10, -20, 800, 600, maximized=True)
    window_state.save(tmp_path, state)
    assert window_state.load(tmp_path) == state
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary file, renamed


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{",
        "[]",
        '{"x": 1}',
        '{"x": "1", "y": 2, "width": 3, "height": 4}',
        '{"x": true, "y": 2, "width": 3, "height": 4}',
        '{"x": 1, "y": 2, "width": 0, "height": 4}',
        '{"x": 1.5, "y": 2, "width": 300, "height": 400}',
    ],
)
def test_a_damaged_state_file_means_the_default_place(tmp_path, content):
    (tmp_path / window_state.FILE_NAME).write_text(content)
    assert window_state.load(tmp_path) is None


def test_no_state_file_means_the_default_place(tmp_path):
    assert window_state.load(tmp_path) is None


@pytest.mark.parametrize(
    ("state", "screens", "expected"),
    [
        # On screen: unchanged.
        (WindowState(100, 50, 800, 600), [SCREEN], WindowState(100, 50, 800, 600)),
        # Off every screen (an unplugged monitor): onto the first, at its edge.
        (WindowState(3000, 200, 900, 700), [SCREEN], WindowState(380, 100, 900, 700)),
        (WindowState(-5000, -5000, 800, 600), [SCREEN], WindowState(0, 0, 800, 600)),
        # Larger than the screen: as large as the screen.
        (WindowState(0, 0, 4000, 3000), [SCREEN], WindowState(0, 0, 1280, 800)),
        # Partly off: pulled fully on.
        (WindowState(1000, 700, 800, 600), [SCREEN], WindowState(480, 200, 800, 600)),
        # Two screens: stays on the one it overlaps most, the second here.
        (
            WindowState(1500, 100, 800, 600),
            [SCREEN, Area(1280, 0, 1920, 1080)],
            WindowState(1500, 100, 800, 600),
        ),
        # The second screen gone: onto the first.
        (WindowState(1500, 100, 800, 600), [SCREEN], WindowState(480, 100, 800, 600)),
        # Smaller than the minimum: the minimum.
        (WindowState(10, 10, 100, 100), [SCREEN], WindowState(10, 10, 480, 400)),
        # Maximised stays maximised, over a normal geometry on the screen.
        (
            WindowState(3000, 0, 800, 600, maximized=True),
            [SCREEN],
            WindowState(480, 0, 800, 600, maximized=True),
        ),
        # No screens known: as saved.
        (WindowState(3000, 0, 800, 600), [], WindowState(3000, 0, 800, 600)),
    ],
)
def test_clamp_keeps_the_window_on_a_screen_that_exists(state, screens, expected):
    assert window_state.clamp(state, screens, MIN_SIZE) == expected


@pytest.mark.window
@pytest.mark.timeout(240)
def test_a_maximised_window_opens_maximised_and_keeps_its_normal_place(
    open_window, display, data_dir
):
    data_dir.mkdir(parents=True)
    saved = {"x": 100, "y": 60, "width": 700, "height": 500, "maximized": True}
    (data_dir / window_state.FILE_NAME).write_text(json.dumps(saved))
    window = open_window()
    window.page("/")
    state = subprocess.run(
        ["xprop", "-display", display, "-id", hex(window.xid), "_NET_WM_STATE"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # What a window manager maximises it by (none runs under Xvfb, so it keeps its size).
    assert "_NET_WM_STATE_MAXIMIZED_HORZ" in state and "_NET_WM_STATE_MAXIMIZED_VERT" in state
    assert geometry(display, window.xid) == (100, 60, 700, 500)
    close_window(display, window.xid)
    assert window.running.wait(10) == 0
    assert json.loads((data_dir / window_state.FILE_NAME).read_text()) == saved
