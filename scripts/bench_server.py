"""Server benchmark: Doorstep's embedded server against a bare Flask app on waitress.

Measures in one run, in interleaved rounds (a new seeded order each round), and prints medians:
  - bare: a one-route Flask "hello" app on waitress, with Doorstep's thread count;
  - anonymous: `doorstep serve`'s landing page (guard + webapp as shipped), token cookie only;
  - logged in: the same page for a seeded account, logged in once through the real form;
  - login POST: the login form's POST alone, one at a time (Argon2id as shipped);
  - under logins: the anonymous landing page while 8 threads log in continuously.

Each load is closed-loop: client processes (not threads: the clients must not share one
interpreter lock), each with one keep-alive connection on a raw socket and a prepared
request, so a request costs the client a few tens of microseconds. The clients' CPU time is
measured and printed beside the server's, so a saturated client shows.

Linux only (/proc). Runs as a module from the checkout's root, like the start-up benchmark:

    python -m scripts.bench_server [--rounds 5] [--seconds 3] [--clients 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path

try:
    import desktop.server
    from desktop.guard import cookie_name
    from scripts.benchstats import paired_ratio
    from tests.support.forms import csrf_token_from
    from tests.support.processes import (
        child_env,
        doorstep_command,
        free_port,
        serving,
        wait_for,
    )
except ModuleNotFoundError as error:
    if error.name not in ("tests", "scripts"):
        raise
    sys.exit("run it as a module from the checkout's root: python -m scripts.bench_server")

USERNAME, EMAIL, PASSWORD = "Mei", "mei@example.com", "correct horse battery"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
SET_COOKIE = re.compile(rb"\r\nset-cookie:\s*([^=;\s]+)=([^;\r\n]*)", re.IGNORECASE)
LOGIN_THREADS = 8
# The bare app gets as many waitress threads as Doorstep's embedded server, so the comparison
# is about the app, not the pool (4 before the server named its count).
DEFAULT_THREADS: int = getattr(desktop.server, "THREADS", 4)


class Connection:
    """One keep-alive HTTP/1.1 connection on a raw socket: cheap for the client, so the
    server is what is measured."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def request(self, raw: bytes) -> tuple[int, bytes, bytes]:
        """Send a prepared request; return (status, head, body). Needs a Content-Length."""
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        match = CONTENT_LENGTH.search(head)
        if match is None:
            raise RuntimeError(f"no Content-Length in {head[:200]!r}")
        length = int(match.group(1))
        self.buffer = rest
        while len(self.buffer) < length:
            self._receive()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(head[9:12]), head, body

    def _receive(self) -> None:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def http_get(port: int, path: str, cookies: dict[str, str]) -> bytes:
    """Return a prepared GET request for `path` with `cookies`."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if cookies:
        lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def http_post(port: int, path: str, cookies: dict[str, str], fields: dict[str, str]) -> bytes:
    """Return a prepared form POST for `path` with `cookies`."""
    body = urllib.parse.urlencode(fields)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/x-www-form-urlencoded",
        f"Content-Length: {len(body)}",
        "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("latin-1")


def cookies_set(head: bytes) -> dict[str, str]:
    """The cookies a response's Set-Cookie headers set (name -> value)."""
    return {name.decode(): value.decode() for name, value in SET_COOKIE.findall(head)}


def log_in(port: int, cookies: dict[str, str]) -> tuple[float, int, dict[str, str]]:
    """Fetch the login form, then time its POST; return (seconds, status, cookies after)."""
    connection = Connection(port)
    try:
        status, head, body = connection.request(http_get(port, "/login", cookies))
        assert status == 200, status
        session = {**cookies, **cookies_set(head)}
        fields = {
            "csrf_token": csrf_token_from(body.decode()),
            "email": EMAIL,
            "password": PASSWORD,
        }
        started = time.perf_counter()
        status, head, _ = connection.request(http_post(port, "/login", session, fields))
        elapsed = time.perf_counter() - started
        return elapsed, status, {**session, **cookies_set(head)}
    finally:
        connection.close()


# --- load ------------------------------------------------------------------------------------


def _client(port: int, raw: bytes, ready: object, go: object, stop: object, out: object) -> None:
    """One closed-loop client process: one connection, requests until `stop`; reports
    latencies, statuses and its own CPU time."""
    connection = Connection(port)
    for _ in range(20):  # warm the connection and the server's caches
        connection.request(raw)
    ready.release()  # type: ignore[attr-defined]
    go.wait()  # type: ignore[attr-defined]
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    cpu = time.process_time()
    clock = time.perf_counter
    while not stop.is_set():  # type: ignore[attr-defined]
        started = clock()
        status, _, _ = connection.request(raw)
        latencies.append(clock() - started)
        statuses[status] += 1
    out.put((latencies, dict(statuses), time.process_time() - cpu))  # type: ignore[attr-defined]
    connection.close()


def _logins(port: int, cookies: dict[str, str], stop: object, out: object) -> None:
    """LOGIN_THREADS threads logging in continuously, each with a fresh session every time."""
    statuses: Counter[int] = Counter()
    times: list[float] = []
    lock = threading.Lock()

    def keep_logging_in() -> None:
        while not stop.is_set():  # type: ignore[attr-defined]
            elapsed, status, _ = log_in(port, cookies)
            with lock:
                statuses[status] += 1
                times.append(elapsed)

    threads = [threading.Thread(target=keep_logging_in) for _ in range(LOGIN_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((times, dict(statuses)))  # type: ignore[attr-defined]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One timed load: what the clients saw and what each side spent."""

    rps: float
    p50: float
    p99: float
    statuses: dict[int, int]
    client_cpu: float  # cores, summed over client processes
    server_cpu: float  # cores
    logins_per_s: float = 0.0  # the background logins' rate, when there were any
    login_statuses: dict[int, int] = field(default_factory=dict)


def load(
    port: int,
    server_pid: int,
    raw: bytes,
    clients: int,
    seconds: float,
    background: Callable[..., BaseProcess] | None = None,
) -> Run:
    """Run `clients` closed-loop clients on `raw` for `seconds`, with an optional background
    process (made from the stop event and the result queue) started first."""
    context = multiprocessing.get_context("fork")
    ready, go, stop, out = context.Semaphore(0), context.Event(), context.Event(), context.Queue()
    processes = [
        context.Process(target=_client, args=(port, raw, ready, go, stop, out))
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.acquire()
    back = background(stop, out) if background else None
    if back is not None:
        back.start()
        time.sleep(1.0)  # let the logins reach their steady state before measuring
    server_before = cpu_seconds(server_pid)
    started = time.perf_counter()
    go.set()
    time.sleep(seconds)
    stop.set()
    results = [out.get(timeout=120) for _ in processes]
    elapsed = time.perf_counter() - started
    server_cpu = (cpu_seconds(server_pid) - server_before) / elapsed
    logins_per_s, login_statuses = 0.0, {}
    if back is not None:
        login_times, login_statuses = out.get(timeout=120)
        logins_per_s = len(login_times) / elapsed
        back.join()
    for process in processes:
        process.join()
    latencies = sorted(x for lat, _, _ in results for x in lat)
    statuses: Counter[int] = Counter()
    for _, counts, _ in results:
        statuses.update(counts)
    return Run(
        rps=len(latencies) / elapsed,
        p50=statistics.median(latencies),
        p99=statistics.quantiles(latencies, n=100)[98],
        statuses=dict(statuses),
        client_cpu=sum(cpu for _, _, cpu in results) / elapsed,
        server_cpu=server_cpu,
        logins_per_s=logins_per_s,
        login_statuses=login_statuses,
    )


# --- the servers -----------------------------------------------------------------------------


def bare_app_main(port: int, threads: int) -> None:
    """Serve a one-route Flask app on waitress (the baseline), until killed."""
    from flask import Flask
    from waitress import serve

    # Its queue-depth warnings would drown the table; Doorstep's go to its log file.
    logging.getLogger("waitress").setLevel(logging.ERROR)
    app = Flask("bare")

    @app.get("/")
    def index() -> str:
        return "<!doctype html><title>Bare</title><h1>Hello</h1>"

    serve(app, host="127.0.0.1", port=port, threads=threads, ident="Bare")


def seed_account(data_dir: Path) -> None:
    """Create the benchmark's account with `doorstep users create`, as a tester would, and
    turn the per-client rate limit off in the data dir's config.json."""
    # Every client here is 127.0.0.1: the limit (30 login POSTs a minute per address) would
    # turn the logins into cheap 429s, and the point is what Argon2 does to pages meanwhile.
    data_dir.mkdir(parents=True)
    (data_dir / "config.json").write_text(json.dumps({"RATELIMIT_ENABLED": False}))
    subprocess.run(
        [*doorstep_command(), "users", "create", "--data-dir", str(data_dir),
         "--username", USERNAME, "--email", EMAIL, "--password-stdin"],
        input=PASSWORD + "\n", text=True, check=True, env=child_env(), capture_output=True,
    )  # fmt: skip


def accepting(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


# --- the table -------------------------------------------------------------------------------

ROWS = ("bare", "anonymous", "logged in", "under logins")


def summarise(runs: dict[str, list[Run]], login_p50s: list[float]) -> dict[str, dict]:
    """Medians per row, and each row's requests per second against bare."""
    bare = [r.rps for r in runs["bare"]]
    summary: dict[str, dict] = {}
    for name in ROWS:
        rows = runs[name]
        rps = [r.rps for r in rows]
        summary[name] = {
            "rps": statistics.median(rps),
            "p50 ms": statistics.median(r.p50 for r in rows) * 1000,
            "p99 ms": statistics.median(r.p99 for r in rows) * 1000,
            "client cpu": statistics.median(r.client_cpu for r in rows),
            "server cpu": statistics.median(r.server_cpu for r in rows),
            "median / bare": statistics.median(rps) / statistics.median(bare),
            "paired / bare": paired_ratio(rps, bare),
            "statuses": sum((Counter(r.statuses) for r in rows), Counter()),
            "rounds": len(rows),
        }
        if name == "under logins":
            summary[name]["logins per s"] = statistics.median(r.logins_per_s for r in rows)
            summary[name]["login statuses"] = sum(
                (Counter(r.login_statuses) for r in rows), Counter()
            )
    summary["login POST"] = {"p50 ms": statistics.median(login_p50s) * 1000}
    return summary


def print_table(summary: dict[str, dict]) -> None:
    """Print the medians and ratios."""
    head = (
        f"{'row':<14}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'/ bare':>8}{'paired':>8}"
        f"{'client cpu':>12}{'server cpu':>12}  statuses"
    )
    print()
    print(head)
    for name in ROWS:
        row = summary[name]
        statuses = ", ".join(f"{code}×{count}" for code, count in sorted(row["statuses"].items()))
        # Under logins, one client measures latency: its rate is not comparable with bare's.
        ratios = (
            f"{'–':>8}{'–':>8}"
            if name == "under logins"
            else f"{row['median / bare']:>7.2f}x{row['paired / bare']:>7.2f}x"
        )
        print(
            f"{name:<14}{row['rps']:>8.0f}{row['p50 ms']:>9.2f}{row['p99 ms']:>9.1f}{ratios}"
            f"{row['client cpu']:>11.2f}c{row['server cpu']:>11.2f}c  {statuses}"
        )
    logins = summary["under logins"]
    login_statuses = ", ".join(
        f"{code}×{count}" for code, count in sorted(logins["login statuses"].items())
    )
    print(f"{'login POST':<14}{'':>8}{summary['login POST']['p50 ms']:>9.1f}")
    print(
        f"\nunder logins: {LOGIN_THREADS} threads logged in {logins['logins per s']:.1f}/s "
        f"({login_statuses}); cpu columns are cores used (the machine has {os.cpu_count()})"
    )
    anonymous, p99 = summary["anonymous"]["paired / bare"], logins["p99 ms"]
    print(
        f"targets: anonymous >= 0.70x bare: {anonymous:.2f}x "
        f"{'met' if anonymous >= 0.7 else 'NOT met'}; landing p99 under logins <= 250 ms: "
        f"{p99:.0f} ms {'met' if p99 <= 250 else 'NOT met'}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every measurement")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each load")
    parser.add_argument("--clients", type=int, default=4, help="client processes per load")
    parser.add_argument("--logins", type=int, default=5, help="login POSTs timed per round")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="bare's threads")
    parser.add_argument("--seed", type=int, default=0, help="seed for each round's order")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--bare-app", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_app:
        bare_app_main(args.bare_app, args.threads)
        return 0

    with tempfile.TemporaryDirectory(prefix="doorstep-bench-server-") as tmp:
        data_dir = Path(tmp) / "data"
        seed_account(data_dir)
        bare_port = free_port()
        bare = subprocess.Popen(
            [sys.executable, "-m", "scripts.bench_server", "--bare-app", str(bare_port),
             "--threads", str(args.threads)],
            env=child_env(), stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            with serving(doorstep_command(), data_dir) as doorstep:
                wait_for(lambda: accepting(bare_port), 30, "the bare app")
                return measure(args, bare_port, bare.pid, doorstep.port, doorstep.proc.pid,
                               doorstep.token)  # fmt: skip
        finally:
            bare.terminate()
            bare.wait(10)


def measure(
    args: argparse.Namespace, bare_port: int, bare_pid: int, port: int, pid: int, token: str
) -> int:
    """Log in once, run the rounds, print the table."""
    token_cookie = {cookie_name(port): token}
    status, logged_in = log_in(port, token_cookie)[1:]
    assert status == 302, f"logging in answered {status}"
    check = Connection(port)
    # A browser keeps the cookie the first page sets (the navbar's CSRF token joins the
    # session there): the steady state is a request that sets no cookie.
    _, head, body = check.request(http_get(port, "/", logged_in))
    assert b"Welcome back, Mei!" in body, "the login did not take"
    logged_in.update(cookies_set(head))
    landing = http_get(port, "/", token_cookie)
    greeting = http_get(port, "/", logged_in)
    for raw in (landing, greeting):
        assert not cookies_set(check.request(raw)[1]), "the page sets a cookie every time"
    assert b"Welcome back" not in check.request(landing)[2]
    check.close()

    loads: dict[str, Callable[[], Run]] = {
        "bare": lambda: load(bare_port, bare_pid, http_get(bare_port, "/", {}), args.clients,
                             args.seconds),
        "anonymous": lambda: load(port, pid, landing, args.clients, args.seconds),
        "logged in": lambda: load(port, pid, greeting, args.clients, args.seconds),
        "under logins": lambda: load(
            port, pid, landing, 1, args.seconds,
            background=lambda stop, out: multiprocessing.get_context("fork").Process(
                target=_logins, args=(port, token_cookie, stop, out)
            ),
        ),
    }  # fmt: skip
    runs: dict[str, list[Run]] = {name: [] for name in ROWS}
    login_p50s: list[float] = []
    shuffler = random.Random(args.seed)
    for number in range(args.rounds):
        for name in shuffler.sample(ROWS, len(ROWS)):
            runs[name].append(loads[name]())
        attempts = [log_in(port, token_cookie)[:2] for _ in range(args.logins)]
        assert all(status == 302 for _, status in attempts), attempts
        times = [elapsed for elapsed, _ in attempts]
        login_p50s.append(statistics.median(times))
        print(
            f"round {number + 1}/{args.rounds}: "
            + ", ".join(f"{name} {runs[name][-1].rps:.0f}/s" for name in ROWS)
            + f", login {login_p50s[-1] * 1000:.0f} ms",
            flush=True,
        )
    summary = summarise(runs, login_p50s)
    print_table(summary)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"cpus": os.cpu_count(), "args": {k: str(v) for k, v in vars(args).items()},
                 "summary": {k: {n: dict(v) if isinstance(v, Counter) else v
                                 for n, v in row.items()} for k, row in summary.items()},
                 "runs": {k: [vars(r) for r in v] for k, v in runs.items()}},
                indent=2, default=str,
            )
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
