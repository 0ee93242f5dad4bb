"""Which language and time zone a request gets (Flask-Babel's selectors), and dates in them."""

from __future__ import annotations

import logging
from datetime import datetime

from babel.dates import get_datetime_format
from flask import Flask, has_request_context, request
from flask_babel import format_date, format_datetime, get_locale, gettext
from flask_login import current_user
from werkzeug.wrappers import Response

from desktop.languages import (
    COOKIE,
    COOKIE_MAX_AGE,
    DEFAULT_LOCALE,
    HTML_LANG,
    LOCALES,
    TRANSLATIONS_DIR,
    chosen_locale,
    supported,
)
from webapp.auth.logins import BROWSERS, CLIENT_NAMES, SYSTEMS
from webapp.extensions import babel

log = logging.getLogger("doorstep.i18n")

# English keeps the dates it always showed ("05 Nov 2026, 14:03"); other locales write them
# as CLDR says their readers expect ("2026年11月5日 14:03").
ENGLISH_DATE = "dd MMM y"
ENGLISH_DATETIME = "dd MMM y, HH:mm"
DATE_SKELETON = "yMMMd"
TIME_SKELETON = "Hm"
# What the language switch's buttons say, each in its own language (never translated).
LANGUAGE_NAMES = {"en": "English", "zh_Hans": "简体中文"}


def init_app(app: Flask) -> None:
    """Bind Flask-Babel to `app` with Doorstep's catalogues, selectors and date filters."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=local_zone_name)
    app.add_template_filter(local_date)
    app.add_template_filter(local_datetime)
    app.add_template_filter(client_name)
    app.add_template_global(html_lang)
    app.add_template_global(current_locale)
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["LANGUAGE_HTML_LANG"] = HTML_LANG


def select_locale() -> str:
    """Return the request's locale: the logged-in user's choice, the switch's cookie, the
    browser's Accept-Language, else English (outside a request, as in the users CLI)."""
    if not has_request_context():
        return DEFAULT_LOCALE
    if current_user.is_authenticated and supported(current_user.locale):
        return current_user.locale
    return chosen_locale(request.cookies.get(COOKIE), request.headers.get("Accept-Language"))


def remember_locale(response: Response, locale: str) -> None:
    """Set the language switch's cookie on `response`: this browser shows `locale` from now on."""
    response.set_cookie(
        COOKIE, locale, max_age=COOKIE_MAX_AGE, path="/", samesite="Lax", httponly=True
    )


def local_zone_name() -> str | None:
    """Return the machine's IANA time zone: server and user share the machine."""
    import tzlocal  # on first use: most pages show no date

    try:
        return tzlocal.get_localzone_name()
    except Exception as exc:  # no zone configured: Flask-Babel's default, UTC
        log.warning("Could not tell the local time zone, showing times in UTC: %s", exc)
        return None


def current_locale() -> str:
    """Return the locale this request is shown in ("en" or "zh_Hans")."""
    locale = str(get_locale() or DEFAULT_LOCALE)
    return locale if locale in LOCALES else DEFAULT_LOCALE


def html_lang() -> str:
    """Return what <html lang> says for this request (BCP 47: "en", "zh-Hans")."""
    return HTML_LANG[current_locale()]


def date_patterns() -> tuple[str, str]:
    """Return the CLDR patterns of a day and of a day and time in this request's locale."""
    locale = get_locale()
    if locale is None or str(locale) == "en":
        return ENGLISH_DATE, ENGLISH_DATETIME
    date = locale.datetime_skeletons[DATE_SKELETON].pattern
    time = locale.datetime_skeletons[TIME_SKELETON].pattern
    # "{1} {0}": the date, then the time (typeshed calls it a pattern; Babel gives a str).
    return date, str(get_datetime_format("medium", locale=locale)).format(time, date)


def local_datetime(value: datetime | None) -> str:
    """Format a stored (naive UTC) time in the user's locale and the local time zone."""
    if value is None:
        return gettext("never")
    return format_datetime(value, date_patterns()[1])


def local_date(value: datetime) -> str:
    """Format the day of a stored (naive UTC) time in the user's locale and local time zone."""
    return format_date(value, date_patterns()[0])


def client_name(client: str) -> str:
    """Translate a login's stored program name ("Firefox on Linux", "Doorstep window")."""
    browser, on, system = client.partition(" on ")
    if on and browser in BROWSERS and system in SYSTEMS:
        return gettext("%(browser)s on %(system)s", browser=browser, system=system)
    return gettext(client) if client in CLIENT_NAMES else client
