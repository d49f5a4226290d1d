"""`smtpdiag explain` and `smtpdiag compare`, in both languages, against golden outputs."""

from __future__ import annotations

import json
import os

import pytest

from smtpdiag.core.explanation import compare, explain
from smtpdiag.core.reply import extract_reply

from .conftest import FIXTURES, run_cli

GOLDEN = FIXTURES / "golden"


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SMTPDIAG_UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with SMTPDIAG_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8")


BOUNCE = (
    "host mx.example.com[192.0.2.9] said: 550 5.1.1 <bob@example.com>: Recipient address "
    "rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)"
)
GOLDEN_CASES = {
    "compare-221-550": ["compare", "221", "550"],
    "compare-450-5.7.1": ["compare", "450", "5.7.1"],
    "explain-550": ["explain", "550"],
    "explain-5.7.26": ["explain", "5.7.26"],
    "explain-bounce": ["explain", BOUNCE],
}


@pytest.mark.parametrize("lang", ["en", "th"])
@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_output(name: str, lang: str) -> None:
    result = run_cli([*GOLDEN_CASES[name], "--lang", lang, "--no-color"])
    assert result.exit_code == 0
    check_golden(f"{name}.{lang}.txt", result.output)


def test_compare_221_550_carries_the_reference_page() -> None:
    out = run_cli(["compare", "221", "550", "--no-color"]).output
    assert out.splitlines()[2] == "SMTP 221 Closing Connection vs 550 Mailbox Not Found"
    for text in (
        "2xx Positive Completion",
        "5xx Permanent Negative",
        "The server is closing the transmission channel.",
        "mailbox does not exist or the recipient address is rejected by policy",
        "After sending the QUIT command",
        "When sending to an email address that does not exist",
        "No fix needed",
        "SPF/DKIM/DMARC",
        "Key differences",
        "1. 221 is a 2xx Positive Completion response, while 550 is a 5xx",
        "Which applies when",
        "For 221 (Closing Connection):",
        "Learn more",
    ):
        assert text in out, text


def test_compare_in_thai_has_the_reference_headings() -> None:
    out = run_cli(["compare", "221", "550", "--lang", "th", "--no-color"]).output
    for heading in (
        "คำอธิบาย",
        "เมื่อคุณพบเห็น",
        "วิธีแก้ไข",
        "ความแตกต่างหลัก",
        "ควรใช้อันไหนเมื่อไร",
        "เรียนรู้เพิ่มเติม",
    ):
        assert heading in out.splitlines(), heading
    assert "Description" not in out


def test_smtpdiag_lang_environment_variable() -> None:
    from click.testing import CliRunner

    from smtpdiag.cli import main

    env = {"SMTPDIAG_LANG": "th", "LANG": "en_US.UTF-8"}
    out = CliRunner(env=env).invoke(main, ["explain", "550"]).output
    assert "คำอธิบาย" in out
    env = {"SMTPDIAG_LANG": "", "LC_ALL": "th_TH.UTF-8"}
    assert "คำอธิบาย" in CliRunner(env=env).invoke(main, ["explain", "550"]).output
    env = {"SMTPDIAG_LANG": "xx"}
    result = CliRunner(env=env).invoke(main, ["explain", "550"])
    assert result.exit_code == 2 and "SMTPDIAG_LANG" in result.output


def test_compare_json() -> None:
    doc = json.loads(run_cli(["compare", "221", "550", "--format", "json"]).output)
    assert doc["title"] == "SMTP 221 Closing Connection vs 550 Mailbox Not Found"
    assert [c["key"] for c in doc["codes"]] == ["221", "550"]
    assert doc["differences"][0].startswith("221 is a 2xx")
    assert len(doc["which_applies_when"]) == 2


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["compare", "221", "abc"], "not an SMTP code"), (["compare", "221", "299"], "not in the")],
)
def test_compare_refuses_bad_codes(args: list[str], fragment: str) -> None:
    result = run_cli(args)
    assert result.exit_code == 2
    assert fragment in result.output


@pytest.mark.parametrize("lang", ["en", "th"])
@pytest.mark.parametrize("code", ["550", "5.7.26", "4.2.0", "221", "5.1.10", "535"])
def test_explain_json_reason_of_bare_codes(code: str, lang: str) -> None:
    doc = json.loads(run_cli(["explain", "--format", "json", "--lang", lang, code]).output)
    expected = {
        "550": "mailbox-unknown",
        "5.7.26": "auth-failed",
        "4.2.0": "unknown",
        "221": "accepted",
        "5.1.10": "no-mail-accepted",
        "535": "auth-failed",
    }
    assert doc["reason"] == expected[code]
    assert doc["cards"] and doc["lang"] == lang


def test_explain_reads_a_bounce_from_stdin() -> None:
    doc = json.loads(run_cli(["explain", "--format", "json", "-"], input=BOUNCE).output)
    assert (doc["code"], doc["enhanced"], doc["stage"]) == (550, "5.1.1", "rcpt")
    assert doc["reason"] == "mailbox-unknown"


def test_explain_unquoted_words_are_one_text() -> None:
    doc = json.loads(
        run_cli(["explain", "--format", "json", "554", "5.7.1", "Relay", "access", "denied"]).output
    )
    assert doc["kind"] == "text" and doc["reason"] == "relay-denied"


def test_explain_several_codes_gives_json_lines() -> None:
    out = run_cli(["explain", "--format", "json", "550", "5.1.1"]).output
    assert [json.loads(line)["input"] for line in out.splitlines()] == ["550", "5.1.1"]


def test_stage_changes_the_reason() -> None:
    assert explain("550 5.0.0 rejected", stage="mail").classification.reason == "sender-rejected"
    assert explain("550 5.0.0 rejected", stage="rcpt").classification.reason != "sender-rejected"
    assert explain("554 5.0.0 go away", stage="banner").classification.reason == "client-blocked"


def test_every_registry_code_explains_in_both_languages() -> None:
    from smtpdiag.core import catalog

    for lang in ("en", "th"):
        for key in catalog.load("en").enhanced_keys():
            for klass in "245":
                e = explain(klass + key[1:], lang=lang)
                assert e.known and e.cards[0].description, (lang, klass + key[1:])
        for code in catalog.load("en").basic_codes():
            assert explain(str(code), lang=lang).known


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "\x00\x01\x02",
        "550",
        "5",
        "999 9.9.9",
        "550-" * 5000,
        "\u202e\u0000\ud800x",
        "a" * 200_000,
        "(in reply to RCPT TO command)",
        "250-\n250-\n250",
    ],
)
def test_explain_never_raises(garbage: str) -> None:
    e = explain(garbage)
    assert e.classification.reason


def test_extract_reply_from_exchange_ndr() -> None:
    got = extract_reply(
        "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not "
        "found by SMTP address lookup'"
    )
    assert (got.code, got.enhanced) == (550, "5.1.10")
    assert got.text.endswith("address lookup")


def test_extract_multiline_reply() -> None:
    got = extract_reply("550-5.1.1 line one\n550-5.1.1 line two\n550 5.1.1 line three")
    assert got.code == 550
    assert got.text == "5.1.1 line one 5.1.1 line two 5.1.1 line three"


def test_compare_same_class() -> None:
    result = compare("550", "553")
    assert result is not None
    assert result.differences[0].startswith("Both 550 and 553")
