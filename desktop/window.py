"""The desktop window: pywebview showing a local URL, closed cleanly on a signal."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop import APP_ID, languages, menu, qt, system, system_languages, window_state, windows
from desktop.signals import StopSignals

if TYPE_CHECKING:
    from webview import Window

    from desktop.instance import InstanceLock

log = logging.getLogger("doorstep.window")

TITLE = "Doorstep"

# pywebview sends only new-window requests (target=_blank) to the system browser; a plain link
# to another site would navigate the window itself. Routing every click on a link to another
# origin through window.open gives it the same treatment.
EXTERNAL_LINKS_JS = """
if (!window.__doorstepExternalLinks) {
  window.__doorstepExternalLinks = true;
  document.addEventListener('click', function (event) {
    var link = event.target.closest && event.target.closest('a[href]');
    if (!link || link.origin === window.location.origin) return;
    if (!/^https?:$/.test(link.protocol)) return;
    event.preventDefault();
    window.open(link.href, '_blank');
  }, true);
}
"""
SIZE = (1024, 720)
MIN_SIZE = (480, 400)


def show(
    url: str, data_dir: Path, debug: bool = False, instance: InstanceLock | None = None
) -> None:
    """Show `url` in the Doorstep window and return once it is closed or a stop signal came.

    `instance`, the data folder's lock, is released once the window has closed; until then
    other launches on the folder bring this window to the front.
    """
    signals = StopSignals().install()
    # Imported only now, once the caller has set the server (process) going.
    import webview

    # Links to other sites open in the system browser, not inside the window.
    webview.settings["OPEN_EXTERNAL_LINKS_IN_BROWSER"] = True
    # --dev gets devtools on right-click > Inspect, without a second window popping up.
    webview.settings["OPEN_DEVTOOLS_IN_DEBUG"] = False
    window = webview.create_window(
        TITLE,
        url,
        min_size=MIN_SIZE,
        background_color="#FFFFFF",
        **_initial_geometry(data_dir),
    )
    assert window is not None  # None only when an `initialized` handler cancels; none is set
    _keep_window_state(window, data_dir)
    if instance is not None:
        instance.listen(_front_bringer(window))

    def close_on_signal() -> None:
        signum = signals.wait()
        if signum:
            log.info("Closing the window on signal %s", signum)
            window.destroy()

    # Qt owns the main thread until the window closes, so a thread waits for the signals.
    watcher = threading.Thread(target=close_on_signal, name="doorstep-signals")
    watcher.start()

    window.events.loaded += lambda: window.run_js(EXTERNAL_LINKS_JS)
    views: list[object] = []
    window.events.shown += lambda: views.append(qt.native_view(window))
    # The native menu; Ctrl+Q (and on Qt the menu bar's colours) added once it is shown.
    # The window's own texts (menu, About, Save As) speak the system's language, as native
    # menus do; the pages follow the user's choice in the navbar.
    tags = system_languages.preferred_languages()  # read once, at the start
    locale = system_languages.window_locale(tags)
    _ = languages.translations(locale).gettext
    menus = menu.build(window, data_dir, system.log_folder(), _)
    if system.webview_gui() == "qt":
        qt.name_application(APP_ID)
        window.events.before_show += lambda: qt.paint_in_system_scheme(qt.native_view(window))
        # WebView2 and WKWebView send the system's UI languages themselves; Qt sends none.
        if tags:
            header = system_languages.accept_language(tags)
            window.events.before_show += lambda: qt.send_languages(qt.native_view(window), header)
        window.events.before_show += lambda: qt.translate_dialogs(locale)
        window.events.shown += lambda: qt.finish_menu(qt.native_view(window), _(menu.QUIT))
        # pywebview's own Qt handler offers the URL's path as the name ("export", or a
        # data: URL's text); ours offers the name the page gives, in the Downloads folder.
        window.events.shown += lambda: qt.save_downloads_as_named(
            qt.native_view(window), _("Save As")
        )
    else:
        if sys.platform == "win32":
            window.events.shown += lambda: windows.give_menu_item_ctrl_q(window, _(menu.QUIT))
        webview.settings["ALLOW_DOWNLOADS"] = True  # WebView2 and WebKit name files well

    # Only where the backend takes a PNG (Qt); on Windows and macOS, the executable's own.
    icon = system.window_icon()
    try:
        webview.start(
            gui=system.webview_gui(),
            debug=debug,
            # Cookies (Remember me) persist in the data dir between launches.
            private_mode=False,
            storage_path=str(data_dir / "webview"),
            icon=str(icon) if icon else None,
            menu=menus,
        )
    finally:
        if instance is not None:
            instance.release()  # a launch from now on opens a window of its own
        _unblock_pywebview_threads(views)
        signals.release()
        watcher.join()
        signals.uninstall()


def _unblock_pywebview_threads(views: list[object], timeout: float = 1.0) -> None:
    """Release pywebview threads still waiting for JavaScript answers from a closed window.

    pywebview 6.2 injects its JS bridge after each page load (and runs event handlers) in
    non-daemon threads that wait, without a timeout, for the page to answer. If the window
    closes first (a stop signal right after a load), the answer never comes and the process
    could never exit.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = 0
        for view in filter(None, views):
            for entry in list(getattr(view, "_js_results", {}).values()):
                entry["semaphore"].release()
                pending += 1
        waiting = [
            thread
            for thread in threading.enumerate()
            if not thread.daemon
            and thread is not threading.current_thread()
            and not thread.name.startswith("doorstep-")  # ours end on their own
        ]
        if not pending and not waiting:
            return
        time.sleep(0.02)


def _initial_geometry(data_dir: Path) -> dict[str, Any]:
    """Return create_window's geometry arguments: the saved state, where the backend takes it."""
    saved = window_state.load(data_dir)
    if saved is None or system.webview_gui() == "qt":
        # Qt gets it in before_show (qt.restore_state): webview.screens here would start
        # pywebview's default backend, which on Linux is not necessarily Qt.
        return {"width": SIZE[0], "height": SIZE[1]}
    state = window_state.clamp(saved, window_state.screens(), MIN_SIZE)
    return {
        "width": state.width,
        "height": state.height,
        "x": state.x,
        "y": state.y,
        "maximized": state.maximized,
    }


def _keep_window_state(window: Window, data_dir: Path) -> None:
    """Restore the saved size, place and maximised state, and save them when the window closes."""
    # closing and before_show handlers run on the GUI thread, before the window goes or shows.
    if system.webview_gui() == "qt":
        window.events.before_show += lambda: qt.restore_state(window, data_dir, MIN_SIZE)
        window.events.closing += lambda: qt.save_state(qt.native_view(window), data_dir)
        return
    maximized = [window.maximized]
    window.events.maximized += lambda: maximized.__setitem__(0, True)
    window.events.restored += lambda: maximized.__setitem__(0, False)
    window.events.closing += lambda: _save_state(window, data_dir, maximized[0])


def _save_state(window: Window, data_dir: Path, maximized: bool) -> None:
    """Save the window's geometry through pywebview (backends other than Qt)."""
    try:
        if maximized:  # its maximised geometry says nothing of where it was before
            previous = window_state.load(data_dir)
            base = previous or window_state.WindowState(window.x, window.y, *SIZE)
            state = window_state.WindowState(base.x, base.y, base.width, base.height, True)
        else:
            state = window_state.WindowState(window.x, window.y, window.width, window.height)
    except Exception:  # never stand in the way of closing
        log.exception("Could not read the window's geometry")
        return
    window_state.save(data_dir, state)


def _front_bringer(window: Window) -> Callable[[], None]:
    """Return a function any thread may call to show, un-minimise, raise and activate the window."""
    if system.webview_gui() != "qt":
        minimized = [False]
        window.events.minimized += lambda: minimized.__setitem__(0, True)
        window.events.restored += lambda: minimized.__setitem__(0, False)
        window.events.maximized += lambda: minimized.__setitem__(0, False)

        def bring() -> None:
            window.show()
            if minimized[0]:
                window.restore()

        return bring

    triggers: list[Callable[[], None]] = []

    def make_trigger() -> None:  # before_show: on Qt's thread, once the view exists
        view = qt.native_view(window)
        if view is not None:
            triggers.append(qt.front_trigger(view))

    window.events.before_show += make_trigger

    def bring_qt() -> None:
        for trigger in triggers:  # none yet: the window is about to show anyway
            trigger()

    return bring_qt
