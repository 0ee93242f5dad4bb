"""The window speaks the system's language: the user's languages read as gettext reads them,
and the Accept-Language header the window sends from them (desktop/system_languages.py)."""

from __future__ import annotations

import pytest

from desktop.system_languages import (
    accept_language,
    bcp47_tag,
    preferred_languages,
    window_locale,
)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"LANG": "zh_CN.UTF-8"}, ["zh-CN"], id="LANG"),
        pytest.param(
            {"LANG": "en_GB.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, ["zh-CN"], id="LC_MESSAGES"
        ),
        pytest.param(
            {"LANG": "en_GB.UTF-8", "LC_MESSAGES": "de_DE.UTF-8", "LC_ALL": "zh_TW.UTF-8"},
            ["zh-TW"],
            id="LC_ALL over the others",
        ),
        pytest.param(
            {"LANG": "en_US.UTF-8", "LANGUAGE": "zh_CN:en_US:en"},
            ["zh-CN", "en-US", "en"],
            id="LANGUAGE over the locale, as a list",
        ),
        pytest.param(
            {"LC_ALL": "en_US.UTF-8", "LANGUAGE": "zh_CN"}, ["zh-CN"], id="LANGUAGE over LC_ALL"
        ),
        pytest.param(
            {"LANG": "C.UTF-8", "LANGUAGE": "zh_CN"}, [], id="LANGUAGE ignored in the C locale"
        ),
        pytest.param({"LANGUAGE": "zh_CN"}, [], id="LANGUAGE ignored with no locale at all"),
        pytest.param({"LC_ALL": "POSIX", "LANG": "zh_CN.UTF-8"}, [], id="POSIX"),
        pytest.param({"LANG": "C"}, [], id="C"),
        pytest.param({}, [], id="nothing set"),
        pytest.param(
            {"LC_ALL": "", "LC_MESSAGES": "", "LANG": "zh_CN.UTF-8", "LANGUAGE": ""},
            ["zh-CN"],
            id="empty values count as unset",
        ),
        pytest.param(
            {"LANG": "fr_FR.UTF-8", "LANGUAGE": "::zh_CN::"},
            ["zh-CN"],
            id="empty entries in LANGUAGE skipped",
        ),
        pytest.param(
            {"LANG": "fr_FR.UTF-8", "LANGUAGE": "C:zh_CN"},
            ["zh-CN"],
            id="C in LANGUAGE names no language",
        ),
        pytest.param(
            {"LANG": "en_US.UTF-8", "LANGUAGE": "en_GB@euro:en_GB.UTF-8:en"},
            ["en-GB", "en"],
            id="duplicates once",
        ),
        pytest.param({"LANG": "de_DE@euro"}, ["de-DE"], id="a modifier"),
        pytest.param({"LANG": "nonsense-here"}, [], id="junk"),
    ],
)
def test_the_users_languages_come_from_the_environment_in_gettexts_order(environ, expected):
    assert preferred_languages(environ) == expected


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("zh_CN.UTF-8", "zh-CN"),
        ("en_GB.UTF-8@euro", "en-GB"),
        ("sr_RS@latin", "sr-RS"),
        ("zh_TW", "zh-TW"),
        ("de", "de"),
        ("ast_ES.UTF-8", "ast-ES"),
        ("es_419", "es-419"),
        ("EN_us", "en-US"),
        ("C", None),
        ("C.UTF-8", None),
        ("POSIX", None),
        ("", None),
        ("zh_", None),
        ("zh-CN", None),  # not a POSIX locale name
        ("english", None),  # an alias of locale.alias: nothing a web page is told
    ],
)
def test_a_locale_name_becomes_a_bcp_47_tag(name, tag):
    assert bcp47_tag(name) == tag


@pytest.mark.parametrize(
    ("tags", "header"),
    [
        (["zh-CN"], "zh-CN,zh;q=0.9"),
        (["en"], "en"),
        (["zh-CN", "en-US", "en"], "zh-CN,zh;q=0.9,en-US;q=0.8,en;q=0.7"),
        # The bare language after the run of its tags, not between them.
        (["zh-CN", "zh-TW", "en"], "zh-CN,zh-TW;q=0.9,zh;q=0.8,en;q=0.7"),
        # Ranked by the user: not moved up.
        (["zh-CN", "en", "zh"], "zh-CN,en;q=0.9,zh;q=0.8"),
        ([], ""),
    ],
)
def test_the_accept_language_header_ranks_the_languages_in_order(tags, header):
    assert accept_language(tags) == header


def test_q_values_never_fall_to_zero():
    # q=0 would mean "not acceptable": a long LANGUAGE list stays acceptable to the end.
    header = accept_language([f"x{letter}" for letter in "abcdefghijklmn"])
    assert header.split(",")[-1] == "xn;q=0.1"
    assert "q=0.0" not in header


@pytest.mark.parametrize(
    ("environ", "locale"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh_Hans"),
        ({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_SG:en"}, "zh_Hans"),
        ({"LANG": "zh_TW.UTF-8"}, "en"),  # Traditional Chinese: not spoken, English
        ({"LANG": "fr_FR.UTF-8", "LANGUAGE": "fr:zh_CN"}, "zh_Hans"),  # the first it speaks
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_the_windows_own_texts_take_the_first_system_language_doorstep_speaks(environ, locale):
    assert window_locale(preferred_languages(environ)) == locale
