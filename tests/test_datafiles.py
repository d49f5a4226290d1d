"""Every data file's JSON twin (what the package loads, for speed) matches its TOML source.

After editing a TOML file under smtpdiag/catalog or smtpdiag/data, run
``python -m smtpdiag.datafiles`` to regenerate the twins.
"""

from __future__ import annotations

import pytest

from smtpdiag import datafiles

SOURCES = datafiles.sources()


def test_there_are_data_files() -> None:
    names = {p.name for p in SOURCES}
    assert {"en.toml", "rules.toml", "summaries.toml"} <= names


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_json_twin_matches_toml(source: object) -> None:
    from pathlib import Path

    assert isinstance(source, Path)
    twin = source.with_suffix(".json")
    assert twin.exists(), f"{twin.name} missing: run python -m smtpdiag.datafiles"
    assert twin.read_text(encoding="utf-8") == datafiles.twin_text(source), (
        f"{twin.name} is stale: run python -m smtpdiag.datafiles"
    )


def test_prefilter_is_current() -> None:
    assert datafiles.prefilter_path().read_text(encoding="utf-8") == datafiles.prefilter_text(), (
        "prefilter.json is stale: run python -m smtpdiag.datafiles"
    )


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("user unknown|no such user", ["user unknown", "no such user"]),
        ("user unknown|unknown user", None),  # the parser factors out the common "u"
        (r"\bspf\b|sender policy", ["spf", "sender policy"]),
        ("no such (user|mailbox)", ["no such "]),
        ("(?:a|b)c", None),
        ("x|[a-z]+", None),
    ],
)
def test_required_literals(pattern: str, expected: list[str] | None) -> None:
    assert datafiles.required_literals(pattern) == expected


def test_prefilter_never_hides_a_match() -> None:
    """Every corpus text that a rule's whole regex matches is matched by the branches its
    prefilter lets through, and every branch split keeps the regex's meaning."""
    import re

    from smtpdiag.classify import _rules

    from .test_classifier import CORPUS

    texts = [c["text"] for c in CORPUS]
    for rule in _rules().text:
        regex = re.compile(rule.source, re.IGNORECASE)
        assert "|".join(b for b, _ in rule.branches) == rule.source, rule.id
        for text in texts:
            if regex.search(text):
                assert rule.search(text, text.lower()) is not None, (rule.id, text)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("a|(b|c)|d", ["a", "(b|c)", "d"]),
        (r"[|x]|y\|z", ["[|x]", r"y\|z"]),
        ("(?:a|b)", ["(?:a|b)"]),
    ],
)
def test_split_branches(pattern: str, expected: list[str]) -> None:
    assert datafiles.split_branches(pattern) == expected


def test_non_ascii_words_of_two_characters_are_literals() -> None:
    assert datafiles.required_literals("容量超過|宛先不明") == ["容量超過", "宛先不明"]
    assert datafiles.required_literals("用户|满") is None
