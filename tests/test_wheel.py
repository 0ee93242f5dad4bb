"""`pip install` gives a working Doorstep: the sdist, a wheel built from it, a fresh venv.

`python -m build` makes the sdist from the checkout and the wheel from that sdist (so both
are checked); the wheel goes into a new virtual environment with its dependencies from the
package index, and that environment's `doorstep serve` must serve a register, log in and
log out round trip. Only the standard library here: the client is urllib with a cookie jar.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import re
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.forms import Browser

ROOT = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT = 300.0  # two isolated build environments, each installing setuptools
INSTALL_TIMEOUT = 400.0  # the dependencies, Qt's wheels among them on Linux
START_TIMEOUT = 60.0
RUNNING_LINE = re.compile(r"^Doorstep is running at (http://\S+)$")
SCRIPTS = "Scripts" if os.name == "nt" else "bin"
EXE = ".exe" if os.name == "nt" else ""
CACHE_PARTS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def run(args: list[str | Path], timeout: float, **kwargs) -> str:
    """Run a command to completion; fail with its output when it fails; return its stdout."""
    result = subprocess.run(
        [str(arg) for arg in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    assert result.returncode == 0, (
        f"{args} exited {result.returncode}:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
    )
    return result.stdout


def outside_env() -> dict[str, str]:
    """Return an environment in which nothing of the checkout can be imported by accident."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DOORSTEP_DATA_DIR"):
        env.pop(name, None)
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def source_files(folder: Path) -> Iterator[Path]:
    """Yield the files under `folder`, caches left out."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not CACHE_PARTS & set(rel.parts) and path.suffix != ".pyc":
            yield path


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> tuple[Path, Path]:
    """Build the sdist from the checkout and the wheel from the sdist; return both."""
    if importlib.util.find_spec("build") is None:
        pytest.fail("the `build` package is missing: install Doorstep's test extra", pytrace=False)
    out = tmp_path_factory.mktemp("dists")
    run([sys.executable, "-m", "build", "--outdir", out, ROOT], BUILD_TIMEOUT, env=outside_env())
    (sdist,) = out.glob("doorstep-*.tar.gz")
    (wheel,) = out.glob("doorstep-*.whl")
    return sdist, wheel


@pytest.mark.timeout(BUILD_TIMEOUT + 60)
def test_the_sdist_holds_what_a_rebuild_needs(dists):
    sdist, _ = dists
    with tarfile.open(sdist) as archive:
        names = {name.partition("/")[2] for name in archive.getnames()}
    expected = {"pyproject.toml", "README.md", "MANIFEST.in"}
    for folder in ("desktop", "webapp", "templates", "static", "build/icons"):
        expected |= {p.relative_to(ROOT).as_posix() for p in source_files(ROOT / folder)}
    for pattern in ("build/*.spec", "build/*.py", "build/*.iss"):
        expected |= {p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern)}
    assert {"build/doorstep.spec", "build/icons/doorstep.ico", "webapp/migrations/env.py"} <= (
        expected
    )
    # Compiled translations are built, not shipped as sources: the wheel's build makes them.
    expected = {name for name in expected if not name.endswith(".mo")}
    assert {"setup.py", "babel.cfg", "webapp/translations/messages.pot"} <= names
    assert expected <= names, sorted(expected - names)
    assert not [name for name in names if name.startswith("build/work/") or name.endswith(".mo")]


@pytest.mark.timeout(BUILD_TIMEOUT + 60)
def test_the_wheel_holds_every_module_and_resource_and_nothing_else(dists):
    _, wheel = dists
    expected = set()
    for package in ("desktop", "webapp"):
        expected |= {p.relative_to(ROOT).as_posix() for p in source_files(ROOT / package)}
    # pyproject.toml maps templates/ and static/ into the webapp package.
    for folder in ("templates", "static"):
        expected |= {
            f"webapp/{p.relative_to(ROOT).as_posix()}" for p in source_files(ROOT / folder)
        }
    # The compiled catalogue of each translation, whether or not the checkout compiled its own.
    expected |= {
        p.relative_to(ROOT).with_suffix(".mo").as_posix()
        for p in (ROOT / "webapp" / "translations").glob("*/LC_MESSAGES/*.po")
    }
    with zipfile.ZipFile(wheel) as archive:
        names = {name for name in archive.namelist() if ".dist-info/" not in name}
    assert names == expected, (sorted(expected - names), sorted(names - expected))


@pytest.mark.timeout(BUILD_TIMEOUT + INSTALL_TIMEOUT + 2 * START_TIMEOUT)
def test_the_installed_wheel_registers_logs_in_and_logs_out(dists, tmp_path):
    _, wheel = dists
    # Nothing runs from the checkout: another folder, no PYTHONPATH, a venv of its own.
    env = outside_env()
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], 120, env=env, cwd=tmp_path)
    python = venv / SCRIPTS / f"python{EXE}"
    run([python, "-m", "pip", "install", "-q", wheel], INSTALL_TIMEOUT, env=env, cwd=tmp_path)

    where = {
        key: Path(value).resolve()
        for key, value in json.loads(run([python, "-c", WHERE], 60, env=env, cwd=tmp_path)).items()
    }
    site = where["purelib"]
    assert site.is_relative_to(venv.resolve()), where
    assert where["desktop"].is_relative_to(site), where
    assert where["webapp"].is_relative_to(site), where
    assert where["resources"] == site / "webapp", where

    data_dir = tmp_path / "data"
    stderr_path = tmp_path / "serve-stderr.txt"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [venv / SCRIPTS / f"doorstep{EXE}", "serve", "--data-dir", data_dir, "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=tmp_path,
        )
    try:
        url = running_url(proc, stderr_path)
        base = url.split("?", 1)[0]
        browser = Browser()
        browser.get(url)  # the token in the URL becomes a cookie
        browser.get(base + "static/vendor/bootstrap/bootstrap.min.css")  # a 404 would raise

        browser.register(base, "Mei", "mei@example.com", "correct horse")
        assert urllib.parse.urlsplit(browser.url).path == "/login", browser.alerts()
        browser.post(base + "login", {"email": "mei@example.com", "password": "correct horse"})
        assert "Welcome back, Mei!" in browser.html, browser.alerts()
        browser.post(base + "logout", {})  # the navbar's form, with its CSRF token
        assert "You have been logged out." in browser.alerts()
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            status = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise
    if os.name == "posix":  # SIGTERM stops serve cleanly; Windows' terminate() kills it
        assert status == 0, stderr_path.read_text("utf-8", "replace")


# Where the venv's Python imports Doorstep from, and where its resources resolve.
WHERE = """
import json, sysconfig
import desktop, webapp
from desktop.locations import resource_root
print(json.dumps({
    "purelib": sysconfig.get_path("purelib"),
    "desktop": desktop.__file__,
    "webapp": webapp.__file__,
    "resources": str(resource_root()),
}))
"""


def running_url(proc: subprocess.Popen[bytes], stderr_path: Path) -> str:
    """Return the URL from serve's first stdout line, read in a thread within START_TIMEOUT."""
    assert proc.stdout is not None
    lines: queue.Queue[bytes] = queue.Queue()

    def drain(stream) -> None:
        with stream:  # keeps reading, so serve never blocks on a full pipe
            for line in iter(stream.readline, b""):
                lines.put(line)
        lines.put(b"")

    threading.Thread(target=drain, args=(proc.stdout,), daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    try:
        first = lines.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        first = None
    text = "" if first is None else first.decode("utf-8", "replace").strip()
    match = RUNNING_LINE.match(text)
    assert match, (
        f"serve's first line: {text!r} (exit status {proc.poll()}); its stderr:\n"
        + stderr_path.read_text("utf-8", "replace")[-5000:]
    )
    return match.group(1)
