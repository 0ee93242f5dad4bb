"""One window per data folder: a second launch brings the first window forward and exits.

Under Xvfb there is no window manager, so "forward" is observed as the X stacking order:
the window is raised above another application's. (Activation, Qt's activateWindow, is a
focus request the X server ignores there: Qt stamps it with the time of its last event.) The lock is a POSIX record lock
in the data folder (desktop/instance.py), which a SIGKILL drops with its process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from desktop import instance
from tests import test_window
from tests.support.processes import child_env, launch, start_serve, wait_for
from tests.support.x11 import open_display, xlib, xwininfo

# The window tests' fixtures: an Xvfb display for this module, and windows opened on it.
display = test_window.display
open_window = test_window.open_window

# The most a second launch may take to hand over to the first window and exit.
HANDOVER_LIMIT = 2.0


def doorstep_windows(display: str) -> list[int]:
    """Return the ids of the mapped top-level windows named "Doorstep"."""
    found = []
    for line in xwininfo(display, "-root", "-children").splitlines():
        match = re.match(r'\s*(0x[0-9a-f]+) "Doorstep": .*?(\d+)x(\d+)\+', line)
        if match and int(match.group(2)) > 100:
            window = int(match.group(1), 16)
            if "IsViewable" in xwininfo(display, "-id", hex(window)):
                found.append(window)
    return found


class CoverWindow:
    """A plain X window over the whole screen, as another application's window would be."""

    def __init__(self, display: str) -> None:
        self.xlib = xlib()
        self.dpy = open_display(display)  # closing it destroys the window
        root = self.xlib.XDefaultRootWindow(self.dpy)
        self.id = self.xlib.XCreateSimpleWindow(self.dpy, root, 0, 0, 1280, 800, 0, 0, 0)
        self.xlib.XStoreName(self.dpy, self.id, b"cover")
        self.xlib.XMapRaised(self.dpy, self.id)
        self.xlib.XSync(self.dpy, 0)

    def close(self) -> None:
        """Destroy the window (closing the connection does)."""
        self.xlib.XCloseDisplay(self.dpy)


def stacking(display: str) -> list[int]:
    """Return the root's children, top to bottom (as xwininfo lists them)."""
    lines = xwininfo(display, "-root", "-children").splitlines()
    return [int(m.group(1), 16) for line in lines if (m := re.match(r"\s+(0x[0-9a-f]+) ", line))]


def window_env(display: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a window launch on `display`, as open_window gives it."""
    return {"DISPLAY": display, "XDG_CACHE_HOME": str(tmp_path / "cache")}


def children_of(pid: int) -> list[int]:
    """Return the pids of a process's children (Linux)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


@pytest.mark.window
@pytest.mark.timeout(240)
def test_a_second_launch_brings_the_first_window_forward_and_exits(
    open_window, display, doorstep, data_dir, tmp_path
):
    first = open_window()
    first.page("/")
    cover = CoverWindow(display)
    try:
        assert stacking(display)[0] == cover.id

        started = time.monotonic()
        second = launch(
            doorstep, ["--data-dir", str(data_dir)], tmp_path, window_env(display, tmp_path)
        )
        status = second.wait(HANDOVER_LIMIT + 10)
        elapsed = time.monotonic() - started
        assert status == 0, second.stderr()
        assert elapsed <= HANDOVER_LIMIT, f"the second launch took {elapsed:.2f} s"

        # The first window came forward, above the other application's.
        wait_for(lambda: stacking(display)[0] == first.xid, 10, "the first window on top")
    finally:
        cover.close()
    assert doorstep_windows(display) == [first.xid]
    # The first still works: its page answers and it navigates.
    first.run_js("location.href = '/login'; true")
    assert "Log in" in first.page("/login", timeout=30)["text"]
    log = (data_dir / "logs" / "doorstep.log").read_text(encoding="utf-8")
    assert "brought its window forward" in log and "bringing it to the front" in log


@pytest.mark.window
@pytest.mark.timeout(240)
def test_another_data_folder_gets_its_own_window(open_window, display, doorstep, tmp_path):
    first = open_window()
    first.page("/")
    other = launch(
        doorstep,
        ["--data-dir", str(tmp_path / "other-data")],
        tmp_path,
        window_env(display, tmp_path),
    )
    try:
        wait_for(lambda: len(doorstep_windows(display)) == 2, 90, "a second window")
        assert other.proc.poll() is None
    finally:
        other.kill()


@pytest.mark.window
@pytest.mark.timeout(240)
def test_serve_on_a_folder_whose_window_is_open_is_allowed(open_window, doorstep, data_dir):
    first = open_window()
    first.page("/")
    served = start_serve(doorstep, data_dir)
    try:
        assert served.url.startswith("http://127.0.0.1:")
    finally:
        assert served.stop() == 0
    assert "window" not in served.stderr().lower()
    assert first.running.proc.poll() is None


@pytest.mark.window
@pytest.mark.timeout(240)
def test_after_a_crash_the_next_launch_opens_a_window(open_window, display, data_dir):
    first = open_window()
    first.page("/")
    server = children_of(first.running.proc.pid)
    assert server, "the window's server child"
    for pid in [first.running.proc.pid, *server]:
        os.kill(pid, signal.SIGKILL)
    first.running.wait(10)
    wait_for(lambda: not doorstep_windows(display), 10, "the killed window to go")
    assert (data_dir / instance.LOCK_NAME).exists()  # left behind, as after any crash

    again = open_window()
    assert "Create account" in again.page("/")["text"]
    assert doorstep_windows(display) == [again.xid]


# Without a window: the lock and the channel against a holder in another process.

HOLDER = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from desktop import instance
    lock = instance.claim(Path(sys.argv[1]))
    assert lock is not None
    if sys.argv[2] == "listen":
        lock.listen(lambda: print("shown", flush=True))
    print("holding", flush=True)
    sys.stdin.read()  # until the test closes it
    """
)


@pytest.fixture
def holder(tmp_path, data_dir):
    """Start a process that takes the data folder's lock (and listens, if asked)."""
    procs: list[subprocess.Popen[str]] = []

    def start(mode: str) -> subprocess.Popen[str]:
        data_dir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(data_dir), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "holding\n"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.communicate(timeout=10)  # reaps it and closes its pipes


@pytest.mark.timeout(60)
def test_a_holder_that_listens_is_asked_to_show_itself(holder, data_dir):
    proc = holder("listen")
    assert instance.claim(data_dir) is None
    assert proc.stdout is not None and proc.stdout.readline() == "shown\n"
    channel = data_dir / instance.CHANNEL_NAME
    assert channel.stat().st_mode & 0o777 == 0o600
    assert (data_dir / instance.LOCK_NAME).stat().st_mode & 0o777 == 0o600


@pytest.mark.timeout(60)
def test_a_request_without_the_secret_is_refused(holder, data_dir):
    holder("listen")
    channel = json.loads((data_dir / instance.CHANNEL_NAME).read_text())
    channel["secret"] = "guessed"
    (data_dir / instance.CHANNEL_NAME).write_text(json.dumps(channel))
    assert not instance.ask_to_show(data_dir)


@pytest.mark.timeout(60)
def test_a_holder_that_never_answers_is_reported_not_waited_for(holder, data_dir):
    holder("silent")
    started = time.monotonic()
    with pytest.raises(instance.AlreadyRunningNoAnswer):
        instance.claim(data_dir, timeout=0.5)
    assert time.monotonic() - started < 2


@pytest.mark.timeout(60)
def test_the_lock_dies_with_its_process_and_a_stale_channel_is_ignored(holder, data_dir):
    proc = holder("listen")
    proc.kill()
    proc.wait(10)
    assert (data_dir / instance.CHANNEL_NAME).exists()  # what a crash leaves
    lock = instance.claim(data_dir, timeout=0.5)
    assert lock is not None
    assert not (data_dir / instance.CHANNEL_NAME).exists()
    lock.release()


@pytest.mark.timeout(60)
def test_the_server_child_forked_by_the_window_does_not_hold_the_lock(data_dir):
    # The window process forks its server child after taking the lock (desktop/__main__.py).
    data_dir.mkdir(parents=True)
    lock = instance.claim(data_dir)
    assert lock is not None
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what a fork()ed server child inherits, it keeps until it ends
        os.close(write_fd)
        os.read(read_fd, 1)
        os._exit(0)
    os.close(read_fd)
    try:
        lock.release()
        # The child still runs, with a copy of the descriptor: the lock must be free anyway.
        again = instance.InstanceLock.try_acquire(data_dir)
        assert again is not None
        again.release()
    finally:
        os.close(write_fd)
        os.waitpid(pid, 0)
