"""The window's native menu: About, the data and log folders, and Quit (Ctrl+Q / Cmd+Q)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from desktop import __version__, system
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
        # paste in fields) while webview.settings["SHOW_DEFAULT_MENUS"] stays on.
        file_items += [MenuSeparator(), MenuAction(QUIT, quit_)]
    return [Menu("File", file_items), Menu("Help", [MenuAction(ABOUT, about)])]


def show_about(window: Window, text: str) -> None:
    """Show the About box: a Qt message box, else the backend's own dialog."""
    from desktop.window import _native_view  # here: desktop.window imports this module

    view = _native_view(window)
    if view is None:
        # WinForms' and Cocoa's native message box (with a Cancel button that does the same).
        window.create_confirmation_dialog(ABOUT, text)
        return

    def about() -> None:
        from qtpy.QtWidgets import QMessageBox, QWidget

        QMessageBox.about(cast(QWidget, view), ABOUT, text)

    run_on_qt_thread(view, about)


def finish_qt_menu(view: object | None) -> None:
    """On Qt: give Quit the Quit key (Ctrl+Q) and draw the menu bar in the system's colours."""
    if view is None:
        return

    def finish() -> None:
        from qtpy.QtCore import QTimer
        from qtpy.QtGui import QKeySequence, QPalette
        from qtpy.QtWidgets import QApplication, QMainWindow

        window = cast(QMainWindow, view)  # the BrowserView is the window's QMainWindow
        bar = window.menuBar()
        if bar is None:  # QMainWindow makes one on demand: never None in practice
            return
        # pywebview's MenuAction takes no shortcut: it is set on the QAction it made.
        for top in bar.actions():
            menu = top.menu()
            for action in menu.actions() if menu is not None else []:
                if action.text() == QUIT:
                    # Ctrl+Q on Linux; some desktops define no standard Quit key.
                    standard = QKeySequence(QKeySequence.StandardKey.Quit)
                    action.setShortcut(standard if not standard.isEmpty() else "Ctrl+Q")

        # pywebview paints the window's palette white (background_color), and the menu bar
        # inherits it: under a dark system theme its light text would be white on white.
        def follow_system() -> None:
            system_palette = QApplication.palette()
            palette = bar.palette()
            for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
                # Set explicitly: a role left unset is inherited from the window again.
                window_colour = system_palette.color(group, QPalette.ColorRole.Window)
                palette.setColor(group, QPalette.ColorRole.Window, window_colour)
            bar.setPalette(palette)

        follow_system()
        hints = QApplication.styleHints()
        if hints is not None and hasattr(hints, "colorSchemeChanged"):  # Qt 6.5+
            # Once the application's palette has changed too.
            hints.colorSchemeChanged.connect(lambda *_: QTimer.singleShot(0, follow_system))

    run_on_qt_thread(view, finish)


def run_on_qt_thread(view: object, function: Callable[[], None]) -> None:
    """Run `function` on Qt's GUI thread, from any thread."""
    # pywebview's BrowserView.create_window_trigger calls what it is given, queued to the
    # GUI thread: Qt widgets must only be touched there.
    view.create_window_trigger.emit(function)  # type: ignore[attr-defined]
