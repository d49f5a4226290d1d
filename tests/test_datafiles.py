"""The data files: TOML is the only source; the parsed form is cached by content hash."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from smtpdiag.core import datafiles

SOURCES = datafiles.sources()


def test_there_are_data_files_and_no_twins() -> None:
    names = {p.name for p in SOURCES}
    assert {"en.toml", "rules.toml", "summaries.toml"} <= names
    for package in datafiles.PACKAGES:
        root = Path(str(__import__("importlib").resources.files(package)))
        assert not list(root.glob("*.json")), "data is TOML only: no generated twins in git"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_data_file_loads_the_same_from_the_cache(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tomllib

    monkeypatch.setenv("SMTPDIAG_CACHE_DIR", str(tmp_path))
    package = f"smtpdiag.core.{source.parent.name}"
    first = datafiles.load(package, source.stem)  # parses, writes the cache
    assert list(tmp_path.glob(f"{package}.{source.stem}-*.marshal"))
    again = datafiles.load(package, source.stem)  # from the cache
    assert first == again == tomllib.loads(source.read_text(encoding="utf-8"))


def test_the_cache_is_keyed_by_content_not_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale cache entry can never be read: another content has another name."""
    monkeypatch.setenv("SMTPDIAG_CACHE_DIR", str(tmp_path / "cache"))
    a = datafiles._cached("x", b"one", lambda: {"v": 1})
    b = datafiles._cached("x", b"two", lambda: {"v": 2})
    assert (a, b) == ({"v": 1}, {"v": 2})
    (entry,) = (tmp_path / "cache").glob("x-*.marshal")  # the older one was pruned
    os.utime(entry, (0, 0))  # an old mtime changes nothing
    assert datafiles._cached("x", b"two", lambda: {"v": "rebuilt"}) == {"v": 2}


def test_an_unwritable_or_corrupt_cache_only_costs_the_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SMTPDIAG_CACHE_DIR", str(blocker / "sub"))
    assert datafiles._cached("y", b"k", lambda: [1, 2]) == [1, 2]
    monkeypatch.setenv("SMTPDIAG_CACHE_DIR", str(tmp_path))
    datafiles._cached("z", b"k", lambda: [3])
    (entry,) = tmp_path.glob("z-*.marshal")
    entry.write_bytes(b"\xff\x00garbage")
    assert datafiles._cached("z", b"k", lambda: [4]) == [4]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("user unknown|no such user", ["user unknown", "no such user"]),
        ("user unknown|unknown user", ["user unknown", "unknown user"]),
        (r"\bspf\b|sender policy", ["spf", "sender policy"]),
        ("no such (user|mailbox)", ["no such "]),
        ("mailbox(es)? full", ["mailbox"]),
        ("rate ?limit", ["limit"]),
        (r"over\s+quota", ["quota"]),
        ("abc{2}de", ["abc"]),
        ("x{0,2}yzw", ["yzw"]),
        (r"\(#5\.1", ["(#5.1"]),
        ("送信者", ["送信者"]),
        ("(?:a|b)c", None),
        ("x|[a-z]+", None),
        ("[|x]ab", None),
    ],
)
def test_required_literals(pattern: str, expected: list[str] | None) -> None:
    assert datafiles.required_literals(pattern) == expected


def test_required_literals_never_claim_too_much() -> None:
    """Every text a branch matches contains one of the branch's literals (checked on the
    corpus, for every rule and provider pattern)."""
    from smtpdiag.core.classify import _rules

    from .test_classifier import CORPUS

    texts = [c["text"] for c in CORPUS]
    for rule in _rules().text:
        for branch, literals in rule.branches:
            if not literals:
                continue
            regex = re.compile(branch, re.IGNORECASE)
            for text in texts:
                if regex.search(text):
                    low = text.lower()
                    assert any(lit in low for lit in literals), (rule.id, branch, text)


def test_prefilter_never_hides_a_match() -> None:
    """Every corpus text that a rule's whole regex matches is matched by the branches its
    prefilter lets through, and every branch split keeps the regex's meaning."""
    from smtpdiag.core.classify import _rules

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
