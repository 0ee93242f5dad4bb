"""Command line of Doorstep: the window (default), `serve`, `users`, and `--dev`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from desktop import WINDOW_SERVER_ARG, __version__, locations, system, windows
from desktop.fatal import tell_user

if TYPE_CHECKING:
    from desktop.instance import InstanceLock

log = logging.getLogger("doorstep")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for `doorstep [--dev] [--data-dir DIR] [serve ... | users ...]`."""
    parser = argparse.ArgumentParser(
        prog="doorstep",
        description="Doorstep: local accounts, a personal greeting and a flash alert, "
        "in a native window. Without a command, opens the Doorstep window.",
    )
    parser.add_argument("--version", action="version", version=f"Doorstep {__version__}")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="keep the database, secret key, window profile and logs in DIR "
        f"(default: ${locations.DATA_DIR_ENV}, else the platform's per-user data folder)",
    )
    parser.add_argument(
        "--dev",
        action="store_true",
        help="developer mode: Flask's debug server with reloader and debugger, "
        "on 127.0.0.1 only, shown in the window",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the server without a window and print its URL (for testers and browsers)",
        description="Run Doorstep's server without a window. The first line printed is "
        "'Doorstep is running at <URL>'; the URL carries the access token. "
        "Stops cleanly on Ctrl-C or SIGTERM.",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s); any but a loopback address "
        "serves other machines too, over unencrypted plain HTTP (the token still applies)",
    )
    serve.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: 0, any free port)"
    )
    serve.add_argument(
        "--data-dir", dest="serve_data_dir", metavar="DIR", help="as --data-dir above"
    )
    serve.add_argument("--open", action="store_true", help="open the URL in the system browser")
    users = commands.add_parser(
        "users",
        help="list, create, reset the password of, or delete accounts (see: doorstep users --help)",
        # Everything after `users`, --help and --data-dir included, is for its own command
        # line (webapp.cli, in click): no prefix character can start an argument, so none is
        # taken for an option here, and REMAINDER keeps them all in order.
        add_help=False,
        prefix_chars="\0",
    )
    users.add_argument("users_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run Doorstep as the command line asks and return the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == [WINDOW_SERVER_ARG]:  # the window's own server (desktop.server_process)
        from desktop.server_process import run_child

        return run_child()
    args = build_parser().parse_args(argv)
    # --data-dir is accepted before or after `serve` and `users`.
    if args.command == "users":
        data_dir_arg = last_data_dir(args.users_args) or args.data_dir
    else:
        data_dir_arg = getattr(args, "serve_data_dir", None) or args.data_dir
    data_dir = locations.data_dir(data_dir_arg)
    try:
        locations.make_private_dir(data_dir)
        log_path = system.setup_logging(data_dir_arg)
    except OSError as exc:
        tell_user(f"cannot use the data folder {data_dir}: {exc}")
        return 1
    if args.command == "users":
        # Not its arguments: they name people's email addresses.
        log.info("Doorstep %s starting (users)", __version__)
        return run_users(args.users_args, args.data_dir)
    log.info("Doorstep %s starting (%s)", __version__, " ".join(sys.argv[1:]) or "window")

    if args.command == "serve":
        from desktop import serve

        return serve.run(args.host, args.port, data_dir, log_path, open_browser=args.open)

    if not system.has_display():
        tell_user(
            "no display found (DISPLAY/WAYLAND_DISPLAY unset); "
            "serving in this terminal instead of opening a window"
        )
        log.warning("No display: falling back to serve mode")
        from desktop import serve

        return serve.run("127.0.0.1", 0, data_dir, log_path)

    # Before anything imports webview: pythonnet loads Python.Runtime.dll then, and .NET
    # refuses it while it carries a download's mark (onedir: the folder of the .exe).
    if windows.should_clear_mark_of_the_web():
        cleared = windows.clear_mark_of_the_web(Path(sys.executable).parent)
        log.info("Cleared the downloaded-file mark from %d files", cleared)
    if windows.webview2_missing():
        log.error("No WebView2 Runtime found")
        tell_user(windows.MISSING_WEBVIEW2_MESSAGE)
        return 1

    from desktop import instance

    # One window per data folder (--dev's too), claimed before any server starts: a second
    # launch starts nothing and brings the open window forward (docs/desktop.md).
    try:
        lock = instance.claim(data_dir)
    except instance.AlreadyRunningNoAnswer:
        log.error("The data folder's lock is held, but its window did not answer")
        tell_user(f"Doorstep is already running for {data_dir} but does not respond")
        return 1
    if lock is None:
        log.info("Doorstep is already open for this data folder: brought its window forward")
        return 0
    try:
        if args.dev:
            from desktop import dev

            return dev.run(data_dir, log_path, lock)
        return run_window(data_dir, log_path, data_dir_arg, lock)
    finally:
        lock.release()  # show() already has, unless it never ran


def last_data_dir(users_args: list[str]) -> str | None:
    """Return the --data-dir `users ARGS` will use (the last: a subcommand's wins), or None."""
    # Read here as well, so the log goes where the data does (as for `serve`) and the
    # default data folder is not made for a command that works on another.
    found = None
    for index, arg in enumerate(users_args):
        if arg == "--":
            break
        if arg == "--data-dir" and index + 1 < len(users_args):
            found = users_args[index + 1]
        elif arg.startswith("--data-dir="):
            found = arg.partition("=")[2]
    return found


def run_users(users_args: list[str], data_dir_arg: str | None) -> int:
    """Run `doorstep users ARGS` (webapp.cli) and return its exit status."""
    from webapp.cli import users

    if data_dir_arg:  # given before `users`: the group's option, which a subcommand's overrides
        users_args = ["--data-dir", data_dir_arg, *users_args]
    try:
        # Globs were the shell's to expand (or not): an argument is taken as it is.
        users.main(users_args, prog_name="doorstep users", windows_expand_args=False)
    except SystemExit as exc:  # click's standalone mode always ends this way
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def run_window(data_dir: Path, log_path: Path, data_dir_arg: str | None, lock: InstanceLock) -> int:
    """Open the Doorstep window on the embedded server; return once it is closed."""
    from desktop.server import bind_socket, new_token
    from desktop.server_process import REFUSED_STATUS, ServerProcess
    from desktop.window import show

    # Server first: the socket listens at once, and a child process loads the webapp on
    # another core while this one starts Qt (docs/startup.md).
    sock = bind_socket("127.0.0.1", 0)
    token = new_token()
    server = ServerProcess(sock, data_dir, token, data_dir_arg).start()
    try:
        show(f"http://127.0.0.1:{server.port}/?token={token}", data_dir, instance=lock)
    finally:
        status = server.stop()
    if status == REFUSED_STATUS:
        # The window has said why, and the server process too (on stderr or in its log).
        return 1
    if status == 1:
        tell_user(f"the webapp failed to start; see {log_path.parent}")
        return 1
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
