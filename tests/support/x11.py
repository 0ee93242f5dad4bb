"""Xvfb, and the Doorstep window on it: find it, measure it, photograph it, close it.

No window manager runs under bare Xvfb, so closing a window sends what a window manager's
close button would: a WM_DELETE_WINDOW client message, through Xlib via ctypes; keys are
pressed through XTest.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
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


@functools.cache
def xlib() -> ctypes.CDLL:
    """Xlib through ctypes, with the signatures of the calls these helpers make."""
    lib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    lib.XOpenDisplay.restype = ctypes.c_void_p
    lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    lib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.XFlush.argtypes = [ctypes.c_void_p]
    lib.XInternAtom.restype = ctypes.c_ulong
    lib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.XSendEvent.argtypes = [
        ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(_XEvent)
    ]  # fmt: skip
    lib.XStringToKeysym.restype = ctypes.c_ulong
    lib.XStringToKeysym.argtypes = [ctypes.c_char_p]
    lib.XKeysymToKeycode.restype = ctypes.c_ubyte
    lib.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    lib.XSetInputFocus.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong]
    lib.XDefaultRootWindow.restype = ctypes.c_ulong
    lib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    lib.XCreateSimpleWindow.restype = ctypes.c_ulong
    lib.XCreateSimpleWindow.argtypes = [
        ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_ulong, ctypes.c_ulong,
    ]  # fmt: skip
    lib.XStoreName.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_char_p]
    lib.XMapRaised.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    return lib


def open_display(display: str) -> int:
    """Open a connection to `display`; XCloseDisplay it when done."""
    dpy = xlib().XOpenDisplay(display.encode())
    if not dpy:
        raise RuntimeError(f"cannot open X display {display}")
    return dpy


@contextlib.contextmanager
def connection(display: str) -> Iterator[int]:
    """A connection to `display` for the length of the block."""
    dpy = open_display(display)
    try:
        yield dpy
    finally:
        xlib().XCloseDisplay(dpy)


def close_window(display: str, window: int) -> None:
    """Ask `window` to close as a window manager's close button does (WM_DELETE_WINDOW)."""
    x = xlib()
    with connection(display) as dpy:
        event = _XEvent()
        event.xclient.type = 33  # ClientMessage
        event.xclient.window = window
        event.xclient.message_type = x.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        event.xclient.format = 32
        event.xclient.data.l[0] = x.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        event.xclient.data.l[1] = 0  # CurrentTime
        if not x.XSendEvent(dpy, window, 0, 0, ctypes.byref(event)):
            raise RuntimeError("XSendEvent failed")
        x.XFlush(dpy)


def press_key(display: str, window: int, *keysyms: str) -> None:
    """Focus `window`, press `keysyms` in order and release them in reverse, as a user's
    keyboard would (XTest): "Return", or a chord such as "Control_L", "q"."""
    x = xlib()
    xtst = ctypes.CDLL(ctypes.util.find_library("Xtst") or "libXtst.so.6")
    xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
    with connection(display) as dpy:
        x.XSetInputFocus(dpy, window, 2, 0)  # RevertToParent, CurrentTime
        codes = [x.XKeysymToKeycode(dpy, x.XStringToKeysym(k.encode())) for k in keysyms]
        for code in codes:
            xtst.XTestFakeKeyEvent(dpy, code, 1, 0)
        for code in reversed(codes):
            xtst.XTestFakeKeyEvent(dpy, code, 0, 0)
        x.XSync(dpy, 0)
