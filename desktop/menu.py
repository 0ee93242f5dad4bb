"""The window's native menu: About, the data and log folders, and Quit (Ctrl+Q / Cmd+Q)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from desktop import __version__, qt, system
from desktop.locations import make_private_dir

if TYPE_CHECKING:
    from webview import Window
    from webview.menu import Menu

log = logging.getLogger("doorstep.menu")

ABOUT = "About Doorstep"
OPEN_DATA = "Open data folder"
OPEN_LOGS = "Open log folder"
QUIT = "Quit"
LICENCE = "MIT licence"


def about_text(data_dir: Path) -> str:
    """Return what About Doorstep says: the version, the data folder and the licence."""
    return (
        f"Doorstep {__version__}\n\n"
        f"Your data folder:\n{data_dir}\n\n"
        f"Released under the {LICENCE}. Nothing leaves your computer."
    )


def build(window: Window, data_dir: Path, log_dir: Path) -> list[Menu]:
    """Return the menus for `window` (pywebview's menu API; the backends draw them natively)."""
    from webview.menu import Menu, MenuAction, MenuSeparator

    # pywebview runs each action in a thread of its own, never on the GUI thread.
    def open_data() -> None:
        system.open_folder(data_dir)

    def open_logs() -> None:
        # setup_logging made it; a user may have deleted it since (it names their folders).
        system.open_folder(make_private_dir(log_dir))

    def about() -> None:
        show_about(window, about_text(data_dir))

    def quit_() -> None:
        log.info("Quit from the menu")
        window.destroy()  # what a stop signal does: the window closes, start() returns

    file_items: list[Menu | MenuAction | MenuSeparator] = [
        MenuAction(OPEN_DATA, open_data),
        MenuAction(OPEN_LOGS, open_logs),
    ]
    if sys.platform != "darwin":
        # macOS's application menu has its own Quit (Cmd+Q), and the Edit menu (copy and
        # paste in fields) while webview.settings["SHOW_DEFAULT_MENUS"] stays on. Its Quit
        # asks each window's `closing` handlers first (the window state is saved there), then
        # ends the process: the server, a child reading our stdin, stops on its own, and the
        # data folder's lock goes with the process.
        file_items += [MenuSeparator(), MenuAction(QUIT, quit_)]
    return [Menu("File", file_items), Menu("Help", [MenuAction(ABOUT, about)])]


def show_about(window: Window, text: str) -> None:
    """Show the About box: a Qt message box, else the backend's own dialog."""
    view = qt.native_view(window)
    if view is None:
        # WinForms' and Cocoa's native message box (with a Cancel button that does the same).
        window.create_confirmation_dialog(ABOUT, text)
        return
    qt.show_about(view, ABOUT, text)
