"""Windows specifics: downloaded files' mark, the WebView2 Runtime, owner-only folders, Ctrl+Q.

Imported by the shell before anything heavy and by the webapp (webapp.paths), so this module
imports the standard library only, and Windows-only modules (winreg, ctypes' WinDLL) inside
the functions that run on Windows. The pure parts take their inputs as arguments, so they
are tested on Linux (tests/test_windows.py).
"""

from __future__ import annotations

import logging
import ntpath
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import cast

log = logging.getLogger("doorstep.windows")

# --- Mark-of-the-Web ---------------------------------------------------------------------

# Windows records a download's origin in this alternate data stream of each extracted file;
# .NET Framework then refuses to load pythonnet's Python.Runtime.dll from such a folder.
ZONE_STREAM = ":Zone.Identifier"


def should_clear_mark_of_the_web() -> bool:
    """Tell whether this is a frozen build on Windows (a folder that may come from a .zip)."""
    return sys.platform == "win32" and bool(getattr(sys, "frozen", False))


def clear_mark_of_the_web(folder: Path, remove: Callable[[str], None] = os.remove) -> int:
    """Remove the Zone.Identifier stream of every file under `folder` (Windows); return how many."""
    if sys.platform != "win32":
        return 0
    cleared = 0
    # Every file, not just the DLLs: .NET checks the assemblies, and other tools
    # (SmartScreen, Office, script hosts) check the rest.
    for dirpath, _dirnames, filenames in os.walk(folder):
        for name in filenames:
            try:
                remove(os.path.join(dirpath, name) + ZONE_STREAM)
            except OSError:
                # Most files carry no mark (FileNotFoundError); a file another process
                # holds or a read-only one must not stop the rest, nor the start.
                continue
            cleared += 1
    return cleared


# --- WebView2 Runtime --------------------------------------------------------------------

WEBVIEW2_DOWNLOAD_URL = "https://developer.microsoft.com/microsoft-edge/webview2/"
MISSING_WEBVIEW2_MESSAGE = (
    "Doorstep needs the Microsoft Edge WebView2 Runtime to show its window, "
    "and it is not installed on this computer.\n\n"
    "Install the Evergreen WebView2 Runtime from\n"
    f"{WEBVIEW2_DOWNLOAD_URL}\n"
    "and then start Doorstep again.\n\n"
    "If you cannot install programs on this computer, ask its administrator to install it."
)

# EdgeUpdate's client ids: the Runtime first, then the preview channels pywebview also
# accepts (webview.platforms.winforms._is_chromium); WebView2's loader falls back to them.
WEBVIEW2_CLIENT_IDS = (
    "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}",  # WebView2 Runtime
    "{2CD8A007-E189-409D-A2C8-9AF4EF3C72AA}",  # Beta
    "{0D50BFEC-CD6A-4F9A-964C-C7416E3ACB10}",  # Dev
    "{65C35B14-6C1D-4122-AC46-7148CC9D6497}",  # Canary
)
# Where Microsoft says to read `pv`: a per-machine install on 64-bit Windows, on 32-bit
# Windows, and a per-user install (learn.microsoft.com/microsoft-edge/webview2/concepts/distribution).
WEBVIEW2_KEYS = (
    ("HKEY_LOCAL_MACHINE", r"SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients"),
    ("HKEY_LOCAL_MACHINE", r"SOFTWARE\Microsoft\EdgeUpdate\Clients"),
    ("HKEY_CURRENT_USER", r"SOFTWARE\Microsoft\EdgeUpdate\Clients"),
)
# pywebview uses Edge Chromium only from WebView2 86 on, and falls back to MSHTML below it.
WEBVIEW2_MIN_MAJOR = 86

RegistryReader = Callable[[str, str], str | None]


def read_registry_pv(hive: str, subkey: str) -> str | None:
    """Return the `pv` value of `hive\\subkey` (hive named as in winreg), or None if absent."""
    if sys.platform != "win32":  # also tells mypy to check the rest for Windows only
        raise OSError("Windows only")
    import winreg

    try:
        with winreg.OpenKey(getattr(winreg, hive), subkey) as key:
            value, _type = winreg.QueryValueEx(key, "pv")
    except OSError:
        return None
    return str(value)


def usable_webview2_version(pv: str | None) -> bool:
    """Tell whether a `pv` value names a WebView2 that pywebview would use."""
    # Microsoft: a missing, empty or 0.0.0.0 pv means not installed (an uninstall leaves 0.0.0.0).
    if not pv or pv.strip() in ("", "0.0.0.0"):
        return False
    try:
        return int(pv.strip().split(".")[0]) >= WEBVIEW2_MIN_MAJOR
    except ValueError:
        return False


def webview2_version(read: RegistryReader | None = None) -> str | None:
    """Return the installed WebView2 Runtime's version as the registry tells it, or None."""
    read = read or read_registry_pv
    for client_id in WEBVIEW2_CLIENT_IDS:
        for hive, clients in WEBVIEW2_KEYS:
            pv = read(hive, rf"{clients}\{client_id}")
            if usable_webview2_version(pv):
                return str(pv).strip()
    return None


def webview2_missing(read: RegistryReader | None = None) -> bool:
    """Tell whether this is Windows without a WebView2 Runtime (pywebview would then fail)."""
    # Without it pywebview falls back to MSHTML, which the bundle leaves out, and dies with a
    # misleading "You must have pythonnet installed".
    return sys.platform == "win32" and webview2_version(read) is None


# --- Owner-only folders ------------------------------------------------------------------

# The profile folders whose ACLs already keep other users out: no DACL of ours is needed.
PRIVATE_PROFILE_VARS = ("LOCALAPPDATA", "APPDATA")
_SID = re.compile(r"S-1-\d+(-\d+)+", re.IGNORECASE)
_ACE = re.compile(r"\(([^)]*)\)")


def owner_only_sddl(sid: str) -> str:
    """Return the SDDL of a protected DACL: full control for `sid` and SYSTEM, inherited."""
    if not _SID.fullmatch(sid):
        raise ValueError(f"not a string SID: {sid!r}")
    # P: protected, so nothing (Users, Authenticated Users) is inherited from the parent;
    # OICI: files and folders created inside get the same two entries.
    return f"D:P(A;OICI;FA;;;{sid})(A;OICI;FA;;;SY)"


def same_dacl(current: str, wanted: str) -> bool:
    """Tell whether two DACLs in SDDL are both protected and hold the same entries."""

    def parts(sddl: str) -> tuple[bool, frozenset[str]]:
        body = sddl.strip().upper()
        body = body[body.index("D:") + 2 :] if "D:" in body else ""
        flags = body.split("(", 1)[0]
        # Flags are P, AR, AI; NO_ACCESS_CONTROL (a null DACL) holds no P.
        protected = "P" in flags.replace("NO_ACCESS_CONTROL", "")
        return protected, frozenset(_ACE.findall(body))

    current_protected, current_aces = parts(current)
    wanted_protected, wanted_aces = parts(wanted)
    return current_protected and wanted_protected and current_aces == wanted_aces


def needs_owner_only_acl(folder: str | os.PathLike[str], environ: Mapping[str, str]) -> bool:
    """Tell whether `folder` (absolute) lies outside %LOCALAPPDATA% and %APPDATA%."""

    def parts(path: str) -> list[str]:
        # Windows paths compare case-insensitively, with either slash.
        return ntpath.normpath(path).casefold().rstrip("\\").split("\\")

    target = parts(os.fspath(folder))
    for name in PRIVATE_PROFILE_VARS:
        base = environ.get(name)
        if base and target[: len(parts(base))] == parts(base):
            return False
    return True


def restrict_to_current_user(folder: Path, environ: Mapping[str, str] | None = None) -> bool:
    """On Windows, outside AppData, give `folder` an owner-only DACL; return True if changed."""
    if sys.platform != "win32":
        return False
    path = os.path.abspath(folder)
    if not needs_owner_only_acl(path, os.environ if environ is None else environ):
        return False
    return apply_owner_only_dacl(path)


def apply_owner_only_dacl(path: str) -> bool:
    """Set owner_only_sddl(current user) on `path` and below (Win32); False if already so."""
    if sys.platform != "win32":  # also tells mypy to check the rest for Windows only
        raise OSError("Windows only")
    import ctypes
    from ctypes import wintypes

    # Private instances: the prototypes set here must not change other code's windll.
    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle, ptr, dword, bool_ = wintypes.HANDLE, ctypes.c_void_p, wintypes.DWORD, wintypes.BOOL
    out, text = ctypes.POINTER(ptr), wintypes.LPCWSTR
    # fmt: off
    for dll, name, restype, argtypes in [
        (kernel32, "GetCurrentProcess", handle, []),
        (kernel32, "CloseHandle", bool_, [handle]),
        (kernel32, "LocalFree", ptr, [ptr]),
        (advapi32, "OpenProcessToken", bool_, [handle, dword, ctypes.POINTER(handle)]),
        (advapi32, "GetTokenInformation", bool_, [handle, ctypes.c_int, ptr, dword, ctypes.POINTER(dword)]),
        (advapi32, "ConvertSidToStringSidW", bool_, [ptr, out]),
        (advapi32, "ConvertStringSecurityDescriptorToSecurityDescriptorW", bool_, [text, dword, out, ptr]),
        (advapi32, "ConvertSecurityDescriptorToStringSecurityDescriptorW", bool_, [ptr, dword, dword, out, ptr]),
        (advapi32, "GetSecurityDescriptorDacl", bool_, [ptr, ctypes.POINTER(bool_), out, ctypes.POINTER(bool_)]),
        (advapi32, "GetNamedSecurityInfoW", dword, [text, ctypes.c_int, dword, out, out, out, out, out]),
        (advapi32, "SetNamedSecurityInfoW", dword, [text, ctypes.c_int, dword, ptr, ptr, ptr, ptr]),
    ]:
        getattr(dll, name).restype, getattr(dll, name).argtypes = restype, argtypes
    # fmt: on
    token_query, token_user, file_object, revision = 0x0008, 1, 1, 1
    dacl_info, protected_dacl_info = 0x00000004, 0x80000000

    def check(ok: int) -> None:
        if not ok:
            raise ctypes.WinError(ctypes.get_last_error())

    def take_string(pointer: ctypes.c_void_p) -> str:
        try:
            # The call that filled it in succeeded (check), so it is not NULL.
            return ctypes.wstring_at(cast(int, pointer.value))
        finally:
            kernel32.LocalFree(pointer)

    def as_sddl(descriptor: ctypes.c_void_p) -> str:
        result = ptr()
        check(
            advapi32.ConvertSecurityDescriptorToStringSecurityDescriptorW(
                descriptor, revision, dacl_info, ctypes.byref(result), None
            )
        )
        return take_string(result)

    def current_sddl() -> str:
        descriptor, dacl = ptr(), ptr()
        refs = (None, None, ctypes.byref(dacl), None, ctypes.byref(descriptor))
        if advapi32.GetNamedSecurityInfoW(path, file_object, dacl_info, *refs):
            return ""  # unreadable: set it, and let that call say what is wrong
        try:
            return as_sddl(descriptor)
        finally:
            kernel32.LocalFree(descriptor)

    # The current user's SID, from this process's token. TOKEN_USER starts with the PSID.
    token, size, sid = handle(), dword(), ptr()
    check(advapi32.OpenProcessToken(kernel32.GetCurrentProcess(), token_query, ctypes.byref(token)))
    try:
        advapi32.GetTokenInformation(token, token_user, None, 0, ctypes.byref(size))
        token_info = ctypes.create_string_buffer(size.value)
        check(advapi32.GetTokenInformation(token, token_user, token_info, size, ctypes.byref(size)))
    finally:
        kernel32.CloseHandle(token)
    check(advapi32.ConvertSidToStringSidW(ctypes.cast(token_info, out)[0], ctypes.byref(sid)))

    wanted = ptr()
    check(
        advapi32.ConvertStringSecurityDescriptorToSecurityDescriptorW(
            owner_only_sddl(take_string(sid)), revision, ctypes.byref(wanted), None
        )
    )
    try:
        # Both as Windows writes them out, so SIDs it abbreviates (SY) read alike. Setting
        # it again would walk the whole tree (the window's profile: thousands of files).
        wanted_sddl = as_sddl(wanted)
        if same_dacl(current_sddl(), wanted_sddl):
            return False
        present, defaulted, dacl = bool_(), bool_(), ptr()
        refs = (ctypes.byref(present), ctypes.byref(dacl), ctypes.byref(defaulted))
        check(advapi32.GetSecurityDescriptorDacl(wanted, *refs))
        # SetNamedSecurityInfoW, not SetFileSecurityW: it also rewrites the inherited entries
        # of the files already inside (a secret key or database from an earlier run).
        info = dacl_info | protected_dacl_info
        error = advapi32.SetNamedSecurityInfoW(path, file_object, info, None, None, dacl, None)
        if error:
            raise OSError(
                f"Windows would not make {path} private to your user account: "
                f"{ctypes.FormatError(error).strip()} (error {error}). "
                "Choose a folder you own on an NTFS drive, or leave out --data-dir."
            )
        if not same_dacl(current_sddl(), wanted_sddl):
            # A file system that keeps no ACLs (FAT, some network shares) may say yes anyway.
            log.warning("%s did not keep its owner-only permissions; others may read it", path)
        else:
            log.info("Restricted %s to the current user and SYSTEM", path)
        return True
    finally:
        kernel32.LocalFree(wanted)


# --- The menu ----------------------------------------------------------------------------


def give_menu_item_ctrl_q(window: object, title: str) -> None:
    """Give the menu item named `title` the Ctrl+Q shortcut (pywebview's menu takes none)."""
    form = getattr(window, "native", None)  # pywebview's BrowserForm, once shown
    if form is None:
        return
    from System import Action, Enum  # type: ignore[import-not-found]  # pythonnet
    from System.Windows.Forms import Keys, MenuStrip  # type: ignore[import-not-found]

    def items(collection):  # every menu item, submenus included
        for item in collection:
            yield item
            yield from items(getattr(item, "DropDownItems", None) or [])

    def give() -> None:
        ctrl_q = Enum.ToObject(Keys, int(Keys.Control) | int(Keys.Q))
        for control in form.Controls:
            if isinstance(control, MenuStrip):
                for item in items(control.Items):
                    if item.Text == title:
                        # The WebView2 control hands the keys the page leaves alone to the
                        # form (ProcessCmdKey), where the menu strip finds the shortcut.
                        item.ShortcutKeys = ctrl_q

    form.Invoke(Action(give))  # WinForms controls belong to their GUI thread
