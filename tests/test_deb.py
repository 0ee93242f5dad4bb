"""The Linux package: build/build.py's .deb made from the bundle in dist/, checked, installed,
run as a user would (from /usr/bin and from the desktop entry) and removed.

Marked `frozen`, so it reuses the one bundle build and skips (or fails, with
DOORSTEP_REQUIRE_FROZEN=1) without it. The package is made here with build.py's own
make_deb (a few seconds: no PyInstaller run). Installing it needs root and a machine where no
`doorstep` package is installed already (CI); elsewhere those tests skip.
"""

from __future__ import annotations

import configparser
import hashlib
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import REPO_ROOT
from tests.support.bundle import BUNDLE, INTERNAL
from tests.support.devtools import loaded_page
from tests.support.forms import Browser
from tests.support.processes import free_port, launch, port_is_free, serving, wait_for
from tests.support.x11 import close_window, find_window, xvfb

pytestmark = [
    pytest.mark.frozen,
    pytest.mark.usefixtures("frozen_app"),
    pytest.mark.timeout(300),  # the first test makes the .deb; the window starts cold
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or not shutil.which("dpkg-deb"),
        reason="the .deb is made on Debian-like Linux (dpkg-deb)",
    ),
]

DEB_BUDGET_MB = 160
START_LIMIT = 90.0
EXIT_LIMIT = 5.0
INSTALLED = Path("/opt/doorstep")


def load_build_script() -> ModuleType:
    """Import build/build.py by its path, as the script it is."""
    spec = importlib.util.spec_from_file_location(
        "doorstep_build", REPO_ROOT / "build" / "build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build() -> ModuleType:
    """build/build.py as a module."""
    return load_build_script()


@pytest.fixture(scope="module")
def deb(build, tmp_path_factory) -> Path:
    """The .deb, made from dist/doorstep/ by build.py's make_deb."""
    out = tmp_path_factory.mktemp("deb") / build.deb_name(build.version(), build.deb_architecture())
    build.make_deb(BUNDLE, out, build.version())
    return out


@pytest.fixture(scope="module")
def unpacked(deb, tmp_path_factory) -> Path:
    """The .deb's file tree, extracted without installing it."""
    root = tmp_path_factory.mktemp("unpacked")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def field(deb: Path, name: str) -> str:
    """Return one field of the .deb's control file."""
    out = subprocess.run(
        ["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def depends(deb: Path) -> set[str]:
    """Return the package names in Depends (alternatives and versions left out)."""
    return {
        re.split(r"[\s(]", part.strip())[0]
        for alternatives in field(deb, "Depends").split(",")
        for part in alternatives.split("|")
    }


def desktop_entry(path: Path) -> dict[str, str]:
    """Return the [Desktop Entry] group of a desktop file."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def tool_or_fail(name: str, package: str) -> str:
    """Return the path of a validator; fail (it is part of the test set-up) when missing."""
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is missing: install Debian's {package} (scripts/debian-packages.txt)")
    return found


# --- The package, without installing it --------------------------------------------------


def test_the_deb_says_what_it_is_and_stays_within_the_budget(build, deb):
    assert field(deb, "Package") == "doorstep"
    assert field(deb, "Version") == build.version()
    assert field(deb, "Architecture") == build.deb_architecture()
    assert int(field(deb, "Installed-Size")) > 300 * 1024  # KiB: the bundle is in it
    assert field(deb, "Recommends") == "fonts-noto-cjk"  # Chinese renders without boxes
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    # No maintainer scripts: dpkg triggers refresh the icon cache and desktop database.
    assert not re.search(r"\b(preinst|postinst|prerm|postrm)\b", info.stdout), info.stdout
    assert deb.stat().st_size <= DEB_BUDGET_MB * 1e6, deb.stat().st_size


def test_the_deb_installs_the_bundle_the_command_the_entry_icons_and_metainfo(build, deb):
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    entries = {}
    for line in listing.splitlines():
        mode, owner, *_rest = line.split(None, 5)
        name = line.split(" ./", 1)[1]
        entries["/" + name.split(" -> ")[0].rstrip("/")] = (mode, owner, line)
    app_id = build.APP_ID
    expected = [
        "/opt/doorstep/doorstep",
        "/opt/doorstep/_internal/PyQt6/Qt6/libexec/QtWebEngineProcess",
        f"/usr/share/applications/{app_id}.desktop",
        f"/usr/share/metainfo/{app_id}.metainfo.xml",
        f"/usr/share/icons/hicolor/scalable/apps/{app_id}.svg",
        *(f"/usr/share/icons/hicolor/{n}x{n}/apps/{app_id}.png" for n in (48, 128, 256)),
    ]
    assert [path for path in expected if path not in entries] == []
    assert entries["/opt/doorstep/doorstep"][0] == "-rwxr-xr-x"
    assert entries["/usr/bin/doorstep"][2].endswith("-> /opt/doorstep/doorstep")
    assert {owner for _mode, owner, _line in entries.values()} == {"root/root"}
    # Nothing outside /opt/doorstep, the command and /usr/share's desktop integration.
    stray = [
        path
        for path in entries
        if path not in ("/", "/opt", "/usr", "/usr/bin", "/usr/share", "/usr/bin/doorstep")
        and not path.startswith(("/opt/doorstep", "/usr/share/"))
    ]
    assert stray == []


def test_the_desktop_entry_and_metainfo_validate_and_share_one_id(build, unpacked):
    app_id = build.APP_ID
    entry_path = unpacked / "usr/share/applications" / f"{app_id}.desktop"
    metainfo_path = unpacked / "usr/share/metainfo" / f"{app_id}.metainfo.xml"
    validate = tool_or_fail("desktop-file-validate", "desktop-file-utils")
    result = subprocess.run([validate, str(entry_path)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    appstream = tool_or_fail("appstreamcli", "appstream")
    result = subprocess.run(
        [appstream, "validate", "--no-net", str(metainfo_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr

    entry = desktop_entry(entry_path)
    assert entry["Icon"] == app_id
    assert entry["StartupWMClass"] == app_id
    assert shlex.split(entry["Exec"])[0] == "/usr/bin/doorstep"
    component = ET.parse(metainfo_path).getroot()
    assert component.findtext("id") == app_id
    assert component.findtext("launchable[@type='desktop-id']") == f"{app_id}.desktop"
    release = component.find("releases/release")
    assert release is not None and release.get("version") == build.version()
    # The icons are what their folders say.
    for size in (48, 128, 256):
        png = (unpacked / f"usr/share/icons/hicolor/{size}x{size}/apps/{app_id}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(png[16:20], "big") == int.from_bytes(png[20:24], "big") == size
    svg = unpacked / f"usr/share/icons/hicolor/scalable/apps/{app_id}.svg"
    assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"


@pytest.mark.skipif(not shutil.which("ldd") or not shutil.which("dpkg"), reason="ldd and dpkg")
def test_depends_names_every_system_library_the_bundle_links_to(deb):
    # As control.in says how Depends was derived: ldd over the bundle, the libraries found
    # outside it, and the packages that hold them (dpkg -S, with and without /usr: merged-/usr
    # systems register /lib paths).
    lib_dirs = [str(INTERNAL), str(INTERNAL / "PyQt6" / "Qt6" / "lib")]
    env = {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(lib_dirs)}
    elves = [p for p in BUNDLE.rglob("*") if p.is_file() and ".so" in p.name]
    elves += [BUNDLE / "doorstep", INTERNAL / "PyQt6" / "Qt6" / "libexec" / "QtWebEngineProcess"]
    outside: set[str] = set()
    for path in elves:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env).stdout
        for match in re.finditer(r"=> (/\S+)", out):
            if not Path(match.group(1)).resolve().is_relative_to(BUNDLE.resolve()):
                outside.add(match.group(1))
    assert outside, "ldd found no system library at all"
    packages: dict[str, str] = {}
    for library in sorted(outside):
        candidates = {library, str(Path(library).resolve())}
        candidates |= {c.removeprefix("/usr") for c in list(candidates)}
        found = subprocess.run(
            ["dpkg", "-S", *sorted(candidates)], capture_output=True, text=True
        ).stdout
        names = {line.split(":")[0] for line in found.splitlines() if ": " in line}
        assert names, f"no Debian package holds {library}"
        packages[library] = sorted(names)[0]
    missing = {lib: pkg for lib, pkg in packages.items() if pkg not in depends(deb)}
    assert missing == {}, "add to build/linux/control.in's Depends"


# --- Installed, run, removed (root only) ---------------------------------------------------


def installed_version() -> str | None:
    """Return the installed doorstep package's version, or None."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Status} ${Version}", "doorstep"],
        capture_output=True,
        text=True,
    )
    words = out.stdout.split()
    return words[-1] if out.returncode == 0 and "installed" in words[:3] else None


@pytest.fixture(scope="module")
def installed(deb) -> Iterator[Path]:
    """The .deb installed with `dpkg -i`; removed again at the end if a test left it."""
    if os.geteuid() != 0:
        pytest.skip("installing the .deb needs root (as in CI)")
    if installed_version() is not None:
        pytest.skip("a doorstep package is installed on this machine: not replacing it")
    if INSTALLED.exists():
        pytest.skip(f"{INSTALLED} exists and belongs to no package: not touching it")
    result = subprocess.run(["dpkg", "-i", str(deb)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        yield Path("/usr/bin/doorstep")
    finally:
        if installed_version() is not None:
            subprocess.run(["dpkg", "-r", "doorstep"], capture_output=True, check=False)


@pytest.fixture(scope="module")
def user_home(tmp_path_factory) -> Path:
    """A user's folders for the installed app: XDG data, state and cache, a --data-dir."""
    return tmp_path_factory.mktemp("user")


def user_env(home: Path) -> dict[str, str]:
    """The XDG folders of `home`, so the app keeps its data there as it would in ~."""
    return {
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }


def test_installed_command_serves_register_login_logout(installed, user_home):
    version = subprocess.run([str(installed), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("Doorstep "), version
    data_dir = user_home / "serve-data"
    with serving([str(installed)], data_dir, "--port", "0", env=user_env(user_home)) as running:
        browser = Browser()
        browser.get(running.url)  # the token in the URL becomes a cookie
        base = running.base_url
        browser.register(base, "Mei", "mei@example.com", "correct horse battery")
        assert browser.path == "/login", browser.alerts()
        browser.post(
            base + "login", {"email": "mei@example.com", "password": "correct horse battery"}
        )
        assert "Welcome back, Mei!" in browser.html, browser.alerts()
        browser.post(base + "logout", {})
        assert "You have been logged out." in browser.alerts()
        assert running.stop(10) == 0
    assert (data_dir / "doorstep.db").is_file()


@pytest.fixture(scope="module")
def display(installed) -> Iterator[str]:
    """An Xvfb display for the installed app's window."""
    missing = [tool for tool in ("Xvfb", "xwininfo", "xprop") if not shutil.which(tool)]
    if missing:
        pytest.fail(f"missing {missing}: install Debian's xvfb and x11-utils")
    with xvfb() as name:
        yield name


# What the window opened from the desktop entry said about itself (for the test below).
SEEN: dict[str, list[str]] = {}


def x_property(display: str, window: int, name: str) -> list[str]:
    """Return the strings of a window's X property (`xprop`), or [] when it is not set."""
    out = subprocess.run(
        ["xprop", "-display", display, "-id", hex(window), name], capture_output=True, text=True
    ).stdout
    return re.findall(r'"([^"]*)"', out.partition("=")[2])


def test_the_desktop_entry_s_exec_line_opens_the_window(build, installed, display, user_home):
    entry = desktop_entry(Path("/usr/share/applications") / f"{build.APP_ID}.desktop")
    # As a launcher runs it: the Exec line split, its field codes (%f, %U, ...) dropped.
    command = [word for word in shlex.split(entry["Exec"]) if not re.fullmatch(r"%[a-zA-Z]", word)]
    debug_port = free_port()
    env = {
        **user_env(user_home),
        "DISPLAY": display,
        # Only to read the page the window shows (tests/support/devtools.py).
        "QTWEBENGINE_REMOTE_DEBUGGING": str(debug_port),
    }
    running = launch(command, [], user_home / "window-logs", env=env)
    try:

        def shown() -> int | None:
            if running.proc.poll() is not None:
                raise AssertionError(f"exited {running.proc.returncode}:\n{running.stderr()}")
            return find_window(display, "Doorstep")

        xid = wait_for(shown, START_LIMIT, "the window")
        assert xid is not None  # wait_for returns only what is truthy
        page = wait_for(
            lambda: loaded_page(debug_port, "http://127.0.0.1:"), START_LIMIT, "the landing page"
        )
        assert page is not None and page["title"] == "Doorstep", page
        address = re.match(r"http://127\.0\.0\.1:(\d+)/", page["url"])
        assert address, page["url"]
        port = int(address.group(1))
        SEEN["WM_CLASS"] = x_property(display, xid, "WM_CLASS")
        SEEN["_GTK_APPLICATION_ID"] = x_property(display, xid, "_GTK_APPLICATION_ID")
        # No --data-dir on the Exec line: the per-user data folder, under XDG_DATA_HOME.
        assert (user_home / "data" / "Doorstep").is_dir()
        started = time.monotonic()
        close_window(display, xid)  # what a window manager's close button sends
        status = running.wait(EXIT_LIMIT + 30)
        assert status == 0, running.stderr()
        assert time.monotonic() - started <= EXIT_LIMIT
        assert port_is_free(port)
    finally:
        running.kill()


def test_the_window_names_the_desktop_entry_so_the_launcher_groups_it(build):
    if "WM_CLASS" not in SEEN:
        pytest.skip("the window test above did not run")
    # Shells match StartupWMClass against WM_CLASS's class (GNOME also its instance), and
    # GNOME and KDE read the desktop file's name from _GTK_APPLICATION_ID or the Wayland app_id.
    assert SEEN["WM_CLASS"][1:] == [build.APP_ID], SEEN
    assert SEEN["_GTK_APPLICATION_ID"] == [build.APP_ID], SEEN


def snapshot(folder: Path) -> dict[str, str]:
    """Return every file under `folder` and its SHA-256."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_dpkg_r_removes_every_installed_file_and_keeps_the_user_s_data(build, installed, user_home):
    before = snapshot(user_home)
    assert any(name.endswith("doorstep.db") for name in before), "no user data to keep"
    result = subprocess.run(["dpkg", "-r", "doorstep"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed_version() is None
    assert not INSTALLED.exists(), sorted(map(str, INSTALLED.rglob("*")))[:20]
    assert not installed.exists() and not installed.is_symlink()
    assert not (Path("/usr/share/applications") / f"{build.APP_ID}.desktop").exists()
    assert not (Path("/usr/share/metainfo") / f"{build.APP_ID}.metainfo.xml").exists()
    assert not list(Path("/usr/share/icons/hicolor").glob(f"*/apps/{build.APP_ID}.*"))
    assert snapshot(user_home) == before
