"""The classifier over real reply and bounce texts from many MTAs and providers.

The corpus lives in fixtures/replies/*.toml (see its README for sources and labelling
rules). Every text must get its labelled reason, and nothing may raise.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from typing import Any

import pytest

from smtpdiag.core.classify import classify
from smtpdiag.core.explanation import explain
from smtpdiag.core.model import REASONS

from .conftest import FIXTURES


def load_corpus() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted((FIXTURES / "replies").glob("*.toml")):
        with path.open("rb") as fh:
            for entry in tomllib.load(fh)["reply"]:
                cases.append({**entry, "file": path.stem})
    return cases


CORPUS = load_corpus()


def test_corpus_is_large_and_varied() -> None:
    texts = [c["text"] for c in CORPUS]
    assert len(texts) >= 150
    assert len(set(texts)) == len(texts), "duplicate texts in the corpus"
    assert len({c["file"] for c in CORPUS}) >= 10
    assert all(c["reason"] in REASONS for c in CORPUS)
    assert len(Counter(c["reason"] for c in CORPUS)) >= 25


@pytest.mark.parametrize("case", CORPUS, ids=[f"{c['file']}-{i}" for i, c in enumerate(CORPUS)])
def test_reply_gets_its_reason(case: dict[str, Any]) -> None:
    got = explain(case["text"], stage=case.get("stage"))
    assert got.classification.reason == case["reason"], (
        f"{case['text'][:200]!r} -> {got.classification.reason} "
        f"({got.classification.evidence}), expected {case['reason']}"
    )


@pytest.mark.parametrize(
    ("code", "enhanced", "text", "stage", "reason"),
    [
        # specific text beats codes
        (
            550,
            "5.7.1",
            "Client host rejected: cannot find your reverse hostname",
            "rcpt",
            "ptr-required",
        ),
        (554, "5.7.1", "<x@example.org>: Relay access denied", "rcpt", "relay-denied"),
        (553, None, "Sender address rejected: not owned by user", "rcpt", "sender-rejected"),
        # the enhanced code beats the basic code
        (550, "5.2.2", "mailbox unavailable", None, "mailbox-full"),
        (550, "5.7.26", "go away", None, "auth-failed"),
        # the stage decides a generic refusal
        (550, "5.0.0", "Requested action not taken", "mail", "sender-rejected"),
        (554, None, "no", "banner", "client-blocked"),
        (550, None, "Requested action not taken", "rcpt", "mailbox-unknown"),
        (421, None, "closing", "banner", "server-error"),
        # positives
        (250, "2.1.5", "Ok", "rcpt", "accepted"),
        (None, None, "", None, "unknown"),
    ],
)
def test_precedence(
    code: int | None, enhanced: str | None, text: str, stage: str | None, reason: str
) -> None:
    assert classify(code, enhanced, text, stage).reason == reason


def test_replies_are_remembered_up_to_the_local_part_and_long_ones_not_at_all() -> None:
    from smtpdiag.core import diagnose
    from smtpdiag.core.reply import make_reply

    one = make_reply(550, "5.1.1 <alice@example.test>: Recipient address rejected: User unknown")
    two = make_reply(550, "5.1.1 <bob@example.test>: Recipient address rejected: User unknown")
    first = diagnose.annotate_reply(one, "rcpt")
    assert diagnose.annotate_reply(two, "rcpt") is first  # one annotation for the list
    assert first.classification.reason == "mailbox-unknown"
    # a hostile server's long replies are worked out each time, never kept
    before = (len(diagnose._CLASSIFIED), len(diagnose._ANNOTATIONS))
    for i in range(50):
        long = make_reply(550, f"5.1.1 user unknown {i}\n" + "\n".join(["x" * 900] * 3))
        assert diagnose.annotate_reply(long, "rcpt").classification.reason == "mailbox-unknown"
    assert (len(diagnose._CLASSIFIED), len(diagnose._ANNOTATIONS)) == before
