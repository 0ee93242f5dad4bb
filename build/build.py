"""Build Doorstep's double-click app for this OS: `python build/build.py`.

Runs PyInstaller on build/doorstep.spec (work files in build/work/, output in dist/), giving
`dist/doorstep/doorstep` (onedir; `doorstep.exe` on Windows, plus `dist/Doorstep.app` on
macOS), then packs it for download and prints both sizes:

- Linux: `dist/doorstep-<version>-linux-<arch>.tar.gz`, and `dist/doorstep_<version>_<arch>.deb`
  (dpkg-deb; the bundle in /opt/doorstep, /usr/bin/doorstep, the desktop entry, icons and
  AppStream metainfo from build/linux/);
- Windows: `dist/doorstep-<version>-windows-<arch>.zip` (Windows 10's Explorer opens no
  .tar.gz; the installer is made from dist/doorstep/ by build/doorstep.iss);
- macOS: `dist/doorstep-<version>-macos-<arch>.dmg` (hdiutil), holding Doorstep.app and a
  link to /Applications to drag it onto.

On Linux it fails when the size budget is exceeded (folder <= 400 MiB by `du -sm`, archive
and .deb <= 160 MB each). `--package-only` packs what dist/ holds without running
PyInstaller (the hosted workflow signs Doorstep.app, then packs it again). Run it with the
Python environment that has the project and PyInstaller installed (`pip install -e '.[dev]'`).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "build" / "doorstep.spec"
WORK = ROOT / "build" / "work"
DIST = ROOT / "dist"
APP = "doorstep"

FOLDER_BUDGET_MIB = 400
ARCHIVE_BUDGET_MB = 160
FORMATS = ("tar.gz", "zip", "dmg", "deb")

LINUX = ROOT / "build" / "linux"
INSTALL_DIR = "opt/doorstep"  # where the .deb puts the bundle (no leading slash: a tree path)
WEBENGINE_LOCALES = "_internal/PyQt6/Qt6/resources/locales"


def shell_constant(name: str) -> str:
    """Return a string constant of desktop/__init__.py, read without importing it."""
    text = (ROOT / "desktop" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(rf'^{name}\s*=\s*["\']([^"\']+)["\']', text, re.M)
    if not match:
        raise SystemExit(f"build.py: no {name} in desktop/__init__.py")
    return match.group(1)


def version() -> str:
    """Return Doorstep's version."""
    return shell_constant("__version__")


# The Linux package's freedesktop application id: the desktop entry, the icon, the AppStream
# component and StartupWMClass (desktop/__init__.py says why it is one id everywhere).
APP_ID = shell_constant("APP_ID")


def platform_tag() -> str:
    system = {"darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
    if system.startswith("linux"):
        system = "linux"
    machine = platform.machine().lower() or "unknown"
    machine = {"amd64": "x86_64", "aarch64": "arm64"}.get(machine, machine)
    return f"{system}-{machine}"


def folder_mib(path: Path) -> int:
    """Size of `path` as `du -sm` prints it (disk usage in MiB, rounded up)."""
    du = shutil.which("du")
    if du and sys.platform != "win32":
        out = subprocess.run([du, "-sm", str(path)], capture_output=True, text=True, check=True)
        return int(out.stdout.split()[0])
    total = 0
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            full = Path(dirpath, name)
            if not full.is_symlink():
                total += full.stat().st_size
    return -(-total // (1024 * 1024))


def default_format() -> str:
    """The download format of this OS: what its file manager opens with a double-click."""
    if sys.platform == "win32":
        return "zip"
    if sys.platform == "darwin":
        return "dmg"
    return "tar.gz"


def default_formats() -> list[str]:
    """The downloads made by default: the OS's format and, on Linux, the .deb too."""
    if sys.platform.startswith("linux"):
        return ["tar.gz", "deb"]
    return [default_format()]


def make_archive(source: Path, archive: Path) -> None:
    """Pack `source` (a folder) into a .tar.gz whose single top-level entry is that folder."""
    archive.unlink(missing_ok=True)
    # gzip level 6: level 9 saves ~0.4% here for three times the time.
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        tar.add(source, arcname=source.name, filter=_anonymous)  # symlinks stay symlinks


def make_zip(source: Path, archive: Path) -> None:
    """Pack `source` (a folder) into a .zip whose single top-level entry is that folder.

    Entries go in sorted order, so the same folder gives the same listing. Zip has no portable
    symlink, and Explorer would make a symlink entry a small text file: a symlink is stored
    as what it points to (a Windows bundle has none).
    """
    archive.unlink(missing_ok=True)
    paths = [source]
    for dirpath, dirnames, filenames in os.walk(source, followlinks=True):
        dirnames.sort()
        paths += [Path(dirpath, name) for name in dirnames + sorted(filenames)]
    paths.sort(key=lambda path: path.relative_to(source).parts)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in paths:
            name = (Path(source.name) / path.relative_to(source)).as_posix()
            # from_file keeps the POSIX mode bits (an unzip on Linux or macOS keeps +x);
            # strict_timestamps=False clamps a pre-1980 date instead of failing.
            info = zipfile.ZipInfo.from_file(path, name, strict_timestamps=False)
            if info.is_dir():
                zf.writestr(info, b"")  # kept, so an empty folder is not lost
                continue
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)


def make_dmg(app: Path, dmg: Path, attempts: int = 3) -> None:
    """Pack `app` (Doorstep.app) into a compressed disk image beside a link to /Applications."""
    staging = WORK / "dmg"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        # ditto, not copytree: it keeps the bundle's code signature and extended attributes.
        subprocess.run(["ditto", str(app), str(staging / app.name)], check=True)
        (staging / "Applications").symlink_to("/Applications")
        cmd = [
            "hdiutil", "create", "-volname", "Doorstep", "-srcfolder", str(staging),
            "-ov", "-format", "UDZO", str(dmg),
        ]  # fmt: skip
        for attempt in range(1, attempts + 1):
            # hdiutil fails now and then with "Resource busy" on CI machines: try again.
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if result.returncode == 0:
                return
            print(f"build.py: hdiutil failed (attempt {attempt}): {result.stderr.strip()}")
        raise SystemExit(f"build.py: hdiutil could not make {dmg.name}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def deb_architecture() -> str:
    """Return Debian's name for this machine's architecture (amd64, arm64, ...)."""
    out = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def glibc_version() -> str:
    """Return this machine's glibc version ("2.36"): the oldest the bundle runs with."""
    # The bundle carries no glibc and PyInstaller's bootloader and libraries were linked
    # against this one, so libc6 must be at least as new where the .deb is installed.
    answer = os.confstr("CS_GNU_LIBC_VERSION") or ""
    match = re.fullmatch(r"glibc (\d+\.\d+)\S*", answer)
    if not match:
        raise SystemExit(f"build.py: not a glibc system ({answer!r}): no .deb")
    return match.group(1)


def deb_name(ver: str, arch: str) -> str:
    """Return the .deb's file name, as Debian names packages: doorstep_<version>_<arch>.deb."""
    return f"{APP}_{ver}_{arch}.deb"


def control_file(ver: str, arch: str, installed_kib: int) -> str:
    """Return DEBIAN/control from build/linux/control.in (its comment lines dropped)."""
    lines = (LINUX / "control.in").read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.startswith("#")) + "\n"
    values = {
        "VERSION": ver,
        "ARCH": arch,
        "INSTALLED_SIZE": str(installed_kib),
        "GLIBC": glibc_version(),
    }
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def metainfo(ver: str, date: str) -> str:
    """Return the AppStream metainfo with this release's version and date."""
    text = (LINUX / f"{APP_ID}.metainfo.xml").read_text(encoding="utf-8")
    return text.replace("@VERSION@", ver).replace("@DATE@", date)


def make_deb(source: Path, deb: Path, ver: str) -> None:
    """Pack the onedir bundle `source` into a .deb that installs it as a desktop app.

    Installs the bundle in /opt/doorstep/, /usr/bin/doorstep (a symlink: PyInstaller's
    bootloader resolves it and finds _internal/ beside the real file), the desktop entry,
    the hicolor icons and the AppStream metainfo. No maintainer scripts: on Debian the icon
    cache and the desktop database are refreshed by dpkg triggers (hicolor-icon-theme's and
    desktop-file-utils'), and removing the package touches only the files it installed, never
    a user's data folder.
    """
    staging = WORK / "deb"
    shutil.rmtree(staging, ignore_errors=True)
    deb.unlink(missing_ok=True)
    try:
        # Hard links, not copies: 350 MiB staged in a moment and no extra disk space.
        shutil.copytree(source, staging / INSTALL_DIR, symlinks=True, copy_function=os.link)
        # QtWebEngine creates this empty folder on its first window when it may (as root):
        # shipped, dpkg owns it and `dpkg -r` removes it, leaving no /opt/doorstep behind.
        (staging / INSTALL_DIR / WEBENGINE_LOCALES).mkdir(parents=True, exist_ok=True)
        usr_bin = staging / "usr" / "bin"
        usr_bin.mkdir(parents=True)
        (usr_bin / APP).symlink_to(f"/{INSTALL_DIR}/{APP}")
        share = staging / "usr" / "share"
        (share / "applications").mkdir(parents=True)
        shutil.copy2(LINUX / f"{APP_ID}.desktop", share / "applications")
        shutil.copytree(LINUX / "icons" / "hicolor", share / "icons" / "hicolor")
        (share / "metainfo").mkdir()
        today = time.strftime("%Y-%m-%d", time.gmtime())
        (share / "metainfo" / f"{APP_ID}.metainfo.xml").write_text(
            metainfo(ver, today), encoding="utf-8"
        )
        # Files the bundle does not make executable are 0644, directories 0755, whatever
        # the umask of whoever checked out the repository.
        for path in [*share.rglob("*"), share]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        installed_kib = sum(
            -(-path.lstat().st_size // 1024)
            for path in staging.rglob("*")
            if path.is_file() and not path.is_symlink()
        )
        control = staging / "DEBIAN"
        control.mkdir(mode=0o755)
        control.chmod(0o755)
        (control / "control").write_text(
            control_file(ver, deb_architecture(), installed_kib), encoding="utf-8"
        )
        # --root-owner-group: installed files belong to root, whoever built the package.
        # zstd level 9, measured on this bundle (2 cores): 137 MB in 8 s; xz, dpkg's
        # default, 115 MB in 185 s, xz -z1 130 MB in 57 s; zstd -z15 135 MB in 123 s;
        # gzip would be ~156 MB, at the budget's edge. dpkg reads zstd since 1.21.18 (Debian
        # 12, Ubuntu's since 18.04), and the bundle needs Debian 12's glibc anyway.
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zzstd", "-z9", "--build", str(staging), str(deb)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Whoever built it, the files belong to whoever unpacks them.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clean", action="store_true", help="discard PyInstaller's cache in build/work first"
    )
    parser.add_argument(
        "--no-archive", action="store_true", help="skip the downloads (quicker local rebuilds)"
    )
    parser.add_argument(
        "--package-only",
        action="store_true",
        help="do not run PyInstaller: pack what dist/ holds (e.g. after signing it)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        action="append",
        help=f"a download to make, instead of this OS's default ({' and '.join(default_formats())});"
        " repeatable; dmg needs macOS, deb dpkg-deb",
    )
    parser.add_argument(
        "--no-budget", action="store_true", help="report the sizes but do not fail on them"
    )
    args = parser.parse_args(argv)
    if args.package_only and args.no_archive:
        parser.error("--package-only packs an archive: it cannot go with --no-archive")
    formats = args.format or default_formats()
    if "dmg" in formats and sys.platform != "darwin" and not args.no_archive:
        parser.error("a .dmg can only be made on macOS (hdiutil)")
    if "deb" in formats and not args.no_archive and not shutil.which("dpkg-deb"):
        parser.error("a .deb needs dpkg-deb (Debian's dpkg); --format tar.gz skips it")

    ver, tag = version(), platform_tag()
    started = time.monotonic()
    if not args.package_only:
        cmd = [
            sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm",
            "--workpath", str(WORK), "--distpath", str(DIST), "--log-level", "WARN",
        ]  # fmt: skip
        if args.clean:
            cmd.append("--clean")
        print("build.py:", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
    built = time.monotonic() - started

    folder = DIST / APP
    exe = folder / (APP + ".exe" if sys.platform == "win32" else APP)
    if not exe.is_file():
        print(f"build.py: {exe} was not produced", file=sys.stderr)
        return 1
    # Smoke test: the frozen program starts and knows its version (a windowed Windows exe
    # has no stdout, so ask its console twin there).
    probe = folder / (APP + "-console.exe") if sys.platform == "win32" else exe
    answer = subprocess.run(
        [str(probe), "--version"], capture_output=True, text=True, timeout=120, check=False
    )
    if answer.returncode != 0 or answer.stdout.strip() != f"Doorstep {ver}":
        print(
            f"build.py: {probe.name} --version failed ({answer.returncode}): "
            f"{answer.stdout.strip()!r} {answer.stderr.strip()[-2000:]}",
            file=sys.stderr,
        )
        return 1
    print(f"build.py: {probe.name} --version: {answer.stdout.strip()}")

    # On macOS the download is the .app bundle; elsewhere the onedir folder.
    packed = DIST / "Doorstep.app" if sys.platform == "darwin" else folder
    size_mib = folder_mib(packed)
    if not args.package_only:
        print(f"build.py: built {exe.relative_to(ROOT)} in {built:.0f} s")
    print(f"build.py: folder size: {size_mib} MiB (du -sm {packed.relative_to(ROOT)})")

    over = []
    if size_mib > FOLDER_BUDGET_MIB:
        over.append(f"folder {size_mib} MiB > {FOLDER_BUDGET_MIB} MiB")
    for fmt in [] if args.no_archive else formats:
        if fmt == "deb":
            archive = DIST / deb_name(ver, deb_architecture())
        else:
            archive = DIST / f"{APP}-{ver}-{tag}.{fmt}"
        t0 = time.monotonic()
        if fmt == "zip":
            make_zip(packed, archive)
        elif fmt == "dmg":
            make_dmg(packed, archive)
        elif fmt == "deb":
            make_deb(packed, archive, ver)
        else:
            make_archive(packed, archive)
        size = archive.stat().st_size
        print(
            f"build.py: {fmt} size: {size / 1e6:.1f} MB ({size / 2**20:.1f} MiB) "
            f"{archive.relative_to(ROOT)}, packed in {time.monotonic() - t0:.0f} s"
        )
        if size > ARCHIVE_BUDGET_MB * 1e6:
            over.append(f"{fmt} {size / 1e6:.1f} MB > {ARCHIVE_BUDGET_MB} MB")
    print(f"build.py: total {time.monotonic() - started:.0f} s")

    # The budget is set for the Linux (Qt WebEngine) bundle; Windows and macOS use the
    # system's web view and come out far smaller.
    if over and sys.platform.startswith("linux") and not args.no_budget:
        print("build.py: OVER THE SIZE BUDGET: " + "; ".join(over), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
