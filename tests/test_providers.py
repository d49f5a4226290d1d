"""The provider/MTA pattern data file is well formed, in both languages."""

from __future__ import annotations

import re

from smtpdiag.core.classify import pattern_info
from smtpdiag.core.datafiles import load
from smtpdiag.core.model import REASONS

PATTERNS = load("smtpdiag.core.data", "providers")["pattern"]
RULES = load("smtpdiag.core.data", "rules")
THAI = re.compile("[\u0e00-\u0e7f]")


def test_provider_patterns_are_well_formed() -> None:
    assert len(PATTERNS) >= 100
    ids = [p["id"] for p in PATTERNS]
    assert len(ids) == len(set(ids))
    providers = {p["provider"] for p in PATTERNS}
    for name in (
        "Gmail",
        "Postfix",
        "Exim",
        "Sendmail",
        "qmail",
        "Mimecast",
        "Proofpoint",
        "Barracuda",
        "Spamhaus",
        "Apple iCloud Mail",
    ):
        assert any(name in p for p in providers), name
    for p in PATTERNS:
        re.compile(p["match"], re.IGNORECASE)
        assert p["reason"] in REASONS, p["id"]
        assert p["source"].startswith("https://"), p["id"]
        for field in ("explanation", "remedy"):
            assert p[field]["en"].strip(), (p["id"], field)
            assert THAI.search(p[field]["th"]), (p["id"], field)
        assert set(p.get("classes", ["4", "5"])) <= {"4", "5"}
        assert isinstance(p.get("fallback", False), bool)


def test_generic_rules_are_well_formed() -> None:
    for rule in RULES["text"]:
        re.compile(rule["match"], re.IGNORECASE)
        assert rule["reason"] in REASONS, rule["id"]
    for stage in RULES["stage"]:
        assert stage["reason"] in REASONS
    assert set(RULES["subject_defaults"].values()) <= set(REASONS)


def test_pattern_info_in_both_languages() -> None:
    info_en = pattern_info("gmail-nosuchuser", "en")
    info_th = pattern_info("gmail-nosuchuser", "th")
    assert info_en is not None and info_th is not None
    assert info_en.provider == "Gmail"
    assert THAI.search(info_th.explanation) and not THAI.search(info_en.explanation)
    assert pattern_info("no-such-rule") is None
