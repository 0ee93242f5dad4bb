"""The window's size, position and maximised state, kept in the data folder between launches."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from desktop.system import write_private_text

log = logging.getLogger("doorstep.window")

FILE_NAME = "window.json"


@dataclass(frozen=True)
class Area:
    """A rectangle on the desktop: a screen, or the window's normal (not maximised) geometry."""

    x: int
    y: int
    width: int
    height: int

    def overlap(self, other: Area) -> int:
        """Return how many pixels this rectangle shares with `other`."""
        width = min(self.x + self.width, other.x + other.width) - max(self.x, other.x)
        height = min(self.y + self.height, other.y + other.height) - max(self.y, other.y)
        return max(width, 0) * max(height, 0)


@dataclass(frozen=True)
class WindowState:
    """Where the window was: its normal geometry, and whether it was maximised over it."""

    x: int
    y: int
    width: int
    height: int
    maximized: bool = False

    @property
    def area(self) -> Area:
        """The normal geometry as an Area."""
        return Area(self.x, self.y, self.width, self.height)


def load(data_dir: Path) -> WindowState | None:
    """Return the state saved in `data_dir`, or None when there is none or it is unreadable."""
    path = data_dir / FILE_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        state = WindowState(
            x=_integer(raw["x"]),
            y=_integer(raw["y"]),
            width=_integer(raw["width"]),
            height=_integer(raw["height"]),
            maximized=raw.get("maximized") is True,
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # Only a convenience: a damaged file means the default place, never a failed start.
        log.warning("Ignoring the saved window state in %s: %s", path, exc)
        return None
    if state.width <= 0 or state.height <= 0:
        return None
    return state


def save(data_dir: Path, state: WindowState) -> None:
    """Save `state` in `data_dir` (atomically: a crash mid-write leaves the previous one)."""
    try:
        write_private_text(data_dir / FILE_NAME, json.dumps(asdict(state)))
    except OSError as exc:
        log.warning("Could not save the window state: %s", exc)


def screens() -> list[Area]:
    """Return the screens attached now (through pywebview, once its backend is running)."""
    import webview

    return [Area(s.x, s.y, s.width, s.height) for s in webview.screens]


def clamp(state: WindowState, screens: Sequence[Area], min_size: tuple[int, int]) -> WindowState:
    """Fit `state` on the screen it overlaps most (the first if none): never off every screen."""
    if not screens:
        return state
    # A monitor unplugged since: the window lands on one that exists now.
    screen = max(screens, key=state.area.overlap)
    if not state.area.overlap(screen):
        screen = screens[0]
    width = max(min(state.width, screen.width), min(min_size[0], screen.width))
    height = max(min(state.height, screen.height), min(min_size[1], screen.height))
    x = min(max(state.x, screen.x), screen.x + screen.width - width)
    y = min(max(state.y, screen.y), screen.y + screen.height - height)
    return WindowState(x, y, width, height, state.maximized)


def _integer(value: object) -> int:
    """Return `value` if it is an int (bool excluded); raise ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not an integer: {value!r}")
    return value
