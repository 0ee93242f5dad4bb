"""English and Simplified Chinese: complete catalogues, and each request in the language its
user chose (the account, the switch's cookie, the browser), dates in the local time zone."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime
from http.cookies import SimpleCookie

import pytest
from babel.messages.pofile import read_po

from desktop.guard import AccessGuard
from desktop.languages import COOKIE, COOKIE_MAX_AGE
from tests.support import REPO_ROOT
from tests.support.forms import csrf_token_from
from webapp.extensions import db
from webapp.models import User

TRANSLATIONS = REPO_ROOT / "webapp" / "translations"
CHINESE_PO = TRANSLATIONS / "zh_Hans" / "LC_MESSAGES" / "messages.po"
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def html_lang(response) -> str:
    """What the page's <html lang> says."""
    match = re.search(r'<html lang="([^"]+)">', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:300]
    return match.group(1)


def read_catalogue(path):
    """The catalogue of a .po or .pot file."""
    with path.open("rb") as po:
        return read_po(po)


def extract(tmp_path):
    """A fresh extraction of the code's and templates' messages, as the documented command."""
    pot = tmp_path / "fresh.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "-q", "extract"]
        + ["-F", "babel.cfg", "-k", "_l", "-o", str(pot), "."],
        cwd=REPO_ROOT,
        check=True,
        timeout=60,
    )
    return read_catalogue(pot)


# --- The catalogues ---------------------------------------------------------------------


def test_every_message_has_a_chinese_translation_and_the_po_is_current(tmp_path):
    fresh = {message.id for message in extract(tmp_path) if message.id}
    catalogue = read_catalogue(CHINESE_PO)
    in_po = {message.id for message in catalogue if message.id}
    # A message added to the code or a template since the last `scripts/dev.py translations`,
    # or one the code no longer has.
    assert fresh - in_po == set(), "run `python3 scripts/dev.py translations`: new messages"
    assert in_po - fresh == set(), "run `python3 scripts/dev.py translations`: gone messages"
    assert len(fresh) > 100  # the extraction found the templates and the code
    untranslated = [message.id for message in catalogue if message.id and not message.string]
    fuzzy = [message.id for message in catalogue if message.id and message.fuzzy]
    assert untranslated == [], untranslated
    assert fuzzy == [], fuzzy
    # Placeholders kept: %(name)s in the English is %(name)s in the Chinese.
    problems = [(message.id, errors) for message, errors in catalogue.check()]
    assert problems == [], problems


def test_the_chinese_uses_the_terms_of_desktop_software():
    translated = {message.id: message.string for message in read_catalogue(CHINESE_PO)}
    assert translated["Log in"] == "登录"
    assert translated["Log out"] == "退出登录"
    assert translated["Remember me"] == "记住我"
    assert translated["Create account"] == "创建账户"
    assert translated["Recovery code"] == "恢复码"
    assert translated["You have been logged out."] == "您已退出登录。"
    assert translated["Welcome back, %(name)s!"] == "欢迎回来，%(name)s！"


# --- Which language ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_language", "lang"),
    [
        (None, "en"),
        ("en-US,en;q=0.9", "en"),
        ("zh-CN", "zh-Hans"),
        ("zh-SG", "zh-Hans"),
        ("zh", "zh-Hans"),
        ("zh-Hans", "zh-Hans"),
        ("zh-Hans-CN", "zh-Hans"),
        ("zh_CN", "zh-Hans"),
        ("fr-FR,zh-CN;q=0.8,en;q=0.5", "zh-Hans"),  # the first Doorstep speaks
        ("fr-FR,en;q=0.9,zh-CN;q=0.8", "en"),
        ("en;q=0.3,zh-CN;q=0.7", "zh-Hans"),  # by quality, not by order
        ("zh-CN;q=0,en", "en"),  # q=0: not this one
        # Traditional Chinese is not Simplified: the next preference, else English.
        ("zh-TW", "en"),
        ("zh-Hant", "en"),
        ("zh-HK,zh-CN;q=0.5", "zh-Hans"),
        ("de-DE", "en"),
        ("*", "en"),
        ("garbage;;;q=x,,", "en"),
    ],
)
def test_the_browser_language_chooses_when_nothing_else_does(client, accept_language, lang):
    headers = {"Accept-Language": accept_language} if accept_language is not None else {}
    response = client.get("/", headers=headers)
    assert response.status_code == 200
    assert html_lang(response) == lang


def test_the_switch_cookie_beats_the_browser_and_a_bad_cookie_is_ignored(client):
    client.set_cookie(COOKIE, "en")
    assert html_lang(client.get("/", headers=CHINESE)) == "en"
    client.set_cookie(COOKIE, "zh_Hans")
    page = client.get("/", headers=ENGLISH)
    assert html_lang(page) == "zh-Hans"
    assert "创建账户" in page.get_data(as_text=True)
    client.set_cookie(COOKIE, "klingon")
    assert html_lang(client.get("/", headers=CHINESE)) == "zh-Hans"
    assert html_lang(client.get("/", headers=ENGLISH)) == "en"


def test_the_switch_sets_a_lasting_cookie_flashes_nothing_and_goes_back(client):
    response = client.post("/language", data={"locale": "zh_Hans", "next": "/login?email=a%40b.c"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?email=a%40b.c"
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE)]
    morsel = SimpleCookie(header)[COOKIE]
    assert morsel.value == "zh_Hans"
    assert int(morsel["max-age"]) == COOKIE_MAX_AGE
    assert morsel["path"] == "/"
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    page = client.get("/login", headers=ENGLISH)
    assert html_lang(page) == "zh-Hans"
    html = page.get_data(as_text=True)
    assert '<h1 class="h3 mb-3">登录</h1>' in html
    assert 'data-testid="flashes"' not in html
    # Each button names its language in that language, and says which one is in use.
    assert re.search(r'value="en" lang="en"\s+class="[^"]*">English</button>', html)
    assert re.search(
        r'value="zh_Hans" lang="zh-Hans"\s+class="[^"]* active" aria-current="true">简体中文</button>',
        html,
    )


@pytest.mark.parametrize(
    "next_url", [None, "", "//evil.example/", "https://evil.example/", "/\\evil.example"]
)
def test_the_switch_never_redirects_off_the_app(client, next_url):
    data = {"locale": "en"} if next_url is None else {"locale": "en", "next": next_url}
    response = client.post("/language", data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("locale", [None, "", "fr", "zh_Hant", "en" * 100])
def test_the_switch_refuses_other_languages_with_a_400(client, locale):
    data = {"next": "/"} if locale is None else {"locale": locale, "next": "/"}
    response = client.post("/language", data=data, headers=ENGLISH)
    assert response.status_code == 400
    assert "The request could not be understood." in response.get_data(as_text=True)
    assert COOKIE not in response.headers.get("Set-Cookie", "")


def test_the_switch_needs_its_csrf_token(make_app):
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    refused = client.post("/language", data={"locale": "zh_Hans", "next": "/"}, headers=CHINESE)
    assert refused.status_code == 400
    assert "此表单已过期" in refused.get_data(as_text=True)
    assert COOKIE not in refused.headers.get("Set-Cookie", "")
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    switched = client.post("/language", data={"locale": "zh_Hans", "csrf_token": token})
    assert switched.status_code == 302


def test_the_account_choice_beats_the_cookie_and_follows_the_user_to_a_new_browser(
    app, client, auth
):
    auth.register()
    auth.login()
    client.post("/language", data={"locale": "zh_Hans", "next": "/"})
    with app.app_context():
        assert db.session.scalars(db.select(User.locale)).one() == "zh_Hans"
    client.set_cookie(COOKIE, "en")  # say, set by another account in this browser
    assert "欢迎回来，Mei！" in client.get("/", headers=ENGLISH).get_data(as_text=True)

    # Another browser, English by its own settings: logging in brings the account's choice.
    other = app.test_client()
    response = other.post("/login", data={"email": "mei@example.com", "password": "correct horse"})
    assert f"{COOKIE}=zh_Hans" in " ".join(response.headers.getlist("Set-Cookie"))
    assert "欢迎回来，Mei！" in other.get("/", headers=ENGLISH).get_data(as_text=True)
    # Logged out, the browser keeps the language (the cookie login set).
    other.post("/logout")
    page = other.get("/", headers=ENGLISH).get_data(as_text=True)
    assert "您已退出登录。" in page
    assert "欢迎回来" not in page


def test_an_account_without_a_choice_follows_the_browser(client, auth):
    auth.register()
    response = auth.login()
    assert COOKIE not in " ".join(response.headers.getlist("Set-Cookie"))
    assert "欢迎回来，Mei！" in client.get("/", headers=CHINESE).get_data(as_text=True)
    assert "Welcome back, Mei!" in client.get("/", headers=ENGLISH).get_data(as_text=True)


def test_the_greeting_never_translates_or_unescapes_the_username(client, auth):
    auth.register(username="陈美玲", email="meiling@example.com")
    auth.login(email="meiling@example.com")
    html = client.get("/", headers=CHINESE).get_data(as_text=True)
    assert "欢迎回来，陈美玲！" in html


# --- Chinese throughout -------------------------------------------------------------------


def test_form_labels_and_errors_are_chinese(client, auth):
    html = client.get("/register", headers=CHINESE).get_data(as_text=True)
    for label in ("用户名", "电子邮箱", "密码", "确认密码"):
        assert f">{label}</label>" in html
    assert "<title>创建账户 · Doorstep</title>" in html
    response = client.post(
        "/register",
        data={"username": "M", "email": "nope", "password": "short", "confirm": "other"},
        headers=CHINESE,
    )
    html = response.get_data(as_text=True)
    assert "用户名长度须为 2 到 32 个字符。" in html
    assert "请输入有效的电子邮箱地址，例如 mei@example.com。" in html
    assert "两次输入的密码不一致。" in html


def test_error_pages_are_chinese(client):
    response = client.get("/no-such-page", headers=CHINESE)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert html_lang(response) == "zh-Hans"
    assert "页面不存在" in html and "此地址没有页面。" in html and "返回首页" in html


def test_the_guard_pages_speak_the_same_language_as_the_app():
    guard = AccessGuard(lambda environ, start: [b""], "secret-token", 8000)

    def get(**environ):
        answered = {}

        def start_response(status, headers):
            answered["status"] = status

        body = b"".join(guard({"HTTP_HOST": "127.0.0.1:8000", **environ}, start_response))
        return answered["status"], body.decode("utf-8")

    status, body = get(HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert status == "403 Forbidden"
    assert '<html lang="zh-Hans">' in body and "<h1>禁止访问</h1>" in body
    status, body = get(HTTP_ACCEPT_LANGUAGE="zh-CN", HTTP_COOKIE=f"{COOKIE}=en")
    assert '<html lang="en">' in body and "<h1>Forbidden</h1>" in body
    status, body = get(HTTP_HOST="evil.example:8000", HTTP_COOKIE=f"{COOKIE}=zh_Hans")
    assert status == "400 Bad Request"
    assert "<h1>请求无效</h1>" in body and "doorstep serve" in body


# --- Dates --------------------------------------------------------------------------------


@pytest.fixture
def new_york(monkeypatch):
    """The machine's time zone: New York (UTC-5 in winter, UTC-4 in summer)."""
    import tzlocal

    monkeypatch.setattr(tzlocal, "get_localzone_name", lambda: "America/New_York")


def test_dates_are_in_the_local_zone_with_the_dst_of_their_day(app, client, auth, new_york):
    auth.register()
    auth.login()
    with app.app_context():
        user = db.session.scalars(db.select(User)).one()
        user.created_at = datetime(2026, 1, 5, 3, 30)  # UTC: still 4 January in New York
        user.last_login_at = datetime(2026, 7, 1, 12, 5)  # UTC: 08:05 EDT
        db.session.commit()
    english = client.get("/account", headers=ENGLISH).get_data(as_text=True)
    assert '<dd class="col-sm-8">04 Jan 2026</dd>' in english
    assert '<dd class="col-sm-8 mb-0">01 Jul 2026, 08:05</dd>' in english
    client.post("/language", data={"locale": "zh_Hans"})
    chinese = client.get("/account").get_data(as_text=True)
    assert '<dd class="col-sm-8">2026年1月4日</dd>' in chinese
    assert '<dd class="col-sm-8 mb-0">2026年7月1日 08:05</dd>' in chinese


def test_a_missing_date_says_never_in_the_users_language(app, client, auth):
    auth.register()
    auth.login()
    with app.app_context():
        user = db.session.scalars(db.select(User)).one()
        user.last_login_at = None
        db.session.commit()
    client.post("/language", data={"locale": "zh_Hans"})
    html = client.get("/account").get_data(as_text=True)
    assert '<dd class="col-sm-8 mb-0">从未</dd>' in html
