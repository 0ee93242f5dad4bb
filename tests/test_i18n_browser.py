"""Doorstep in Chinese in a real Chromium against `doorstep serve`: a browser that asks for
Chinese, and the navbar's switch, checked by what a user sees."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

# The browser and the served app, as the English flow uses them.
from tests.test_browser import CHROMIUM, browser, screenshot, server  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture
def chinese_page(browser, server):  # noqa: F811
    """A tab of a browser whose language is Chinese (China): Accept-Language zh-CN."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    tab = context.new_page()
    tab.requested_urls = []
    tab.on("request", lambda req: tab.requested_urls.append(req.url))
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


@pytest.fixture
def english_page(browser, server):  # noqa: F811
    """A tab of a browser whose language is English (US)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def test_a_chinese_browser_registers_logs_in_and_out_in_chinese(chinese_page, server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    page = chinese_page
    page.goto(server.url)
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_role("heading", name="Doorstep")).to_be_visible()
    screenshot(page, tmp_path, "zh-1-landing")

    page.get_by_role("link", name="创建账户").first.click()
    expect(page).to_have_title("创建账户 · Doorstep")
    page.get_by_label("用户名").fill("美玲")
    page.get_by_label("电子邮箱").fill("meiling@example.com")
    page.get_by_label("密码", exact=True).fill("correct horse")
    page.get_by_label("确认密码").fill("correct horse")
    page.get_by_role("button", name="创建账户").click()
    expect(page.get_by_role("heading", name="保存您的恢复码")).to_be_visible()
    screenshot(page, tmp_path, "zh-2-recovery-code")
    page.get_by_role("button", name="我已保存恢复码").click()

    expect(page).to_have_url(re.compile(r"/login\?email="))
    expect(page.get_by_role("alert")).to_have_text("您的账户已创建，请登录以继续。")
    page.get_by_label("密码").fill("correct horse")
    page.get_by_label("记住我").check()
    screenshot(page, tmp_path, "zh-3-login")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="欢迎回来，美玲！")).to_be_visible()
    screenshot(page, tmp_path, "zh-4-greeting")

    page.get_by_role("link", name="账户", exact=True).click()
    expect(page.get_by_role("heading", name="您的账户")).to_be_visible()
    expect(page.get_by_test_id("account-username")).to_have_text("美玲")
    expect(page.get_by_test_id("this-login")).to_contain_text("当前窗口")
    screenshot(page, tmp_path, "zh-5-account")

    page.get_by_role("button", name="退出登录", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("您已退出登录。")
    expect(alert).to_have_class("alert alert-success alert-dismissible fade show")
    expect(page.get_by_text("欢迎回来")).to_have_count(0)
    screenshot(page, tmp_path, "zh-6-logged-out")
    alert.get_by_role("button", name="关闭").click()
    expect(page.get_by_role("alert")).to_have_count(0)

    hosts = {urlsplit(url).hostname for url in page.requested_urls}
    assert hosts == {"127.0.0.1"}, page.requested_urls


def test_the_navbar_switch_changes_the_language_everywhere_and_after_logging_in(
    english_page,
    server,  # noqa: F811
    tmp_path,
):
    from playwright.sync_api import expect

    page = english_page
    page.goto(server.url)
    page.get_by_role("link", name="Create account").first.click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    switch = page.get_by_test_id("language-switch")
    expect(switch.get_by_role("button", name="简体中文")).to_have_attribute("lang", "zh-Hans")
    expect(switch.get_by_role("button", name="English")).to_have_attribute("lang", "en")

    switch.get_by_role("button", name="简体中文").click()
    # Back on the page it was pressed on, now in Chinese, with no flash about it.
    expect(page).to_have_url(server.base_url + "register")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_role("heading", name="创建您的账户")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    screenshot(page, tmp_path, "zh-switch-register")

    # Remembered on the next pages.
    page.get_by_role("navigation").get_by_role("link", name="登录").click()
    expect(page.get_by_role("heading", name="登录")).to_be_visible()

    # An account made and used in Chinese keeps it across a log out and back in.
    page.goto(server.base_url + "register")
    page.get_by_label("用户名").fill("Mei")
    page.get_by_label("电子邮箱").fill("mei@example.com")
    page.get_by_label("密码", exact=True).fill("correct horse")
    page.get_by_label("确认密码").fill("correct horse")
    page.get_by_role("button", name="创建账户").click()
    page.get_by_role("button", name="我已保存恢复码").click()
    page.get_by_label("密码").fill("correct horse")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="欢迎回来，Mei！")).to_be_visible()

    page.get_by_test_id("language-switch").get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Welcome back, Mei!")).to_be_visible()
    page.get_by_test_id("language-switch").get_by_role("button", name="简体中文").click()
    expect(page.get_by_role("heading", name="欢迎回来，Mei！")).to_be_visible()
    page.get_by_role("button", name="退出登录", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("您已退出登录。")

    # Even with its cookies gone, the browser gets the account's choice back at log in.
    page.context.clear_cookies(name="doorstep_locale")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("navigation").get_by_role("link", name="Log in").click()
    page.get_by_label("Email").fill("mei@example.com")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="欢迎回来，Mei！")).to_be_visible()
    screenshot(page, tmp_path, "zh-switch-greeting")

    page.get_by_test_id("language-switch").get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Welcome back, Mei!")).to_be_visible()
