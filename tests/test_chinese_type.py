"""Chinese renders as itself: a Chinese name is drawn in a Simplified Chinese face, in Chromium
and in the window, and the window speaks the system's language (docs/desktop.md).

The fonts are Debian's fonts-noto-cjk (scripts/debian-packages.txt); which face drew the
text is what Chromium itself reports (DevTools' CSS.getPlatformFontsForNode).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import test_window
from tests.support.data import CHEAP_HASHING
from tests.support.devtools import CDPSession, cdp_targets
from tests.support.processes import child_env, serving
from tests.test_browser import browser  # noqa: F401 - a fixture

display = test_window.display
open_window = test_window.open_window

pytestmark = pytest.mark.browser

NAME = "美玲"
EMAIL = "mei@example.com"
PASSWORD = "correct horse"
CHINESE_FACE = "Noto Sans CJK SC"  # fonts-noto-cjk's Simplified Chinese face
# The greeting's heading: where the user's name is shown largest.
GREETING = "[data-testid=greeting] h1"
# The window's environment under a Chinese desktop: LANG alone names the language.
CHINESE_DESKTOP = {"LANG": "zh_CN.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""}


def create_account(doorstep: list[str], data_dir: Path) -> None:
    """Create the Chinese-named account with `doorstep users create`, as a tester would."""
    subprocess.run(
        [*doorstep, "users", "create", "--data-dir", str(data_dir)]
        + ["--username", NAME, "--email", EMAIL, "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=True,
        env=child_env(CHEAP_HASHING),
        timeout=60,
    )


def faces_drawing(send: Callable[..., dict[str, Any]], selector: str) -> dict[str, int]:
    """Return the fonts Chromium drew `selector`'s text with, each with its glyph count.

    `send(method, params)` sends a DevTools command to the page and returns its result.
    """
    send("DOM.enable", {})
    send("CSS.enable", {})
    root = send("DOM.getDocument", {})["root"]["nodeId"]
    node = send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return {font["familyName"]: int(font["glyphCount"]) for font in fonts}


def test_a_chinese_name_renders_in_a_simplified_chinese_face_in_chromium(
    browser,  # noqa: F811 - the fixture imported above
    doorstep,
    data_dir,
    tmp_path,
):
    from playwright.sync_api import expect

    from tests.support.artifacts import keep_artifact

    create_account(doorstep, data_dir)
    with serving(doorstep, data_dir, env=CHEAP_HASHING) as server:
        context = browser.new_context(viewport={"width": 1024, "height": 720})
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(server.url)  # the access token, swapped for a cookie
        page.goto(server.base_url + "login")
        page.locator("#email").fill(EMAIL)
        page.locator("#password").fill(PASSWORD)
        page.locator("#password").press("Enter")
        expect(page.locator(GREETING)).to_contain_text(NAME)

        stack = page.evaluate("getComputedStyle(document.body).fontFamily")
        families = [family.strip().strip('"') for family in stack.split(",")]
        assert families.index(CHINESE_FACE) < families.index("sans-serif")
        assert families.index("Arial") < families.index("PingFang SC")  # Latin faces first

        cdp = context.new_cdp_session(page)
        faces = faces_drawing(lambda method, params: cdp.send(method, params), GREETING)
        assert faces.get(CHINESE_FACE, 0) >= len(NAME), faces
        path = tmp_path / "greeting.png"
        page.screenshot(path=str(path))
        keep_artifact(path, "chinese-name-chromium-greeting.png")
        context.close()


def accept_language_sent(window: test_window.Window) -> str:
    """Reload the window's page and return the Accept-Language its request carried."""
    target = next(t for t in cdp_targets(window.debug_port) if t["url"].startswith("http://"))
    with CDPSession(target["webSocketDebuggerUrl"]) as cdp:
        cdp.call("Network.enable")
        cdp.call("Page.reload")
        # The headers as sent, which the network stack completes (Accept-Language among them).
        headers = cdp.event("Network.requestWillBeSentExtraInfo")["headers"]
    return next((v for k, v in headers.items() if k.lower() == "accept-language"), "")


@pytest.mark.window
def test_the_window_speaks_the_systems_language_and_shows_a_chinese_name(
    open_window, doorstep, data_dir, tmp_path
):
    create_account(doorstep, data_dir)
    window = open_window(env={**CHEAP_HASHING, **CHINESE_DESKTOP})
    window.page("/")
    # What the page is told, from its first load on.
    assert window.run_js("navigator.language") == "zh-CN"
    assert window.run_js("navigator.languages") == ["zh-CN", "zh"]
    # The server picked Chinese from the first request's Accept-Language.
    assert window.run_js("document.documentElement.lang") == "zh-Hans"
    assert accept_language_sent(window).startswith("zh-CN")
    window.page("/")

    # Log in without naming the (translated) buttons: the form is submitted as Enter does.
    test_window._goto(window, "/login")
    window.run_js(
        f"document.getElementById('email').value = {EMAIL!r};"
        f"document.getElementById('password').value = {PASSWORD!r};"
        "document.getElementById('password').form.requestSubmit(); true"
    )
    assert NAME in window.page("/", timeout=30)["text"]
    target = next(t for t in cdp_targets(window.debug_port) if t["url"].startswith("http://"))
    with CDPSession(target["webSocketDebuggerUrl"]) as cdp:
        faces = faces_drawing(lambda method, params: cdp.call(method, **params), GREETING)
    assert faces.get(CHINESE_FACE, 0) >= len(NAME), faces
    window.screenshot(tmp_path, "chinese-name-greeting.png")
