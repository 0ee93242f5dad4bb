"""Start-up baseline: a bare pywebview window on a one-route Flask app served by waitress.

Written the straightforward way (everything imported up front, the server started before
the window), as the yardstick scripts/bench_startup.py measures Doorstep against.
"""

import sys
import threading

import webview
from flask import Flask
from waitress import create_server

app = Flask(__name__)


@app.get("/")
def index() -> str:
    """The one route."""
    return "<!doctype html><title>Bare</title><h1>Hello from a bare window</h1>"


def main() -> int:
    """Serve the app on a free port and show it in a window until it is closed."""
    server = create_server(app, host="127.0.0.1", port=0)
    threading.Thread(target=server.run, daemon=True).start()
    webview.create_window("Bare", f"http://127.0.0.1:{server.effective_port}/")
    webview.start(gui="qt" if sys.platform.startswith("linux") else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
