"""The whole flow in a real Chromium against `doorstep serve`, checked by what a user sees."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.artifacts import keep_artifact
from tests.support.forms import RECOVERY_CODE
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
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
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


def register(
    page, username="Mei", email="mei@example.com", password="correct horse", on_code_page=None
) -> str:
    """Create an account through the form; return the recovery code it showed."""
    from playwright.sync_api import expect

    page.get_by_role("link", name="Create account").first.click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password)
    page.get_by_role("button", name="Create account").click()
    code = shown_recovery_code(page)
    if on_code_page:
        on_code_page()
    page.get_by_role("button", name="I have saved my recovery code").click()
    expect(page).to_have_url(re.compile(r"/login\?email="))
    return code


def shown_recovery_code(page) -> str:
    """The recovery code on the page, checked for its form."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Save your recovery code")).to_be_visible()
    code = page.get_by_test_id("recovery-code").inner_text().strip()
    assert RECOVERY_CODE.fullmatch(code), code
    return code


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

    page.get_by_role("button", name="Log out", exact=True).click()
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


def test_the_account_life_cycle(page, server, tmp_path):
    """Everything an account can do, in the order a user might: the issue's "done means"."""
    from playwright.sync_api import expect

    page.goto(server.url)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    def copy_and_save_the_code():
        screenshot(page, tmp_path, "10-recovery-code")
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == first_code()
        with page.expect_download() as saved:
            page.get_by_role("link", name="Save as a text file").click()
        assert saved.value.suggested_filename == "doorstep-recovery-code.txt"
        text = Path(saved.value.path()).read_text(encoding="utf-8")
        assert text == f"Doorstep recovery code: {first_code()}\n"

    def first_code() -> str:
        return page.get_by_test_id("recovery-code").inner_text().strip()

    code = register(page, on_code_page=copy_and_save_the_code)
    expect(page.get_by_role("alert")).to_have_text("Your account is ready — log in to continue.")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Log in").click()

    # The account page: details, what can be done, and where the account is logged in.
    page.get_by_role("link", name="Account", exact=True).click()
    logins = page.get_by_test_id("logins")
    expect(logins.get_by_test_id("this-login")).to_contain_text("Chromium on Linux")
    expect(logins.get_by_test_id("this-login")).to_contain_text("this window")
    screenshot(page, tmp_path, "11-account")

    # A new name, greeted at once.
    page.get_by_role("link", name="Edit profile").click()
    page.get_by_label("Username").fill("Meiling")
    screenshot(page, tmp_path, "12-profile")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert")).to_have_text("Your profile has been saved.")
    expect(page.get_by_test_id("account-username")).to_have_text("Meiling")
    page.get_by_role("link", name="Doorstep").click()
    expect(page.get_by_role("heading", name="Welcome back, Meiling!")).to_be_visible()

    # A new password: a wrong current one is explained first.
    page.get_by_role("link", name="Account", exact=True).click()
    page.get_by_role("link", name="Change password").click()
    page.get_by_label("Current password").fill("not it at all")
    page.get_by_label("New password", exact=True).fill("a new battery staple")
    page.get_by_label("Confirm new password").fill("a new battery staple")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("That is not your current password.")).to_be_visible()
    screenshot(page, tmp_path, "13-password-error")
    page.get_by_label("Current password").fill("correct horse")
    page.get_by_label("New password", exact=True).fill("a new battery staple")
    page.get_by_label("Confirm new password").fill("a new battery staple")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("Your password has been changed.")

    # The data, downloaded.
    with page.expect_download() as exported:
        page.get_by_role("link", name="Download my data").click()
    assert exported.value.suggested_filename == "doorstep-Meiling.json"
    data = json.loads(Path(exported.value.path()).read_text(encoding="utf-8"))
    assert (data["username"], data["email"]) == ("Meiling", "mei@example.com")
    assert data["logins"][0]["client"] == "Chromium on Linux" and data["logins"][0]["current"]

    # Log out everywhere.
    page.get_by_role("button", name="Log out everywhere").click()
    expect(page).to_have_url(server.base_url)
    expect(page.get_by_role("alert")).to_have_text("You have been logged out everywhere.")
    expect(page.get_by_text("Welcome back")).to_have_count(0)
    screenshot(page, tmp_path, "14-logged-out-everywhere")

    # Forgot the password: the code from registration gets back in, and a new code replaces it.
    page.get_by_role("navigation").get_by_role("link", name="Log in").click()
    page.get_by_label("Email").fill("mei@example.com")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_label("Email")).to_have_value("mei@example.com")
    page.get_by_label("Recovery code").fill(code.lower().replace("-", " "))
    page.get_by_label("New password", exact=True).fill("third time lucky")
    page.get_by_label("Confirm new password").fill("third time lucky")
    screenshot(page, tmp_path, "15-recover")
    page.get_by_role("button", name="Reset password").click()
    assert shown_recovery_code(page) != code
    page.get_by_role("button", name="I have saved my recovery code").click()
    expect(page.get_by_role("alert")).to_have_text("Your password has been reset.")
    expect(page.get_by_label("Email")).to_have_value("mei@example.com")
    screenshot(page, tmp_path, "16-password-reset")
    page.get_by_label("Password").fill("third time lucky")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome back, Meiling!")).to_be_visible()

    # Delete the account, then make it again with the same email.
    page.get_by_role("link", name="Account", exact=True).click()
    page.get_by_role("link", name="Delete account").click()
    page.get_by_label("Password").fill("third time lucky")
    screenshot(page, tmp_path, "17-delete")
    page.get_by_role("button", name="Delete account").click()
    expect(page).to_have_url(server.base_url)
    expect(page.get_by_role("alert")).to_have_text("Your account has been deleted.")
    screenshot(page, tmp_path, "18-deleted")
    register(page, username="Meiling", email="mei@example.com")
    expect(page.get_by_role("alert")).to_have_text("Your account is ready — log in to continue.")

    hosts = {urlsplit(url).hostname for url in page.requested_urls}
    assert hosts <= {"127.0.0.1", None}, page.requested_urls
