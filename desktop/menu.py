"""The window's native menu: About, the data and log folders, and Quit (Ctrl+Q / Cmd+Q)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from desktop import __version__, qt, system
from desktop.languages import N_
from desktop.locations import make_private_dir

if TYPE_CHECKING:
    from webview import Window
    from webview.menu import Menu

log = logging.getLogger("doorstep.menu")

# In English; shown through the window's gettext (the system's language, when Doorstep speaks it).
FILE = N_("File")
HELP = N_("Help")
ABOUT = N_("About Doorstep")
OPEN_DATA = N_("Open data folder")
OPEN_LOGS = N_("Open log folder")
QUIT = N_("Quit")
LICENCE = N_("MIT licence")
ABOUT_TEXT = N_(
    "Doorstep %(version)s\n\nYour data folder:\n%(folder)s\n\n"
    "Released under the %(licence)s. Nothing leaves your computer."
)


def about_text(data_dir: Path, gettext: Callable[[str], str]) -> str:
    """Return what About Doorstep says: the version, the data folder and the licence."""
    values = {"version": __version__, "folder": data_dir, "licence": gettext(LICENCE)}
    return gettext(ABOUT_TEXT) % values


def build(
    window: Window, data_dir: Path, log_dir: Path, gettext: Callable[[str], str]
) -> list[Menu]:
    """Return the menus for `window` (pywebview's menu API; the backends draw them natively)."""
    from webview.menu import Menu, MenuAction, MenuSeparator

    _ = gettext

    # pywebview runs each action in a thread of its own, never on the GUI thread.
    def open_data() -> None:
        system.open_folder(data_dir)

    def open_logs() -> None:
        # setup_logging made it; a user may have deleted it since (it names their folders).
        system.open_folder(make_private_dir(log_dir))

    def about() -> None:
        show_about(window, _(ABOUT), about_text(data_dir, gettext))

    def quit_() -> None:
        log.info("Quit from the menu")
        window.destroy()  # what a stop signal does: the window closes, start() returns

    file_items: list[Menu | MenuAction | MenuSeparator] = [
        MenuAction(_(OPEN_DATA), open_data),
        MenuAction(_(OPEN_LOGS), open_logs),
    ]
    if sys.platform != "darwin":
        # macOS's application menu has its own Quit (Cmd+Q), and the Edit menu (copy and
        # paste in fields) while webview.settings["SHOW_DEFAULT_MENUS"] stays on. Its Quit
        # asks each window's `closing` handlers first (the window state is saved there), then
        # ends the process: the server, a child reading our stdin, stops on its own, and the
        # data folder's lock goes with the process.
        file_items += [MenuSeparator(), MenuAction(_(QUIT), quit_)]
    return [Menu(_(FILE), file_items), Menu(_(HELP), [MenuAction(_(ABOUT), about)])]


def show_about(window: Window, title: str, text: str) -> None:
    """Show the About box: a Qt message box, else the backend's own dialog."""
    view = qt.native_view(window)
    if view is None:
        # WinForms' and Cocoa's native message box (with a Cancel button that does the same).
        window.create_confirmation_dialog(title, text)
        return
    qt.show_about(view, title, text)
