"""The whole flow in a real Chromium against `doorstep serve`, checked by what a user sees."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.artifacts import keep_artifact
from tests.support.processes import start_serve

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
# Keep Chromium itself quiet: no component updates, sync or other calls home.
QUIET_CHROMIUM = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `python3 scripts/dev.py system-deps`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET_CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture
def server(doorstep, tmp_path):
    """`doorstep serve` on a fresh data dir."""
    served = start_serve(doorstep, tmp_path / "data")
    yield served
    assert served.stop() == 0


@pytest.fixture
def page(browser, server, tmp_path, request):
    """A browser tab that records every request it makes."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.requested_urls = []
    tab.on("request", lambda req: tab.requested_urls.append(req.url))
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def screenshot(page, tmp_path: Path, name: str) -> Path:
    """Save a full-page screenshot in the test's tmp dir and in test-artifacts/."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep_artifact(path, f"browser-{name}.png")
    return path


def width_ratio(page, inner: str, outer: str) -> float:
    """How much of `outer`'s content width `inner` takes."""
    return page.evaluate(
        """([inner, outer]) => {
            const box = document.querySelector(inner).getBoundingClientRect();
            const container = document.querySelector(outer);
            const style = getComputedStyle(container);
            const content = container.clientWidth
                - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
            return box.width / content;
        }""",
        [inner, outer],
    )


def register(page, username="Mei", email="mei@example.com", password="correct horse"):
    page.get_by_role("link", name="Create account").first.click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password)
    page.get_by_role("button", name="Create account").click()


def test_register_log_in_greeting_account_log_out(page, server, tmp_path):
    from playwright.sync_api import expect

    page.goto(server.url)
    # The token handshake leaves a clean address behind.
    expect(page).to_have_url(server.base_url)
    expect(page.get_by_role("heading", name="Doorstep")).to_be_visible()
    screenshot(page, tmp_path, "1-landing")

    register(page)
    expect(page).to_have_url(
        re.compile(re.escape(server.base_url) + r"login\?email=mei(@|%40)example\.com$")
    )
    expect(page.get_by_role("alert")).to_have_text("Your account is ready — log in to continue.")
    expect(page.get_by_label("Email")).to_have_value("mei@example.com")
    screenshot(page, tmp_path, "2-registered")

    page.get_by_label("Password").fill("correct horse")
    page.get_by_label("Remember me").check()
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome back, Mei!")).to_be_visible()
    expect(page.get_by_role("navigation")).to_contain_text("Mei")
    screenshot(page, tmp_path, "3-greeting")

    page.get_by_role("link", name="Account", exact=True).click()
    expect(page.get_by_test_id("account-username")).to_have_text("Mei")
    expect(page.get_by_test_id("account-email")).to_have_text("mei@example.com")
    screenshot(page, tmp_path, "4-account")

    page.get_by_role("button", name="Log out").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("You have been logged out.")
    expect(alert).to_have_class("alert alert-success alert-dismissible fade show")
    expect(page.get_by_text("Welcome back")).to_have_count(0)
    expect(page.get_by_role("navigation").get_by_role("link", name="Log in")).to_be_visible()
    screenshot(page, tmp_path, "5-logged-out-1280")

    # The article's layout: 4 of 12 columns on a large screen, all 12 on a phone.
    assert 0.28 < width_ratio(page, ".alert", "main.container") < 0.37
    page.set_viewport_size({"width": 390, "height": 844})
    assert width_ratio(page, ".alert", "main.container") > 0.97
    screenshot(page, tmp_path, "6-logged-out-390")

    # On a narrow window the links fold behind the navbar's toggler (static/app.js).
    links = page.get_by_role("navigation").get_by_role("link", name="Log in")
    toggler = page.get_by_role("button", name="Show navigation")
    expect(links).to_be_hidden()
    toggler.click()
    expect(links).to_be_visible()
    expect(toggler).to_have_attribute("aria-expanded", "true")
    screenshot(page, tmp_path, "6-logged-out-390-menu")
    toggler.click()
    expect(links).to_be_hidden()
    expect(toggler).to_have_attribute("aria-expanded", "false")

    alert.get_by_role("button", name="Close").click()
    expect(page.get_by_role("alert")).to_have_count(0)

    hosts = {urlsplit(url).hostname for url in page.requested_urls}
    assert hosts == {"127.0.0.1"}, page.requested_urls


def test_bad_input_and_unknown_email_are_explained_on_the_page(page, server, tmp_path):
    from playwright.sync_api import expect

    page.goto(server.url)
    register(page, username="Mei", email="mei@example.com")
    page.get_by_role("link", name="Create account").first.click()
    page.get_by_label("Username").fill("mei")
    page.get_by_label("Email").fill("not an email")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Confirm password").fill("different")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("That username is taken.")).to_be_visible()
    expect(page.get_by_text("Enter a valid email address")).to_be_visible()
    expect(page.get_by_text("Password must be 8 to 128 characters long.")).to_be_visible()
    expect(page.get_by_text("The two passwords do not match.")).to_be_visible()
    screenshot(page, tmp_path, "7-register-errors")

    page.get_by_role("navigation").get_by_role("link", name="Log in").click()
    page.get_by_label("Email").fill("mei@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Incorrect email or password.")).to_be_visible()

    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_label("Password").fill("whatever1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("No account uses that email yet")
    expect(page.get_by_label("Email")).to_have_value("newcomer@example.com")
    screenshot(page, tmp_path, "8-unknown-email")


def test_anonymous_account_visit_comes_back_after_login(page, server, tmp_path):
    from playwright.sync_api import expect

    page.goto(server.url)
    register(page)
    page.goto(server.base_url + "account")
    expect(page.get_by_role("alert")).to_have_text("Please log in to see that page.")
    page.get_by_label("Email").fill("mei@example.com")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(server.base_url + "account")
    expect(page.get_by_test_id("account-username")).to_have_text("Mei")


def test_missing_page_has_a_way_home(page, server, tmp_path):
    from playwright.sync_api import expect

    page.goto(server.url)
    page.goto(server.base_url + "no/such/page")
    expect(page.get_by_role("heading", name="Not Found")).to_be_visible()
    screenshot(page, tmp_path, "9-not-found")
    page.get_by_role("link", name="Back to the start page").click()
    expect(page).to_have_url(server.base_url)
