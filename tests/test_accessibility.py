"""Accessibility: axe-core finds nothing on any page, in either colour scheme or language;
every page has one h1 and a skip link; form errors are tied to their fields and take the
focus; and the whole flow works from the keyboard alone, with a visible focus at each step.

The pages are found by ids and test ids, not by their English words, so the same audit
covers every language the app speaks (docs/accessibility.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.artifacts import keep_artifact
from tests.support.data import CHEAP_HASHING, PASSWORD
from tests.support.processes import Running, doorstep_command, serving
from tests.test_security_headers import REBOUND_HOST, rebinding_browser

pytestmark = pytest.mark.browser

# One Chromium for the module; it resolves REBOUND_HOST to 127.0.0.1 for the guard's 400 page.
browser = rebinding_browser

SCHEMES = ["light", "dark"]
LANGUAGES = ["en-US", "zh-CN"]
# A name in the page's own script, so the greeting shows it (and its font) in each language.
NAMES = {"en-US": "Mei", "zh-CN": "美玲"}

SUBMIT = "main form button[type=submit]"

# A description of the focused element: what it is called, and how its focus looks once any
# transition (Bootstrap's 0.15 s on buttons and fields) has finished.
FOCUS = """async () => {
  const element = document.activeElement;
  if (!element || element === document.body) {
    return null;
  }
  await Promise.allSettled(element.getAnimations().map((animation) => animation.finished));
  const label = element.labels && element.labels.length ? element.labels[0].innerText : "";
  return {
    id: element.id,
    tag: element.tagName.toLowerCase(),
    name: (element.getAttribute("aria-label") || label || element.innerText || "").trim(),
    interactive: element.matches("a[href], button, input, select, textarea"),
    width: element.getBoundingClientRect().width,
  };
}"""
# How an element's focus would show: outline, shadow and border, after transitions end.
LOOK = """async (element) => {
  await Promise.allSettled(element.getAnimations().map((animation) => animation.finished));
  const style = getComputedStyle(element);
  return {
    outline: style.outlineStyle === "none" || parseFloat(style.outlineWidth) === 0
      ? "none" : `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
    shadow: style.boxShadow,
    border: style.borderColor,
  };
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Running]:
    """One `doorstep serve` for the module; the per-client form limit raised for its many posts."""
    data = tmp_path_factory.mktemp("accessibility") / "data"
    env = {**CHEAP_HASHING, "DOORSTEP_RATELIMIT_AUTH_FORMS": "1000 per minute"}
    with serving(doorstep_command(), data, env=env) as running:
        yield running


class Audit:
    """Runs axe and the page-level checks on page after page; photographs each."""

    def __init__(self, scheme: str, language: str, tmp_path: Path) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.axe = Axe()
        self.scheme, self.language, self.tmp_path = scheme, language, tmp_path
        self.problems: list[str] = []
        self.checked: list[str] = []

    def check(self, page, name: str, status: int | None = None) -> None:
        """Record what axe and the page's structure get wrong on `page`, the state `name`."""
        page.wait_for_load_state("load")
        results = self.axe.run(page)
        for violation in results.response["violations"]:
            nodes = "; ".join(
                f"{' '.join(map(str, node['target']))}: {node.get('failureSummary', '')!r}"
                for node in violation["nodes"][:3]
            )
            self.problems.append(f"{name}: {violation['id']} ({violation['help']}) at {nodes}")
        headings = page.locator("h1").count()
        if headings != 1:
            self.problems.append(f"{name}: {headings} h1 elements, not one")
        if page.locator("main").count() != 1:
            self.problems.append(f"{name}: no single <main> landmark")
        path = self.tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        keep_artifact(path, f"a11y-{name}-{self.scheme}-{self.language}.png")
        self.checked.append(name)


def submit(page, expected_status: int = 200) -> None:
    """Press the page's form button and wait for the answer's page."""
    with page.expect_navigation() as navigation:
        page.locator(SUBMIT).first.click()
    response = navigation.value
    assert response is not None and response.status == expected_status, page.url


def fill(page, fields: dict[str, str]) -> None:
    """Type into the fields with these ids."""
    for field_id, value in fields.items():
        page.locator(f"#{field_id}").fill(value)


def goto(page, url: str, status: int = 200) -> None:
    """Open `url`, expecting `status`."""
    response = page.goto(url)
    assert response is not None and response.status == status, url


def assert_focused(page, field_id: str) -> None:
    """`field_id` has the keyboard focus (autofocus takes a moment after the load)."""
    from playwright.sync_api import expect

    expect(page.locator(f"#{field_id}")).to_be_focused()


def invalid_fields(page) -> list[tuple[str, str]]:
    """Each invalid field's id and the text its aria-describedby points at."""
    return page.evaluate(
        """() => [...document.querySelectorAll('[aria-invalid="true"]')].map((field) => [
          field.id,
          (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean)
            .map((id) => document.getElementById(id).innerText).join(" | "),
        ])"""
    )


def assert_errors_tied_and_focused(page, first: str, ids: set[str]) -> None:
    """The fields in `ids` are invalid with their errors tied; `first` has the focus."""
    invalid = invalid_fields(page)
    assert {field_id for field_id, _ in invalid} == ids, invalid
    for field_id, described in invalid:
        errors = page.locator(f"#{field_id}-errors").inner_text().strip()
        assert errors and errors in described, (field_id, described)
    assert_focused(page, first)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_axe_finds_nothing_on_any_page(browser, server, tmp_path, scheme, language):
    from playwright.sync_api import expect

    audit = Audit(scheme, language, tmp_path)
    options = {
        "color_scheme": scheme,
        "locale": language,
        "viewport": {"width": 1024, "height": 720},
    }
    context = browser.new_context(**options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    base = server.base_url
    name = f"{NAMES[language]}-{scheme}"
    email = f"{scheme}-{language.lower()}@example.com"

    goto(page, server.url)
    audit.check(page, "01-landing")
    goto(page, base + "register")
    assert_focused(page, "username")  # the first field of a fresh form: autofocus
    audit.check(page, "02-register")
    fill(page, {"username": name, "email": "not an email", "password": "short"})
    fill(page, {"confirm": "different"})
    submit(page)
    assert_errors_tied_and_focused(page, "email", {"email", "password", "confirm"})
    audit.check(page, "03-register-errors")
    fill(page, {"email": email, "password": PASSWORD, "confirm": PASSWORD})
    submit(page)
    expect(page.get_by_test_id("recovery-code")).to_be_visible()
    audit.check(page, "04-recovery-code")
    submit(page)
    expect(page.locator(".alert")).to_be_visible()
    assert_focused(page, "password")  # the email is filled in already
    audit.check(page, "05-login-account-ready")

    goto(page, base + "login")
    audit.check(page, "06-login")
    submit(page)
    assert_errors_tied_and_focused(page, "email", {"email", "password"})
    audit.check(page, "07-login-errors")
    fill(page, {"email": email, "password": PASSWORD})
    submit(page)
    expect(page.get_by_test_id("greeting")).to_contain_text(name)
    audit.check(page, "08-greeting")

    for path in ("account", "account/profile", "account/password", "account/recovery-code"):
        goto(page, base + path)
        audit.check(page, "09-" + path.replace("/", "-"))
    goto(page, base + "account/delete")
    audit.check(page, "10-account-delete")
    goto(page, base + "account/profile")
    fill(page, {"email": "not an email"})
    submit(page)
    # A new email needs the password: its hint and its error both describe the field.
    assert_errors_tied_and_focused(page, "email", {"email", "current_password"})
    described = page.locator("#current_password").get_attribute("aria-describedby")
    assert described == "current_password-help current_password-errors"
    audit.check(page, "11-account-profile-errors")
    goto(page, base + "account/password")
    submit(page)
    assert_errors_tied_and_focused(
        page, "current_password", {"current_password", "password", "confirm"}
    )
    audit.check(page, "12-account-password-errors")

    goto(page, base + "no/such/page", 404)
    audit.check(page, "13-not-found")
    goto(page, base + "logout", 405)
    audit.check(page, "14-method-not-allowed")
    goto(page, base + "account/password")
    page.locator("main form input[name=csrf_token]").evaluate(
        "(input) => { input.value = 'stale'; }"
    )
    submit(page, 400)
    audit.check(page, "15-form-expired")

    goto(page, base)
    with page.expect_navigation():
        page.locator("nav form[action$='/logout'] button").click()
    expect(page.locator(".alert")).to_be_visible()
    audit.check(page, "16-logged-out")

    goto(page, base + "recover")
    audit.check(page, "17-recover")
    submit(page)
    assert_errors_tied_and_focused(page, "email", {"email", "recovery_code", "password", "confirm"})
    audit.check(page, "18-recover-errors")

    # Wrong passwords until the email is backed off: the login form, answered with a 429.
    goto(page, base + "login")
    status = 200
    for _ in range(10):
        fill(page, {"email": email, "password": "not the password"})
        with page.expect_navigation() as navigation:
            page.locator(SUBMIT).click()
        status = navigation.value.status
        if status == 429:
            break
    assert status == 429
    audit.check(page, "19-login-throttled")

    # The guard's own pages: a browser without the token's cookie, and a foreign Host.
    stranger = browser.new_context(**options)
    tab = stranger.new_page()
    goto(tab, base, 403)
    audit.check(tab, "20-guard-forbidden")
    goto(tab, base.replace("127.0.0.1", REBOUND_HOST), 400)
    audit.check(tab, "21-guard-bad-host")
    stranger.close()
    context.close()

    assert audit.problems == [], "\n".join(audit.problems)


def test_the_skip_link_comes_first_and_moves_the_focus_to_the_content(browser, server):
    context = browser.new_context()
    page = context.new_page()
    goto(page, server.url)
    skip = page.locator("a.skip-link")
    assert skip.get_attribute("href") == "#content"
    # Hidden until focused: a 1-pixel clip, then its whole text.
    assert skip.bounding_box()["width"] <= 1
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == skip.get_attribute("class")
    assert skip.bounding_box()["width"] > 50
    page.keyboard.press("Enter")
    assert_focused(page, "content")
    page.keyboard.press("Tab")
    # The next Tab goes on inside the content, not back to the navbar.
    assert page.evaluate("document.activeElement.closest('main') !== null")
    context.close()


class Keyboard:
    """Only the keys: Tab, Shift+Tab, Enter, Space and typing into the focused field. Each
    move checks that the focus shows: the element reached has an outline or a shadow, and
    the element left looks different without the focus."""

    def __init__(self, page, tmp_path: Path) -> None:
        self.page, self.tmp_path = page, tmp_path
        self.shots = 0

    def focused(self) -> dict:
        """What has the focus now."""
        focused = self.page.evaluate(FOCUS)
        assert focused is not None, "nothing has the focus"
        return focused

    def tab(self, backwards: bool = False) -> dict:
        """Move the focus on (or back); check both ends of the move show it."""
        left = self.page.evaluate_handle("document.activeElement")
        left_focused = left.evaluate(LOOK)
        was_interactive = left.evaluate(
            "(element) => element.matches('a[href], button, input, select, textarea')"
        )
        self.page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if was_interactive:
            assert left.evaluate(LOOK) != left_focused, f"focus did not show on {left}"
        reached = self.focused()
        look = self.page.evaluate_handle("document.activeElement").evaluate(LOOK)
        assert look["outline"] != "none" or look["shadow"] != "none", (reached, look)
        assert reached["width"] > 1, f"{reached} is focused but hidden"
        return reached

    def tab_to(self, name: str, limit: int = 15) -> dict:
        """Tab forward until the element called `name` has the focus."""
        for _ in range(limit):
            reached = self.tab()
            if reached["name"] == name or reached["id"] == name:
                return reached
        raise AssertionError(f"{name!r} is not reachable with Tab")

    def type(self, field_id: str, text: str) -> None:
        """Type into the focused field, which must be `field_id`."""
        assert self.focused()["id"] == field_id
        self.page.keyboard.type(text)

    def press(self, key: str) -> None:
        """Press Enter or Space on the focused element."""
        assert key in ("Enter", " ")
        self.page.keyboard.press("Space" if key == " " else key)

    def screenshot(self, name: str) -> None:
        """Photograph the window with the focused element in it."""
        self.shots += 1
        path = self.tmp_path / f"{name}.png"
        self.page.screenshot(path=str(path))
        keep_artifact(path, f"a11y-keyboard-{self.shots}-{name}.png")


def test_the_whole_flow_works_from_the_keyboard(browser, server, tmp_path):
    from playwright.sync_api import expect

    context = browser.new_context(locale="en-US", viewport={"width": 1024, "height": 720})
    page = context.new_page()
    page.set_default_timeout(10_000)
    keys = Keyboard(page, tmp_path)
    goto(page, server.url)

    # Landing: the skip link first, then the content's first link.
    assert keys.tab()["name"] == "Skip to content"
    keys.screenshot("skip-link")
    keys.press("Enter")
    assert_focused(page, "content")
    assert keys.tab()["name"] == "Create account"
    keys.press("Enter")

    # Register: the username has the focus (autofocus); Tab and Shift+Tab move between fields.
    expect(page).to_have_url(re.compile(r"/register$"))
    assert_focused(page, "username")
    assert keys.tab()["id"] == "email"
    assert keys.tab(backwards=True)["id"] == "username"
    keys.type("username", "Kim")
    keys.tab()
    keys.type("email", "kim@example.com")
    keys.tab()
    keys.type("password", PASSWORD)
    keys.tab()
    keys.type("confirm", PASSWORD)
    keys.tab_to("Create account")
    keys.screenshot("create-account")
    keys.press("Enter")

    # The recovery code: its buttons, then the one that goes on, pressed with Space.
    expect(page.get_by_test_id("recovery-code")).to_be_visible()
    keys.tab_to("Copy")
    keys.screenshot("copy")
    keys.tab_to("I have saved my recovery code")
    keys.press(" ")

    # Log in: the email is filled in, the password has the focus; Remember me with Space.
    expect(page.get_by_role("alert")).to_contain_text("Your account is ready")
    assert_focused(page, "password")
    keys.type("password", PASSWORD)
    keys.tab()
    assert keys.focused()["id"] == "remember"
    keys.press(" ")
    expect(page.locator("#remember")).to_be_checked()
    keys.screenshot("remember-me")
    keys.tab_to("Log in")
    keys.press("Enter")
    expect(page.get_by_role("heading", name="Welcome back, Kim!")).to_be_visible()

    # The account page, from the navbar.
    keys.tab_to("Account")
    keys.screenshot("account-link")
    keys.press("Enter")
    expect(page.get_by_test_id("account-username")).to_have_text("Kim")

    # Log out with Space, then dismiss the alert with Enter on its close button.
    keys.tab_to("Log out")
    keys.press(" ")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("You have been logged out.")
    keys.tab_to("Close")
    keys.screenshot("close-alert")
    keys.press("Enter")
    expect(page.get_by_role("alert")).to_have_count(0)
    context.close()
