"""Start-up benchmark: process start -> landing page loaded in the window.

Runs, alternating, several launches of each command and prints the medians:
  - Doorstep relaunch: data dir and webview profile already exist (every launch after the first);
  - Doorstep relaunch, remembered: the same, for a user who logged in with "Remember me"
    (the first page greets them, so it needs the database);
  - Doorstep first launch: a fresh data dir each time;
  - bare: scripts/bare_baseline.py, a pywebview window on a one-route Flask app on waitress;
  - peer: scripts/peer_baseline.py, a same-stack app written the obvious way (Flask-SQLAlchemy,
    Flask-Login, Flask-WTF, Bootstrap's CSS; tables created at start), relaunched on its own
    data dir;
  - frozen relaunch: dist/doorstep/doorstep (the PyInstaller onedir app), when it is built.

"Loaded" is read from outside the process: QtWebEngine's remote-debugging port
(QTWEBENGINE_REMOTE_DEBUGGING) is polled until the page on 127.0.0.1 reports
document.readyState == "complete" (after Doorstep's token redirect). The product has no hook.

Linux only (Qt backend); starts its own Xvfb unless --display is given. It uses the tests'
helpers (tests/support/), so it runs as a module from the checkout's root:

    python -m scripts.bench_startup [--runs 7] [--json results.json]
        [--command 'frozen relaunch=dist/doorstep/doorstep --data-dir {relaunch_dir}']

In --command, {relaunch_dir} is a data dir prepared once and reused, {remembered_dir} one
with a remembered login, {peer_dir} the peer's, {fresh_dir} a new one per run.

The table gives each command's median, min and max, and against bare and against peer (when
run): the ratio of the medians and the paired ratio, the median of each round's own ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

try:
    from scripts.benchstats import paired_ratio
    from tests.support import REPO_ROOT
    from tests.support.bundle import FROZEN_EXECUTABLE
    from tests.support.devtools import CDPSession, cdp_targets, loaded_page
    from tests.support.processes import child_env, free_port
    from tests.support.x11 import close_window, find_window, xvfb
except ModuleNotFoundError as error:
    if error.name != "tests":
        raise
    sys.exit("run it as a module from the checkout's root: python -m scripts.bench_startup")

LOAD_TIMEOUT = 60.0
POLL_INTERVAL = 0.01

# Run in the window on the untimed first launch: create an account and log in to it with
# "Remember me", through the real forms (CSRF tokens included).
LOG_IN_REMEMBERED_JS = """
(async () => {
  const csrf = async (path) => new DOMParser()
    .parseFromString(await (await fetch(path)).text(), "text/html")
    .querySelector("[name=csrf_token]").value;
  const post = async (path, fields) => fetch(path, {
    method: "POST", body: new URLSearchParams({csrf_token: await csrf(path), ...fields}),
  });
  const password = "benchmark password";
  await post("/register", {username: "Mei", email: "mei@example.com", password, confirm: password});
  const page = await post("/login", {email: "mei@example.com", password, remember: "y"});
  return (await page.text()).includes("Welcome back, Mei!");
})()
"""


@dataclass
class Command:
    """One thing to launch and time."""

    name: str
    argv: list[str]
    title: str  # the window's title, to close it as a user would
    prepare: str = ""  # JavaScript to run in the page on the untimed first launch
    expect: str = ""  # text the loaded page must show, so the row times what it says
    times: list[float] = field(default_factory=list)


def default_commands() -> list[Command]:
    """Doorstep relaunch and first launch, the frozen app if built, and the two baselines."""
    python = sys.executable
    frozen = (
        [
            Command(
                "frozen relaunch",
                [str(FROZEN_EXECUTABLE), "--data-dir", "{relaunch_dir}"],
                "Doorstep",
            )
        ]
        if FROZEN_EXECUTABLE.exists()
        else []
    )
    return [
        *frozen,
        Command(
            "doorstep relaunch",
            [python, "-m", "desktop", "--data-dir", "{relaunch_dir}"],
            "Doorstep",
        ),
        Command(
            "doorstep relaunch, remembered",
            [python, "-m", "desktop", "--data-dir", "{remembered_dir}"],
            "Doorstep",
            prepare=LOG_IN_REMEMBERED_JS,
            expect="Welcome back, Mei!",
        ),
        Command(
            "doorstep first launch",
            [python, "-m", "desktop", "--data-dir", "{fresh_dir}"],
            "Doorstep",
        ),
        Command("bare", [python, str(REPO_ROOT / "scripts" / "bare_baseline.py")], "Bare"),
        Command(
            "peer",
            [python, str(REPO_ROOT / "scripts" / "peer_baseline.py"), "--data-dir", "{peer_dir}"],
            "Peer",
            expect="Log in",
        ),
    ]


def parse_extra(spec: str) -> Command:
    """Parse --command 'NAME=COMMAND LINE' (title defaults to Doorstep)."""
    name, _, line = spec.partition("=")
    if not line:
        raise argparse.ArgumentTypeError("expected NAME=COMMAND")
    return Command(name.strip(), shlex.split(line), "Doorstep")


def launch_once(
    command: Command, display: str, dirs: dict[str, str], prepare: bool = False
) -> float:
    """Start `command`, return seconds until its page has loaded, then close it."""
    debug_port = free_port()
    env = child_env({"DISPLAY": display, "QTWEBENGINE_REMOTE_DEBUGGING": str(debug_port)})
    env.pop("PYTHONFAULTHANDLER", None)
    argv = [part.format(**dirs) for part in command.argv]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = started + LOAD_TIMEOUT
        while True:
            state = loaded_page(debug_port, "http://127.0.0.1:")
            if state and "token=" not in state["url"]:
                elapsed = time.perf_counter() - started
                if prepare and command.prepare:
                    run_in_page(debug_port, command.prepare)
                elif command.expect and command.expect not in state["text"]:
                    raise RuntimeError(f"{command.name}: the page does not say {command.expect!r}")
                break
            if proc.poll() is not None:
                raise RuntimeError(f"{command.name} exited with {proc.returncode}")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{command.name}: page not loaded in {LOAD_TIMEOUT} s")
            time.sleep(POLL_INTERVAL)
        window = find_window(display, command.title)
        if window:
            close_window(display, window)
        else:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return elapsed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run_in_page(debug_port: int, script: str) -> None:
    """Run `script` in the window's page; it must come to a true value."""
    page = next(t for t in cdp_targets(debug_port) if t.get("type") == "page")
    with CDPSession(page["webSocketDebuggerUrl"], timeout=60) as cdp:
        if cdp.evaluate(script) is not True:
            raise RuntimeError("preparing the data dir in the window failed")


BASELINES = ("bare", "peer")
RATIO_KEYS = tuple(f"{kind} / {name}" for name in BASELINES for kind in ("median", "paired"))


def ratios_to(command: Command, baselines: list[Command]) -> dict[str, float | None]:
    """`command` against each baseline run: the ratio of the medians and the paired ratio.

    The paired ratio is the median of each round's own ratio: a slow moment of the machine
    hits both. A baseline not run gives None.
    """
    ratios: dict[str, float | None] = dict.fromkeys(RATIO_KEYS)
    for baseline in baselines:
        of_medians = statistics.median(command.times) / statistics.median(baseline.times)
        ratios[f"median / {baseline.name}"] = of_medians
        ratios[f"paired / {baseline.name}"] = paired_ratio(command.times, baseline.times)
    return ratios


@contextlib.contextmanager
def display_for(args: argparse.Namespace) -> Iterator[str]:
    """The display given, or a fresh Xvfb."""
    if args.display:
        yield args.display
    else:
        with xvfb() as display:
            yield display


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="launches per command")
    parser.add_argument("--display", help="use this X display instead of starting Xvfb")
    parser.add_argument("--json", type=Path, help="also write the raw times here")
    parser.add_argument(
        "--command", action="append", type=parse_extra, default=[], metavar="NAME=CMD",
        help="an extra command to time, e.g. a frozen build",
    )  # fmt: skip
    parser.add_argument("--only", action="append", help="run only the commands named so")
    parser.add_argument("--seed", type=int, default=0, help="seed for each round's order")
    args = parser.parse_args(argv)

    commands = default_commands() + args.command
    if args.only:
        unknown = set(args.only) - {c.name for c in commands}
        if unknown:
            parser.error(f"no command named {', '.join(map(repr, sorted(unknown)))}")
        commands = [c for c in commands if c.name in args.only]

    with tempfile.TemporaryDirectory(prefix="doorstep-bench-") as tmp, display_for(args) as display:
        root = Path(tmp)
        shared_dirs = {
            "relaunch_dir": str(root / "relaunch"),
            "remembered_dir": str(root / "remembered"),
            "peer_dir": str(root / "peer"),
        }

        # One untimed launch of each: creates the relaunch data dir and profile, and warms the
        # OS file cache and Python's bytecode cache, as on a machine Doorstep already ran on.
        for number, command in enumerate(commands):
            dirs = {**shared_dirs, "fresh_dir": str(root / f"warm{number}")}
            launch_once(command, display, dirs, prepare=True)

        shuffler = random.Random(args.seed)
        for run in range(args.runs):
            # A new order each round: whoever goes first (or after the slow one) changes.
            for command in shuffler.sample(commands, len(commands)):
                dirs = {
                    **shared_dirs,
                    "fresh_dir": str(root / f"fresh-{run}-{command.name.replace(' ', '-')}"),
                }
                command.times.append(launch_once(command, display, dirs))
            print(
                f"run {run + 1}/{args.runs}: "
                + ", ".join(f"{c.name} {c.times[-1]:.2f}s" for c in commands),
                flush=True,
            )

    medians = {c.name: statistics.median(c.times) for c in commands}
    baselines = [b for name in BASELINES for b in commands if b.name == name]
    ratios = {c.name: ratios_to(c, baselines) for c in commands}
    width = max(24, *(len(c.name) + 2 for c in commands))
    print()
    print(
        f"{'command':<{width}}{'median':>8}{'min':>8}{'max':>8}"
        + "".join(f"{key:>15}" for key in RATIO_KEYS)
        + "  runs"
    )
    for command in commands:
        row = (
            f"{command.name:<{width}}{medians[command.name]:>7.2f}s{min(command.times):>7.2f}s"
            f"{max(command.times):>7.2f}s"
        )
        for key in RATIO_KEYS:
            value = ratios[command.name][key]
            row += f"{'–':>15}" if value is None else f"{value:>14.2f}x"
        print(f"{row}  {len(command.times)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": args.runs,
                    "cpus": os.cpu_count(),
                    "times": {c.name: c.times for c in commands},
                    "medians": medians,
                    "ratios": ratios,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
