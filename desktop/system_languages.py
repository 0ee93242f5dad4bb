"""The user's languages, read from a POSIX environment as gettext reads them.

The window sends them as its Accept-Language header, so the webapp speaks the system's
language ("LANG=zh_CN.UTF-8" gives "zh-CN,zh;q=0.9"). Used on Linux, where the Qt web view
would otherwise send the language of Qt's own locale only; WebView2 (Windows) and WKWebView
(macOS) already send the system's UI languages (docs/desktop.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

# The locale categories that name the messages' language, highest precedence first.
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")
# language[_TERRITORY], once the codeset (.UTF-8) and the modifier (@euro) are gone.
_LOCALE_NAME = re.compile(r"(?P<language>[A-Za-z]{2,3})(?:_(?P<territory>[A-Za-z]{2}|\d{3}))?")
_STEP = 0.1  # how much each further language's q-value drops, as browsers do
_LOWEST_Q = 0.1


def preferred_languages(environ: Mapping[str, str] | None = None) -> list[str]:
    """Return the user's languages as BCP 47 tags, most preferred first; [] for C or none."""
    env = os.environ if environ is None else environ
    # The first non-empty of LC_ALL, LC_MESSAGES, LANG is the locale; none at all is "C".
    locale = next((env[name] for name in LOCALE_VARIABLES if env.get(name)), "C")
    if _is_c_locale(locale):
        # gettext ignores LANGUAGE in the C locale: a POSIX program's output must not vary.
        return []
    names = [name for name in env.get("LANGUAGE", "").split(":") if name] or [locale]
    tags: list[str] = []
    for name in names:
        tag = bcp47_tag(name)
        if tag is not None and tag not in tags:
            tags.append(tag)
    return tags


def window_locale(tags: list[str]) -> str:
    """Return the locale of the window's own texts: the first of the user's languages `tags`
    (preferred_languages) that Doorstep speaks, else English."""
    from desktop import languages

    return languages.accepted_locale(",".join(tags)) or languages.DEFAULT_LOCALE


def bcp47_tag(locale_name: str) -> str | None:
    """Return the BCP 47 tag of a POSIX locale name (zh_CN.UTF-8 → zh-CN), or None for C or junk."""
    # The codeset and the modifier say nothing a web page is told: sr_RS@latin → sr-RS.
    name = locale_name.split("@", 1)[0].split(".", 1)[0]
    match = _LOCALE_NAME.fullmatch(name)
    if match is None or _is_c_locale(name):
        return None
    language, territory = match["language"].lower(), match["territory"]
    return f"{language}-{territory.upper()}" if territory else language


def accept_language(tags: list[str]) -> str:
    """Return the Accept-Language value for `tags`: each in order, with decreasing q-values.

    A tag with a region is followed by its bare language (zh-CN, then zh), after the run of
    tags sharing that language and unless the user ranked the bare language themselves: a
    server with Chinese but no zh-CN variant then still picks Chinese. Nothing is added at
    the end: a server falls back to its default language anyway.
    """
    expanded: list[str] = []
    for index, tag in enumerate(tags):
        expanded.append(tag)
        language = tag.split("-", 1)[0]
        following = tags[index + 1] if index + 1 < len(tags) else ""
        if following.split("-", 1)[0] == language or language in tags or language in expanded:
            continue
        expanded.append(language)
    values = []
    for index, tag in enumerate(expanded):
        quality = max(1.0 - _STEP * index, _LOWEST_Q)
        values.append(tag if index == 0 else f"{tag};q={quality:.1f}")
    return ",".join(values)


def _is_c_locale(name: str) -> bool:
    """Tell whether a locale name is the C (POSIX) locale, in any codeset (C.UTF-8)."""
    return name.split(".", 1)[0] in ("C", "POSIX")
