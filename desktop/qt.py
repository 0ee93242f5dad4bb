"""Qt specifics of the window (pywebview's Linux backend): reached only when Qt is the backend.

pywebview draws the window; these finish it where its API stops: the application's name for
launchers, window state, bringing it to the front, downloads, the menu's shortcut and colours,
the About box, a dark background before the first page paints, and the system's languages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from desktop import window_state

if TYPE_CHECKING:
    from webview import Window

log = logging.getLogger("doorstep.qt")

# Qt's name of the catalogue for each of Doorstep's locales (qtbase_zh_CN.qm).
QT_LOCALES = {"zh_Hans": "zh_CN"}
# Bootstrap's dark body background: what the page paints once it has loaded.
DARK_BACKGROUND = "#212529"


def name_application(app_id: str) -> None:
    """Name the Qt application after the desktop entry, so launchers group the window under it."""
    from qtpy.QtCore import QCoreApplication
    from qtpy.QtGui import QGuiApplication

    # Before webview.start() creates the QApplication: X11's WM_CLASS class (the entry's
    # StartupWMClass), and Wayland's app_id and _GTK_APPLICATION_ID (the entry's file name).
    QCoreApplication.setApplicationName(app_id)
    QGuiApplication.setDesktopFileName(app_id)


def native_view(window: Window) -> object | None:
    """Return the Qt BrowserView behind a pywebview window (None on other backends)."""
    try:
        from webview.platforms.qt import BrowserView
    except ImportError:
        return None
    return BrowserView.instances.get(window.uid)


def run_on_gui_thread(view: object, function: Callable[[], None]) -> None:
    """Run `function` on Qt's GUI thread, from any thread."""
    # pywebview's BrowserView.create_window_trigger calls what it is given, queued to the
    # GUI thread: Qt widgets must only be touched there.
    view.create_window_trigger.emit(function)  # type: ignore[attr-defined]


def paint_in_system_scheme(view: object | None) -> None:
    """Under a dark system theme, paint the window dark until the page does (before_show)."""
    if view is None:
        return
    from qtpy.QtCore import Qt
    from qtpy.QtGui import QColor, QGuiApplication
    from qtpy.QtWidgets import QWidget

    hints = QGuiApplication.styleHints()
    if hints is None or not hasattr(hints, "colorScheme"):  # Qt before 6.5 cannot tell
        return
    if hints.colorScheme() != Qt.ColorScheme.Dark:
        return
    # pywebview paints the window and the page white (background_color) until the first
    # page arrives: a white flash in a dark desktop.
    colour = QColor(DARK_BACKGROUND)
    widget = cast(QWidget, view)
    palette = widget.palette()
    palette.setColor(widget.backgroundRole(), colour)
    widget.setPalette(palette)
    widget.webview.page().setBackgroundColor(colour)  # type: ignore[attr-defined]


def send_languages(view: object | None, accept_language: str) -> None:
    """Make the page's requests and navigator.languages name the user's languages (before_show)."""
    if view is None:
        return
    # QtWebEngine sends no Accept-Language of its own. Set before the first request leaves:
    # pywebview has only queued the first page's load when before_show runs. Qt sends the
    # list in its order and drops the q-values (docs/desktop.md).
    profile = view.webview.page().profile()  # type: ignore[attr-defined]
    profile.setHttpAcceptLanguage(accept_language)
    log.info("The window asks for the languages %s", accept_language)


def translate_dialogs(locale: str) -> None:
    """Give Qt's own dialogs (Save As, the About box's button) the window's language (before_show)."""
    qt_locale = QT_LOCALES.get(locale)
    if qt_locale is None:  # English: Qt's own
        return
    from qtpy.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

    app = QCoreApplication.instance()
    translator = QTranslator(app)  # the application owns it: it lives as long as the window
    folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    if app is not None and translator.load(QLocale(qt_locale), "qtbase", "_", folder):
        app.installTranslator(translator)
    else:
        log.warning("No Qt translation for %s in %s", qt_locale, folder)


def restore_state(window: Window, data_dir: Path, min_size: tuple[int, int]) -> None:
    """Give the Qt window its saved geometry, on a screen that exists now (before_show)."""
    view = native_view(window)
    saved = window_state.load(data_dir)
    if view is None or saved is None:
        return
    from qtpy.QtWidgets import QWidget

    state = window_state.clamp(saved, window_state.screens(), min_size)
    widget = cast(QWidget, view)
    widget.resize(state.width, state.height)
    widget.move(state.x, state.y)
    window.maximized = state.maximized  # pywebview shows it maximised over that geometry
    log.info("Restored the window state %s", state)


def save_state(view: object | None, data_dir: Path) -> None:
    """Save the Qt window's normal geometry and whether it is maximised (closing)."""
    if view is None:
        return
    from qtpy import QtCore
    from qtpy.QtWidgets import QWidget

    widget = cast(QWidget, view)
    flags = widget.windowState()
    maximized = bool(flags & QtCore.Qt.WindowState.WindowMaximized)
    if flags & (QtCore.Qt.WindowState.WindowMaximized | QtCore.Qt.WindowState.WindowMinimized):
        normal = widget.normalGeometry()
        state = window_state.WindowState(
            normal.x(), normal.y(), normal.width(), normal.height(), maximized
        )
    else:
        # x()/y() are the frame's place, which move() takes back at the next launch.
        state = window_state.WindowState(widget.x(), widget.y(), widget.width(), widget.height())
    window_state.save(data_dir, state)


def front_trigger(view: object) -> Callable[[], None]:
    """Return a thread-safe function that brings `view` to the front (call this on Qt's thread)."""
    from qtpy import QtCore
    from qtpy.QtWidgets import QWidget

    widget = cast(QWidget, view)

    class FrontTrigger(QtCore.QObject):  # type: ignore[misc, unused-ignore]
        fired = QtCore.Signal()

        @QtCore.Slot()
        def bring_to_front(self) -> None:
            flags = widget.windowState()
            if flags & QtCore.Qt.WindowState.WindowMinimized:
                widget.setWindowState(flags & ~QtCore.Qt.WindowState.WindowMinimized)
            widget.show()
            widget.raise_()
            # Window managers with focus-stealing prevention may only mark it as urgent.
            widget.activateWindow()

    # Made on Qt's thread: a signal emitted from another thread is queued to the slot there.
    trigger = FrontTrigger(widget)  # the widget owns it: it lives as long as the window
    trigger.fired.connect(trigger.bring_to_front)
    return trigger.fired.emit


def save_downloads_as_named(view: object | None, title: str) -> None:
    """Ask where to save each download the page starts, proposing the name it suggests."""
    if view is None:
        return
    from platformdirs import user_downloads_dir
    from qtpy import QtCore
    from qtpy.QtWidgets import QFileDialog, QWidget

    window = cast(QWidget, view)  # the BrowserView is the window's QMainWindow

    def save(download) -> None:  # a QWebEngineDownloadRequest, on Qt's thread
        folder = Path(user_downloads_dir())
        if not folder.is_dir():
            folder = Path.home()
        path, _ = QFileDialog.getSaveFileName(
            window, title, str(folder / download.downloadFileName())
        )
        if not path:
            download.cancel()
            return
        download.setDownloadDirectory(str(Path(path).parent))
        download.setDownloadFileName(Path(path).name)
        download.accept()
        log.info("Saving a download to %s", path)

    # Direct: Qt deletes a request nobody accepted as soon as the signal returns, and this
    # runs in a pywebview thread, where a queued call would arrive too late (or never).
    profile = window.webview.page().profile()  # type: ignore[attr-defined]
    profile.downloadRequested.connect(save, QtCore.Qt.ConnectionType.DirectConnection)


def show_about(view: object, title: str, text: str) -> None:
    """Show the About box, a Qt message box over the window (from any thread)."""

    def about() -> None:
        from qtpy.QtWidgets import QMessageBox, QWidget

        QMessageBox.about(cast(QWidget, view), title, text)

    run_on_gui_thread(view, about)


def finish_menu(view: object | None, quit_title: str) -> None:
    """Give Quit the Quit key (Ctrl+Q) and draw the menu bar in the system's colours."""
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
                if action.text() == quit_title:
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

    run_on_gui_thread(view, finish)
