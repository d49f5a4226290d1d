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
    """Every corpus text that a rule's regex matches also passes that rule's prefilter."""
    import re

    from smtpdiag.classify import _rules

    from .test_classifier import CORPUS

    texts = [c["text"] for c in CORPUS]
    for rule in _rules().text:
        if rule.literals is None:
            continue
        regex = re.compile(rule.source, re.IGNORECASE)
        for text in texts:
            if regex.search(text):
                assert any(lit in text.lower() for lit in rule.literals), (rule.id, text)
