"""Set up a fresh clone and run Doorstep or its whole test suite: `python3 scripts/dev.py run|test`.

Only a Python >= 3.10 is needed beforehand. The script makes `.venv/`, installs the project
into it (again only when pyproject.toml changed), and on Debian-like systems installs the few
system packages the tests drive (Chromium, Xvfb, Qt's xcb libraries) when they are missing.
`test` runs the checks first (`check`: ruff's lint and format checks, mypy); any failure
stops it before the first test.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")

# What the browser, window and frozen-app tests need from Debian, one package a line; the
# hosted workflow installs the same list.
DEBIAN_PACKAGES_FILE = ROOT / "scripts" / "debian-packages.txt"
# The message catalogues: a .pot extracted from the code and templates, a .po per locale.
TRANSLATIONS = ROOT / "webapp" / "translations"
POT = TRANSLATIONS / "messages.pot"
# The checks that run before any test, each run by `check` (all of them by default).
GATES = ("lint", "format", "types")
# Type-checked as each OS the app ships on, whichever this is: mypy follows sys.platform
# tests, so each OS's own code paths are checked (pyproject.toml's [tool.mypy] says more).
MYPY_PLATFORMS = ("linux", "win32", "darwin")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen task."""
    parser = argparse.ArgumentParser(
        prog="python3 scripts/dev.py", description=__doc__.split("\n")[0]
    )
    tasks = parser.add_subparsers(dest="task", required=True)
    run = tasks.add_parser("run", help="set up, then open Doorstep (arguments go to `doorstep`)")
    run.add_argument("args", nargs=argparse.REMAINDER)
    test = tasks.add_parser(
        "test", help="set up, run the checks, build the bundle, run the whole test suite"
    )
    test.add_argument("args", nargs=argparse.REMAINDER, help="extra pytest arguments")
    check = tasks.add_parser("check", help="set up, then run the lint, format and type checks")
    check.add_argument("gates", nargs="*", metavar="|".join(GATES), help="only these checks")
    check.add_argument(
        "--no-venv",
        action="store_true",
        help="use the tools of the Python running this script, where the project is installed "
        "(the hosted workflow's), instead of setting up .venv",
    )
    tasks.add_parser("system-deps", help="install the Debian packages the tests need")
    tasks.add_parser("setup", help="only create .venv and install the project with every extra")
    tasks.add_parser(
        "translations",
        help="extract the messages, update the .po files with them, compile (docs/i18n.md)",
    )
    options = parser.parse_args(argv)

    # This script runs on whatever Python the user has, before any venv exists.
    if sys.version_info < (3, 10):  # noqa: UP036
        sys.exit("Doorstep needs Python 3.10 or newer.")
    if options.task == "system-deps":
        return install_system_packages()
    if options.task == "run":
        ensure_venv("")
        return run_doorstep(strip_dashes(options.args))
    if options.task == "setup":
        ensure_venv("[dev]")
        return 0
    if options.task == "translations":
        ensure_venv("[dev]")
        return update_translations()
    if options.task == "check":
        unknown = sorted(set(options.gates) - set(GATES))
        if unknown:
            parser.error(f"no such check: {', '.join(unknown)} (choose from {', '.join(GATES)})")
        if not options.no_venv:
            ensure_venv("[dev]")
        python = sys.executable if options.no_venv else str(PYTHON)
        return run_checks(python, options.gates or list(GATES))
    ensure_venv("[dev]")
    # Before the system packages, the build and every test: a lint, format or type error
    # fails the run within seconds.
    if run_checks(str(PYTHON), list(GATES)) != 0:
        print(
            "The checks failed (see above), so no test ran. "
            "Fix them, then run `python3 scripts/dev.py test` again.",
            file=sys.stderr,
        )
        return 1
    install_system_packages()
    return run_tests(strip_dashes(options.args))


def ensure_venv(extras: str) -> None:
    """Create .venv and install the project with `extras`, unless already done."""
    if not PYTHON.exists():
        print(f"Creating {VENV.relative_to(ROOT)}/ …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".doorstep-installed"
    project = (ROOT / "pyproject.toml").read_bytes()
    wanted = hashlib.sha256(project + extras.encode()).hexdigest()
    everything = hashlib.sha256(project + b"[dev]").hexdigest()  # [dev] includes every extra
    installed = stamp.read_text().split() if stamp.exists() else []
    if wanted not in installed and everything not in installed:
        print(f"Installing Doorstep{extras} into {VENV.relative_to(ROOT)}/ …", flush=True)
        pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "-e", f"{ROOT}{extras}"], check=True)
        stamp.write_text("\n".join([*installed, wanted]))
    # Every time: the .mo files are not committed, and a pull may bring new translations.
    compile_translations()


def pybabel(*args: str) -> None:
    """Run the venv's pybabel from the checkout's root; stop on failure."""
    subprocess.run([str(BIN / "pybabel"), "-q", *args], cwd=ROOT, check=True)


def compile_translations() -> None:
    """Compile each .po under webapp/translations into the .mo beside it."""
    pybabel("compile", "-d", str(TRANSLATIONS))


def update_translations() -> int:
    """Extract the messages into the .pot, merge it into every .po, compile; 0 on success."""
    pybabel(
        "extract",
        *("-F", "babel.cfg"),
        # _l: flask_babel's lazy_gettext; N_ (a default keyword) marks texts translated later.
        *("-k", "_l"),
        "--add-location=file",
        "--sort-by-file",
        *("--project", "Doorstep", "--copyright-holder", "Doorstep's authors"),
        *("-o", str(POT)),
        ".",
    )
    pybabel("update", "--ignore-obsolete", "-i", str(POT), "-d", str(TRANSLATIONS))
    compile_translations()
    print(
        f"Updated and compiled {TRANSLATIONS.relative_to(ROOT)}. Messages still to translate "
        "(new or fuzzy) are the ones tests/test_i18n.py lists: translate them in the .po "
        "files, then run this again."
    )
    return 0


def install_system_packages() -> int:
    """Install the missing Debian packages the tests need; elsewhere just say what is needed."""
    if not sys.platform.startswith("linux") or not shutil.which("dpkg-query"):
        print("Not a Debian-like system: install Chromium and (on Linux) Xvfb yourself.")
        return 0
    missing = [name for name in debian_packages() if not debian_package_installed(name)]
    if not missing:
        return 0
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print(f"Installing Debian packages: {' '.join(missing)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        check=True,
        env=env,
    )
    return 0


def debian_packages(path: Path = DEBIAN_PACKAGES_FILE) -> list[str]:
    """Return the package names listed in `path`: one a line, `#` starting a comment."""
    names = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if len(words) > 1:  # two names on a line would be read as one by a shell loop too
            sys.exit(f"{path}:{number}: one package a line, not {' '.join(words)!r}")
        names += words
    return names


def debian_package_installed(name: str) -> bool:
    """Whether dpkg reports `name` as installed."""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True, check=False
    )
    return result.stdout.endswith("install ok installed")


def run_doorstep(args: list[str]) -> int:
    """Become Doorstep (POSIX), so signals and the exit status are its own; return its status."""
    command = [str(BIN / "doorstep"), *args]
    if os.name == "posix":
        # Not a child: SIGTERM or SIGHUP sent to this script would leave Doorstep running.
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(command[0], command)
    return subprocess.call(command)


def gate_commands(python: str) -> dict[str, list[list[str]]]:
    """Return each gate's commands, run with `python`'s ruff and mypy from the checkout's root."""
    mypy = [python, "-m", "mypy"]  # which files, and how strictly: pyproject.toml's [tool.mypy]
    return {
        "lint": [[python, "-m", "ruff", "check", "."]],
        "format": [[python, "-m", "ruff", "format", "--check", "."]],
        # A cache for each platform: one shared cache would be rebuilt at every switch.
        "types": [
            [*mypy, "--platform", name, "--cache-dir", os.path.join(".mypy_cache", name)]
            for name in MYPY_PLATFORMS
        ],
    }


def run_checks(python: str, gates: list[str]) -> int:
    """Run `gates`, every one even after a failure so all problems show; 1 if any failed."""
    commands = gate_commands(python)
    failed = []
    for gate in gates:
        for command in commands[gate]:
            print(f"$ {' '.join(command[2:])}", flush=True)  # what follows `python -m`
            if subprocess.run(command, cwd=ROOT, check=False).returncode != 0:
                failed.append(gate)
    if failed:
        print(
            f"Failed: {', '.join(dict.fromkeys(failed))}. `.venv/bin/ruff check --fix .` and "
            "`.venv/bin/ruff format .` fix most lint and format errors.",
            file=sys.stderr,
        )
        return 1
    return 0


def run_tests(pytest_args: list[str]) -> int:
    """Build the frozen bundle, then run every test against source, browser, window and bundle."""
    build = subprocess.run([str(PYTHON), str(ROOT / "build" / "build.py")], cwd=ROOT, check=False)
    if build.returncode != 0:
        print("The PyInstaller build failed; see above.", file=sys.stderr)
        return build.returncode
    # tests/support/processes.py turns QtWebEngine's sandbox off for the Doorstep processes it starts.
    env = {**os.environ, "DOORSTEP_REQUIRE_FROZEN": "1", "DOORSTEP_REQUIRE_POSTGRES": "1"}
    return subprocess.call([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT, env=env)


def strip_dashes(args: list[str]) -> list[str]:
    """Drop a leading `--` separator."""
    return args[1:] if args[:1] == ["--"] else args


if __name__ == "__main__":
    sys.exit(main())
