"""The catalog is complete and consistent in every language (issue: reply catalog)."""

from __future__ import annotations

import re
import string

import pytest

from smtpdiag.core import catalog
from smtpdiag.core.catalog import ENTRY_FIELDS
from smtpdiag.core.model import REASONS

BASIC = [
    211,
    214,
    220,
    221,
    235,
    250,
    251,
    252,
    334,
    354,
    421,
    432,
    450,
    451,
    452,
    454,
    455,
    500,
    501,
    502,
    503,
    504,
    521,
    530,
    534,
    535,
    538,
    550,
    551,
    552,
    553,
    554,
    555,
    556,
]
# IANA "SMTP Enhanced Status Codes" registry: subject -> highest detail
REGISTRY = {0: 0, 1: 10, 2: 4, 3: 6, 4: 7, 5: 6, 6: 10, 7: 30}
ENHANCED = [f"X.{s}.{d}" for s, top in REGISTRY.items() for d in range(top + 1)]
LANGS = catalog.available_languages()
TEXT_FIELDS = ("title", "meaning", "description", "when", "fix", "retry")
ID_FIELDS = ("actor", "rfc", "reason")
THAI = re.compile("[\u0e00-\u0e7f]")
THAI_HEADINGS = {
    "description": "คำอธิบาย",
    "when": "เมื่อคุณพบเห็น",
    "fix": "วิธีแก้ไข",
    "differences": "ความแตกต่างหลัก",
    "which": "ควรใช้อันไหนเมื่อไร",
    "learn_more": "เรียนรู้เพิ่มเติม",
}


def test_languages() -> None:
    assert {"en", "th"} <= set(LANGS)


@pytest.mark.parametrize("lang", LANGS)
def test_every_basic_code_is_complete(lang: str) -> None:
    data = catalog.load(lang).data
    assert sorted(int(k) for k in data["basic"]) == BASIC
    for code in BASIC:
        entry = data["basic"][str(code)]
        assert set(entry) == set(ENTRY_FIELDS), code
        assert all(str(entry[f]).strip() for f in ENTRY_FIELDS), code


@pytest.mark.parametrize("lang", LANGS)
def test_every_registry_code_is_complete(lang: str) -> None:
    data = catalog.load(lang).data
    assert sorted(data["enhanced"]) == sorted(ENHANCED)
    for key in ENHANCED:
        entry = data["enhanced"][key]
        assert set(entry) == set(ENTRY_FIELDS), key
        assert all(str(entry[f]).strip() for f in ENTRY_FIELDS), key


@pytest.mark.parametrize("lang", [lang for lang in LANGS if lang != "en"])
def test_translations_are_complete_and_translated(lang: str) -> None:
    en, other = catalog.load("en").data, catalog.load(lang).data
    for table in ("basic", "enhanced"):
        for key, entry in en[table].items():
            mine = other[table][key]
            for field in ID_FIELDS:
                assert mine[field] == entry[field], (table, key, field)
            for field in TEXT_FIELDS:
                assert mine[field] != entry[field], f"{table} {key} {field} is not translated"
                if lang == "th":
                    assert THAI.search(mine[field]), f"{table} {key} {field} has no Thai"
    for table in (
        "headings",
        "classes",
        "enhanced_classes",
        "subjects",
        "actors",
        "ui",
        "templates",
        "auth",
    ):
        assert set(other[table]) == set(en[table]), table
    for table in ("ui", "templates", "auth"):
        for key, text in en[table].items():
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
            theirs = {f for _, f, _, _ in string.Formatter().parse(other[table][key]) if f}
            assert fields == theirs, (table, key)


def test_thai_headings_are_the_reference_pages() -> None:
    headings = catalog.load("th").data["headings"]
    for key, text in THAI_HEADINGS.items():
        assert headings[key] == text


@pytest.mark.parametrize("lang", LANGS)
def test_class_digit_matches_severity(lang: str) -> None:
    cat = catalog.load(lang)
    for code in BASIC:
        entry = cat.basic(code)
        assert entry is not None
        assert entry.class_name.startswith(f"{str(code)[0]}xx"), code
        positive = code < 400
        assert (entry.reason == "accepted") == positive, code
    for klass in "245":
        for key in ENHANCED:
            entry = cat.enhanced(f"{klass}{key[1:]}")
            assert entry is not None
            assert entry.class_name == cat.data["enhanced_classes"][klass]


def test_identifiers_are_valid() -> None:
    data = catalog.load("en").data
    actors = set(data["actors"])
    for table in ("basic", "enhanced"):
        for key, entry in data[table].items():
            assert entry["reason"] in REASONS, (key, entry["reason"])
            assert entry["actor"] in actors, (key, entry["actor"])
            assert entry["rfc"].startswith(("RFC", "IANA")), key


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="available"):
        catalog.load("xx")
