"""The languages Doorstep speaks and how a request chooses one, for the webapp and the guard.

Flask-free on purpose: desktop.guard answers some requests before Flask sees them, and its
pages must speak the language the webapp's pages would (docs/i18n.md).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header
from werkzeug.sansio.http import parse_cookie

if TYPE_CHECKING:
    from babel.support import NullTranslations

DEFAULT_LOCALE = "en"
# Babel's names, in the order the navbar's switch offers them.
LOCALES = ("en", "zh_Hans")
# What <html lang> says for each (BCP 47).
HTML_LANG = {"en": "en", "zh_Hans": "zh-Hans"}
# The language switch's choice; read by the webapp and the guard alike.
COOKIE = "doorstep_locale"
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie (Chrome caps it there)
# Accept-Language tags (lower case) that mean Simplified Chinese. Traditional Chinese
# (zh-TW, zh-HK, zh-MO, zh-Hant) is not among them: as gettext does with a zh_TW system and
# only a zh_CN catalogue, such a reader gets their next preference, else English.
SIMPLIFIED_CHINESE = frozenset({"zh", "zh-cn", "zh-sg", "zh-my", "zh-hans"})
# Compiled catalogues: webapp/translations/<locale>/LC_MESSAGES/messages.mo, in a checkout,
# a wheel and the bundle alike (desktop/ and webapp/ are always side by side).
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "webapp" / "translations"


def supported(locale: str | None) -> str | None:
    """Return `locale` if Doorstep speaks it, else None."""
    return locale if locale in LOCALES else None


def locale_for_tag(tag: str) -> str | None:
    """Return Doorstep's locale for one Accept-Language tag (en-GB, zh-CN, ...), if any."""
    tag = tag.strip().lower().replace("_", "-")
    if tag == "en" or tag.startswith("en-"):
        return "en"
    if tag in SIMPLIFIED_CHINESE or tag.startswith("zh-hans-"):
        return "zh_Hans"
    return None


def accepted_locale(header: str | None) -> str | None:
    """Return the locale the Accept-Language `header` prefers most among Doorstep's, if any."""
    accept = parse_accept_header(header, LanguageAccept)  # sorted by quality
    for tag, quality in accept:
        locale = locale_for_tag(tag) if quality > 0 else None  # q=0: "not this one"
        if locale is not None:
            return locale
    return None


def chosen_locale(cookie: str | None, accept_language: str | None) -> str:
    """Return the switch's choice from its cookie, else the browser's, else English."""
    return supported(cookie) or accepted_locale(accept_language) or DEFAULT_LOCALE


def environ_locale(environ: dict) -> str:
    """Return the locale for a WSGI request no logged-in user is known for (the guard's)."""
    cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
    return chosen_locale(cookies.get(COOKIE), environ.get("HTTP_ACCEPT_LANGUAGE"))


@functools.cache
def translations(locale: str) -> NullTranslations:
    """Return the compiled catalogue of `locale` (English: the messages as written)."""
    from babel.support import NullTranslations, Translations

    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [locale])


def N_(message: str) -> str:
    """Mark `message` for extraction only: it is translated where it is shown, in that locale."""
    return message
