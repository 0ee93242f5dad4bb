"""Doorstep's desktop shell: an embedded local server shown in a native window."""

# The one place the product's version lives (pyproject reads it too); kept here, not in
# webapp, so `doorstep --version` answers without importing Flask.
__version__ = "0.1.0"

# One reverse-DNS id on every system: the macOS bundle identifier, and on Linux the desktop
# entry's name, its icon, the AppStream component and the window's WM_CLASS / Wayland app_id,
# so launchers group the window under Doorstep's entry.
APP_ID = "org.doorstep.Doorstep"

# First argument that runs `doorstep` as the window's own server process (not in --help);
# see desktop/server_process.py.
WINDOW_SERVER_ARG = "_window-server"
