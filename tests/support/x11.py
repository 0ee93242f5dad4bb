"""Xvfb, and the Doorstep window on it: find it, measure it, photograph it, close it.

No window manager runs under bare Xvfb, so closing a window sends what a window manager's
close button would: a WM_DELETE_WINDOW client message, through Xlib via ctypes.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def xvfb(size: str = "1280x800x24", timeout: float = 20.0) -> Iterator[str]:
    """Run Xvfb on a free display (it picks one itself via -displayfd); yield ':N'."""
    if not shutil.which("Xvfb"):
        raise RuntimeError("Xvfb is not installed (Debian package: xvfb)")
    read_fd, write_fd = os.pipe()
    # -noreset: by default the server resets when its last client leaves, and a window
    # launched during that reset cannot connect ("could not connect to display") - about
    # one connection in sixty when clients come and go back to back, as test after test does.
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", size, "-nolisten", "tcp", "-noreset"],
        pass_fds=[write_fd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        # Xvfb writes the display number once it accepts clients.
        buffer = b""
        deadline = time.monotonic() + timeout
        while not buffer.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([read_fd], [], [], max(remaining, 0))
            if not ready:
                raise TimeoutError("Xvfb did not start")
            chunk = os.read(read_fd, 16)
            if not chunk:
                raise RuntimeError(f"Xvfb exited with {proc.wait()}")
            buffer += chunk
        yield f":{int(buffer)}"
    finally:
        os.close(read_fd)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def xwininfo(display: str, *args: str, check: bool = False) -> str:
    """Return what `xwininfo ARGS` prints about `display`."""
    return subprocess.run(
        ["xwininfo", *args, "-display", display], capture_output=True, text=True, check=check
    ).stdout


def find_window(display: str, title: str) -> int | None:
    """Return the id of a mapped top-level window named `title`, or None."""
    for line in xwininfo(display, "-root", "-tree").splitlines():
        match = re.match(r'\s*(0x[0-9a-f]+) "(.*)": .*?(\d+)x(\d+)\+', line)
        if match and match.group(2) == title and int(match.group(3)) > 100:
            window = int(match.group(1), 16)
            if "IsViewable" in xwininfo(display, "-id", hex(window)):
                return window
    return None


def window_size(display: str, window: int) -> tuple[int, int]:
    """Return the window's (width, height)."""
    out = xwininfo(display, "-id", hex(window), check=True)
    width = int(re.search(r"Width: (\d+)", out).group(1))  # type: ignore[union-attr]
    height = int(re.search(r"Height: (\d+)", out).group(1))  # type: ignore[union-attr]
    return width, height


def screenshot(display: str, path: Path, window: int | None = None) -> Path:
    """Save a PNG of `window` (or the whole screen) with ImageMagick's import."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = hex(window) if window else "root"
    subprocess.run(
        ["import", "-display", display, "-window", target, str(path)], check=True, timeout=30
    )
    return path


class _ClientMessageData(ctypes.Union):
    _fields_ = [("b", ctypes.c_char * 20), ("s", ctypes.c_short * 10), ("l", ctypes.c_long * 5)]


class _XClientMessageEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", _ClientMessageData),
    ]


class _XEvent(ctypes.Union):
    _fields_ = [("xclient", _XClientMessageEvent), ("pad", ctypes.c_long * 24)]


def close_window(display: str, window: int) -> None:
    """Ask `window` to close as a window manager's close button does (WM_DELETE_WINDOW)."""
    xlib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlib.XSendEvent.argtypes = [
        ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(_XEvent)
    ]  # fmt: skip
    xlib.XFlush.argtypes = [ctypes.c_void_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = xlib.XOpenDisplay(display.encode())
    if not dpy:
        raise RuntimeError(f"cannot open X display {display}")
    try:
        event = _XEvent()
        event.xclient.type = 33  # ClientMessage
        event.xclient.window = window
        event.xclient.message_type = xlib.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        event.xclient.format = 32
        event.xclient.data.l[0] = xlib.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        event.xclient.data.l[1] = 0  # CurrentTime
        if not xlib.XSendEvent(dpy, window, 0, 0, ctypes.byref(event)):
            raise RuntimeError("XSendEvent failed")
        xlib.XFlush(dpy)
    finally:
        xlib.XCloseDisplay(dpy)


def press_key(display: str, window: int, keysym: str = "Return") -> None:
    """Focus `window` and press and release `keysym` on it, as a user's keyboard would (XTest)."""
    xlib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    xtst = ctypes.CDLL(ctypes.util.find_library("Xtst") or "libXtst.so.6")
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XStringToKeysym.restype = ctypes.c_ulong
    xlib.XStringToKeysym.argtypes = [ctypes.c_char_p]
    xlib.XKeysymToKeycode.restype = ctypes.c_ubyte
    xlib.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    xlib.XSetInputFocus.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong]
    xlib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
    dpy = xlib.XOpenDisplay(display.encode())
    if not dpy:
        raise RuntimeError(f"cannot open X display {display}")
    try:
        xlib.XSetInputFocus(dpy, window, 2, 0)  # RevertToParent, CurrentTime
        keycode = xlib.XKeysymToKeycode(dpy, xlib.XStringToKeysym(keysym.encode()))
        xtst.XTestFakeKeyEvent(dpy, keycode, 1, 0)
        xtst.XTestFakeKeyEvent(dpy, keycode, 0, 0)
        xlib.XSync(dpy, 0)
    finally:
        xlib.XCloseDisplay(dpy)
