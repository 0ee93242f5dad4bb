"""The desktop window: pywebview showing a local URL, closed cleanly on a signal."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

from desktop import system
from desktop.signals import StopSignals

if TYPE_CHECKING:
    from webview import Window

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


def show(url: str, data_dir: Path, debug: bool = False) -> None:
    """Show `url` in the Doorstep window and return once it is closed or a stop signal came."""
    signals = StopSignals().install()
    # Imported only now, once the caller has set the server (process) going.
    import webview

    # Links to other sites open in the system browser, not inside the window.
    webview.settings["OPEN_EXTERNAL_LINKS_IN_BROWSER"] = True
    # --dev gets devtools on right-click > Inspect, without a second window popping up.
    webview.settings["OPEN_DEVTOOLS_IN_DEBUG"] = False
    window = webview.create_window(
        TITLE, url, width=SIZE[0], height=SIZE[1], min_size=MIN_SIZE, background_color="#FFFFFF"
    )
    assert window is not None  # None only when an `initialized` handler cancels; none is set

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
    window.events.shown += lambda: views.append(_native_view(window))
    if system.webview_gui() == "qt":
        # pywebview's own Qt handler offers the URL's path as the name ("export", or a
        # data: URL's text); ours offers the name the page gives, in the Downloads folder.
        window.events.shown += lambda: _save_downloads_as_named(_native_view(window))
    else:
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
        )
    finally:
        _unblock_pywebview_threads(views)
        signals.release()
        watcher.join()
        signals.uninstall()


def _native_view(window: Window) -> object | None:
    """Return the Qt BrowserView behind a pywebview window (None on other backends)."""
    try:
        from webview.platforms.qt import BrowserView
    except ImportError:
        return None
    return BrowserView.instances.get(window.uid)


def _save_downloads_as_named(view: object | None) -> None:
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
            window, "Save As", str(folder / download.downloadFileName())
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
