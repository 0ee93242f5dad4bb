"""desktop.windows through its seams: the Windows calls are replaced, the decisions run here."""

from __future__ import annotations

import os
import sys

import pytest

from desktop import windows
from webapp.paths import ensure_private_dir

RUNTIME = "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
CANARY = "{65C35B14-6C1D-4122-AC46-7148CC9D6497}"
HKLM_64 = ("HKEY_LOCAL_MACHINE", rf"SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\{RUNTIME}")
HKLM_32 = ("HKEY_LOCAL_MACHINE", rf"SOFTWARE\Microsoft\EdgeUpdate\Clients\{RUNTIME}")
HKCU = ("HKEY_CURRENT_USER", rf"SOFTWARE\Microsoft\EdgeUpdate\Clients\{RUNTIME}")
SID = "S-1-5-21-1004336348-1177238915-682003330-1001"


def registry(values: dict[tuple[str, str], str]):
    """A registry reader over `values`, recording what it was asked."""

    def read(hive: str, subkey: str) -> str | None:
        read.asked.append((hive, subkey))
        return values.get((hive, subkey))

    read.asked = []
    return read


# --- Mark-of-the-Web ---------------------------------------------------------------------


@pytest.fixture
def bundle(tmp_path):
    """A onedir bundle's shape: the executables, and _internal/ with nested folders."""
    root = tmp_path / "doorstep"
    for name in (
        "doorstep.exe",
        "doorstep-console.exe",
        "_internal/python311.dll",
        "_internal/pythonnet/runtime/Python.Runtime.dll",
        "_internal/webview/lib/Microsoft.Web.WebView2.Core.dll",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    return root


def test_mark_of_the_web_is_cleared_from_every_file_on_windows(bundle, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    removed = []
    marked = {"doorstep.exe", "Python.Runtime.dll", "Microsoft.Web.WebView2.Core.dll"}

    def remove(path: str) -> None:
        removed.append(path)
        file = os.path.basename(path.removesuffix(":Zone.Identifier"))
        if file == "doorstep-console.exe":
            raise PermissionError(path)  # held by another process: skipped, not fatal
        if file not in marked:
            raise FileNotFoundError(path)  # no stream: nothing to clear

    assert windows.clear_mark_of_the_web(bundle, remove=remove) == 3
    files = sorted(str(p) for p in bundle.rglob("*") if p.is_file())
    assert sorted(removed) == [f"{file}:Zone.Identifier" for file in files]


def test_mark_of_the_web_is_left_alone_off_windows(bundle, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    removed = []
    assert windows.clear_mark_of_the_web(bundle, remove=removed.append) == 0
    assert removed == []


@pytest.mark.parametrize(
    ("platform", "frozen", "expected"),
    [("win32", True, True), ("win32", False, False), ("linux", True, False)],
)
def test_mark_of_the_web_is_cleared_only_by_a_frozen_windows_build(
    monkeypatch, platform, frozen, expected
):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(sys, "frozen", frozen, raising=False)
    assert windows.should_clear_mark_of_the_web() is expected


# --- WebView2 Runtime --------------------------------------------------------------------


@pytest.mark.parametrize("key", [HKLM_64, HKLM_32, HKCU], ids=["hklm-64", "hklm-32", "hkcu"])
def test_webview2_is_found_under_each_documented_key(key):
    assert windows.webview2_version(registry({key: "131.0.2903.70"})) == "131.0.2903.70"


def test_webview2_found_per_user_only(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    read = registry({HKCU: "131.0.2903.70"})
    assert not windows.webview2_missing(read)
    assert ("HKEY_LOCAL_MACHINE", HKLM_64[1]) in read.asked  # machine-wide looked at too


@pytest.mark.parametrize("pv", ["0.0.0.0", "", " ", "85.0.564.44", "garbage"])
def test_webview2_uninstalled_empty_or_too_old_counts_as_missing(monkeypatch, pv):
    monkeypatch.setattr(sys, "platform", "win32")
    read = registry({HKLM_64: pv, HKCU: pv})
    assert windows.webview2_version(read) is None
    assert windows.webview2_missing(read)


def test_webview2_missing_when_no_key_exists(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    read = registry({})
    assert windows.webview2_missing(read)
    # The Runtime and the preview channels, at all three places.
    assert len(read.asked) == len(windows.WEBVIEW2_CLIENT_IDS) * 3


def test_webview2_a_preview_channel_is_enough_as_for_pywebview():
    key = ("HKEY_CURRENT_USER", rf"SOFTWARE\Microsoft\EdgeUpdate\Clients\{CANARY}")
    assert windows.webview2_version(registry({HKLM_64: "0.0.0.0", key: "133.0.1.0"})) == (
        "133.0.1.0"
    )


def test_webview2_is_not_looked_for_off_windows(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    read = registry({})
    assert not windows.webview2_missing(read)
    assert read.asked == []


def test_missing_webview2_message_says_what_to_install():
    message = windows.MISSING_WEBVIEW2_MESSAGE
    assert "Microsoft Edge WebView2 Runtime" in message
    assert "Evergreen" in message
    assert "https://developer.microsoft.com/microsoft-edge/webview2/" in message
    assert "start Doorstep again" in message


# --- Owner-only folders ------------------------------------------------------------------


def test_owner_only_sddl_is_protected_and_inherited():
    assert windows.owner_only_sddl(SID) == f"D:P(A;OICI;FA;;;{SID})(A;OICI;FA;;;SY)"


@pytest.mark.parametrize("sid", ["", "SY", f"{SID})(A;OICI;FA;;;WD"])
def test_owner_only_sddl_takes_a_sid_only(sid):
    with pytest.raises(ValueError):
        windows.owner_only_sddl(sid)


def test_same_dacl_wants_protection_and_the_same_entries():
    wanted = windows.owner_only_sddl(SID)
    # As Windows writes it back after SetNamedSecurityInfoW (auto-inherited, lower case SID).
    assert windows.same_dacl(f"D:PAI(A;OICI;FA;;;SY)(a;oici;fa;;;{SID.lower()})", wanted)
    assert not windows.same_dacl(f"D:AI(A;OICIID;FA;;;{SID})(A;OICIID;FA;;;SY)", wanted)
    assert not windows.same_dacl(f"{wanted}(A;OICI;0x1200a9;;;BU)", wanted)
    assert not windows.same_dacl("D:NO_ACCESS_CONTROL", wanted)
    assert not windows.same_dacl("", wanted)


LOCAL = r"C:\Users\mei\AppData\Local"
ROAMING = r"C:\Users\mei\AppData\Roaming"
ENV = {"LOCALAPPDATA": LOCAL, "APPDATA": ROAMING}


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        (rf"{LOCAL}\Doorstep", False),  # the default data dir
        (r"c:\users\MEI\appdata\local\doorstep\backups", False),  # case differs
        ("C:/Users/mei/AppData/Local/Doorstep/", False),  # other slashes
        (rf"{ROAMING}\Doorstep", False),
        (LOCAL, False),
        (r"D:\Doorstep", True),  # --data-dir elsewhere
        (r"C:\Users\mei\Documents\Doorstep", True),
        (r"C:\Users\mei\AppData\Local2\Doorstep", True),  # a prefix, not a parent
        (r"C:\Users\mei\AppData\Local\..\LocalLow\Doorstep", True),
        (r"\\server\share\Doorstep", True),
    ],
)
def test_owner_only_acl_is_needed_outside_appdata(folder, expected):
    assert windows.needs_owner_only_acl(folder, ENV) is expected


def test_owner_only_acl_is_needed_everywhere_without_the_variables():
    assert windows.needs_owner_only_acl(rf"{LOCAL}\Doorstep", {"LOCALAPPDATA": ""})


@pytest.fixture
def fake_dacl(monkeypatch, tmp_path):
    """Pretend to be Windows, with AppData in tmp_path and the Win32 calls recorded."""
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "AppData" / "Local"))
    monkeypatch.setenv("APPDATA", str(tmp_path / "AppData" / "Roaming"))
    applied: list[str] = []
    monkeypatch.setattr(windows, "apply_owner_only_dacl", lambda path: applied.append(path) or True)
    return applied


def test_ensure_private_dir_restricts_a_data_dir_elsewhere_on_windows(fake_dacl, tmp_path):
    folder = ensure_private_dir(tmp_path / "USB" / "Doorstep" / "backups")
    assert folder.is_dir()
    assert fake_dacl == [str(folder)]


def test_ensure_private_dir_leaves_appdata_to_its_own_acl_on_windows(fake_dacl, tmp_path):
    ensure_private_dir(tmp_path / "AppData" / "Local" / "Doorstep")
    ensure_private_dir(tmp_path / "AppData" / "Roaming" / "Doorstep")
    assert fake_dacl == []


def test_ensure_private_dir_calls_no_win32_off_windows(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(windows, "apply_owner_only_dacl", pytest.fail)
    folder = ensure_private_dir(tmp_path / "Doorstep")
    assert folder.stat().st_mode & 0o777 == 0o700
