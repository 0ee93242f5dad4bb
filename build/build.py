"""Build Doorstep's double-click app for this OS: `python build/build.py`.

Runs PyInstaller on build/doorstep.spec (work files in build/work/, output in dist/), giving
`dist/doorstep/doorstep` (onedir; `doorstep.exe` on Windows, plus `dist/Doorstep.app` on
macOS), then packs it for download and prints both sizes:

- Linux: `dist/doorstep-<version>-linux-<arch>.tar.gz`;
- Windows: `dist/doorstep-<version>-windows-<arch>.zip` (Windows 10's Explorer opens no
  .tar.gz; the installer is made from dist/doorstep/ by build/doorstep.iss);
- macOS: `dist/doorstep-<version>-macos-<arch>.dmg` (hdiutil), holding Doorstep.app and a
  link to /Applications to drag it onto.

On Linux it fails when the size budget is exceeded (folder <= 400 MiB by
`du -sm`, archive <= 160 MB). `--package-only` packs what dist/ holds without running
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
FORMATS = ("tar.gz", "zip", "dmg")


def version() -> str:
    # desktop/__init__.py holds the version and imports nothing; read it without importing.
    text = (ROOT / "desktop" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.M)
    if not match:
        raise SystemExit("build.py: no __version__ in desktop/__init__.py")
    return match.group(1)


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
        "--no-archive", action="store_true", help="skip the archive (quicker local rebuilds)"
    )
    parser.add_argument(
        "--package-only",
        action="store_true",
        help="do not run PyInstaller: pack what dist/ holds (e.g. after signing it)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=default_format(),
        help="the archive to make (default on this OS: %(default)s; dmg needs macOS)",
    )
    parser.add_argument(
        "--no-budget", action="store_true", help="report the sizes but do not fail on them"
    )
    args = parser.parse_args(argv)
    if args.package_only and args.no_archive:
        parser.error("--package-only packs an archive: it cannot go with --no-archive")
    if args.format == "dmg" and sys.platform != "darwin" and not args.no_archive:
        parser.error("a .dmg can only be made on macOS (hdiutil)")

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
    if not args.no_archive:
        archive = DIST / f"{APP}-{ver}-{tag}.{args.format}"
        t0 = time.monotonic()
        if args.format == "zip":
            make_zip(packed, archive)
        elif args.format == "dmg":
            make_dmg(packed, archive)
        else:
            make_archive(packed, archive)
        size = archive.stat().st_size
        print(
            f"build.py: archive size: {size / 1e6:.1f} MB ({size / 2**20:.1f} MiB) "
            f"{archive.relative_to(ROOT)}, packed in {time.monotonic() - t0:.0f} s"
        )
        if size > ARCHIVE_BUDGET_MB * 1e6:
            over.append(f"archive {size / 1e6:.1f} MB > {ARCHIVE_BUDGET_MB} MB")
    print(f"build.py: total {time.monotonic() - started:.0f} s")

    # The budget is set for the Linux (Qt WebEngine) bundle; Windows and macOS use the
    # system's web view and come out far smaller.
    if over and sys.platform.startswith("linux") and not args.no_budget:
        print("build.py: OVER THE SIZE BUDGET: " + "; ".join(over), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
