"""Dark mode: every page follows the system's light or dark preference in Chromium, from
its first paint, stays legible, and breaks no Content Security Policy."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests import test_browser, test_window
from tests.support.artifacts import keep_artifact
from tests.support.data import CHEAP_HASHING
from tests.support.processes import serving
from tests.test_security_headers import PageWatch

# The window fixtures of tests/test_window.py, for the window's test here, and Chromium.
display = test_window.display
open_window = test_window.open_window
browser = test_browser.browser

pytestmark = pytest.mark.browser


# Records the theme <html> has when <body> first appears: what the first paint can show.
THEME_AT_BODY = """
new MutationObserver((changes, observer) => {
  if (document.body) {
    window.__themeAtBody = document.documentElement.getAttribute("data-bs-theme");
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""

# The relative luminance (WCAG, 0 to 1) of an element's text colour ("color") or of the
# background it is drawn on ("background": its own, else the nearest opaque ancestor's).
LUMINANCE = """([selector, property]) => {
  let element = document.querySelector(selector);
  let value = getComputedStyle(element).color;
  if (property === "background") {
    value = getComputedStyle(element).backgroundColor;
    while (/rgba\\(.*, 0\\)$/.test(value) && element.parentElement) {
      element = element.parentElement;
      value = getComputedStyle(element).backgroundColor;
    }
  }
  const [r, g, b] = value.match(/[\\d.]+/g).slice(0, 3).map(Number).map((c) => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}"""


def luminance(page, selector: str, property: str = "background") -> float:
    """The luminance of `selector`'s background (or "color": its text) on the page."""
    return page.evaluate(LUMINANCE, [selector, property])


def contrast(page, selector: str) -> float:
    """The WCAG contrast ratio of `selector`'s text against the background it is drawn on."""
    text = luminance(page, selector, "color")
    background = luminance(page, selector)
    light, dark = max(text, background), min(text, background)
    return (light + 0.05) / (dark + 0.05)


class Shots:
    """Checks each page in one scheme and photographs it for people to look at."""

    def __init__(self, page, scheme: str, tmp_path: Path) -> None:
        self.page, self.scheme, self.tmp_path = page, scheme, tmp_path
        self.taken: list[str] = []

    def check(self, name: str) -> None:
        """Assert the page is in the scheme, was from its first paint, and is legible."""
        page = self.page
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.dataset.bsTheme") == self.scheme, name
        assert page.evaluate("window.__themeAtBody") == self.scheme, f"{name}: a flash"
        background = luminance(page, "body")
        if self.scheme == "dark":
            assert background < 0.05, f"{name}: background luminance {background:.2f}"
        else:
            assert background > 0.85, f"{name}: background luminance {background:.2f}"
        # The navbar is dark in both schemes; the text on the page must read on its own.
        assert luminance(page, ".navbar") < 0.05, name
        for selector in (
            "main h1, main .h3, main p",
            ".alert",
            ".invalid-feedback",
            "label",
            "main .btn-outline-secondary",
            "main .btn-outline-danger",
            "main .text-danger",
        ):
            if page.locator(selector).count():
                ratio = contrast(page, selector)
                assert ratio >= 4.5, f"{name}: {selector} has a contrast of {ratio:.1f}"
        path = self.tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        keep_artifact(path, f"theme-{self.scheme}-{name}.png")
        self.taken.append(name)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_follows_the_system_scheme(browser, doorstep, tmp_path, scheme):
    from playwright.sync_api import expect

    with serving(doorstep, tmp_path / "data", env=CHEAP_HASHING) as server:
        context = browser.new_context(viewport={"width": 1024, "height": 720}, color_scheme=scheme)
        watch = PageWatch(context, server.base_url)
        context.add_init_script(THEME_AT_BODY)
        page = context.new_page()
        page.set_default_timeout(10_000)
        watch.watch(page)
        shots = Shots(page, scheme, tmp_path)
        base = server.base_url

        page.goto(server.url)
        shots.check("1-landing")
        page.goto(base + "register")
        page.get_by_label("Username").fill("Mei")
        page.get_by_label("Email").fill("not an email")
        page.get_by_label("Password", exact=True).fill("short")
        page.get_by_label("Confirm password").fill("different")
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_text("The two passwords do not match.")).to_be_visible()
        shots.check("2-register-errors")

        page.get_by_label("Email").fill("mei@example.com")
        page.get_by_label("Password", exact=True).fill("correct horse")
        page.get_by_label("Confirm password").fill("correct horse")
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_test_id("recovery-code")).to_be_visible()
        shots.check("3-recovery-code")
        assert contrast(page, "#recovery-code") >= 4.5
        page.get_by_role("button", name="I have saved my recovery code").click()
        expect(page.get_by_role("alert")).to_contain_text("Your account is ready")
        shots.check("4-login-flash")

        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_text("Incorrect email or password.")).to_be_visible()
        shots.check("5-login-error")
        page.get_by_label("Password").fill("correct horse")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Welcome back, Mei!")).to_be_visible()
        shots.check("6-greeting")

        for path in ("account", "account/profile", "account/password", "account/recovery-code"):
            page.goto(base + path)
            shots.check(f"7-{path.replace('/', '-')}")
        page.goto(base + "account/delete")
        shots.check("8-account-delete")
        page.goto(base + "no/such/page")
        shots.check("9-not-found")

        page.goto(base)
        page.get_by_role("button", name="Log out", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("You have been logged out.")
        shots.check("10-logged-out")
        page.goto(base + "recover")
        shots.check("11-recover")

        assert watch.violations == [] and watch.console == [] and watch.errors == []
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", base)
        context.close()


def test_an_open_page_follows_a_change_of_the_system_scheme(browser, doorstep, tmp_path):
    from playwright.sync_api import expect

    with serving(doorstep, tmp_path / "data") as server:
        context = browser.new_context(color_scheme="light")
        page = context.new_page()
        page.goto(server.url)
        assert page.evaluate("document.documentElement.dataset.bsTheme") == "light"
        page.emulate_media(color_scheme="dark")
        # A locator assertion, not wait_for_function: its polling evals the expression in
        # the page, which the Content-Security-Policy (no 'unsafe-eval') refuses.
        expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
        assert luminance(page, "body") < 0.05
        context.close()


def test_the_theme_script_runs_before_the_stylesheets(browser, doorstep, tmp_path):
    with serving(doorstep, tmp_path / "data") as server:
        context = browser.new_context()
        page = context.new_page()
        page.goto(server.url)
        # Blocking (no defer or async) and ahead of every stylesheet in <head>.
        head = page.evaluate(
            "Array.from(document.head.querySelectorAll('script, link[rel=stylesheet]'))"
            ".map(e => [e.tagName, e.defer || e.async, e.getAttribute('src') || ''])"
        )
        assert head[0][0] == "SCRIPT" and head[0][1] is False and "theme.js" in head[0][2]
        context.close()


@pytest.mark.window
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_window_follows_the_colour_scheme_qt_reports(open_window, tmp_path, scheme):
    # QtWebEngine answers prefers-color-scheme from Qt's colour scheme (QStyleHints), which
    # the platform theme reads from the desktop. Xvfb has no desktop (and no D-Bus portal),
    # so the GTK 3 platform theme stands in for one, told the theme by GTK_THEME. (Source
    # runs only: the bundle leaves the GTK 3 platform theme out, docs/packaging.md.)
    theme = "Adwaita:dark" if scheme == "dark" else "Adwaita"
    window = open_window(env={"QT_QPA_PLATFORMTHEME": "gtk3", "GTK_THEME": theme})
    window.page("/")
    assert window.run_js("matchMedia('(prefers-color-scheme: dark)').matches") is (scheme == "dark")
    assert window.run_js("document.documentElement.dataset.bsTheme") == scheme
    # The menu bar draws in the system's colours, not the white pywebview gives the window.
    shot = window.screenshot(tmp_path, f"theme-{scheme}.png")
    menu_bar_luminance = mean_luminance(shot, "1024x18+0+0")
    assert (menu_bar_luminance < 0.3) if scheme == "dark" else (menu_bar_luminance > 0.7)


def mean_luminance(png: Path, crop: str) -> float:
    """The mean grey level (0 to 1) of the `crop` (WxH+X+Y) of an image (ImageMagick)."""
    out = subprocess.run(
        [
            "convert",
            str(png),
            "-crop",
            crop,
            "-colorspace",
            "Gray",
            "-format",
            "%[fx:mean]",
            "info:",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out)
