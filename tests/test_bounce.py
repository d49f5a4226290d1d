"""Whole bounce messages: the corpus in fixtures/bounces/ (real DSNs from the lab's own
Postfix, Exim and other MTAs, and messages following the templates of MTAs and providers
that cannot run here), and the parser's handling of every kind of message."""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from smtpdiag.core.bounce import (
    clean_address,
    decode_bytes,
    html_to_text,
    parse_auth_results,
    parse_dsn_fields,
    parse_message,
)
from smtpdiag.core.explanation import explain_message
from smtpdiag.core.model import REASONS

from .conftest import FIXTURES, run_cli

BOUNCES = FIXTURES / "bounces"


def load_corpus() -> list[dict[str, Any]]:
    cases = []
    for expected in sorted(BOUNCES.glob("**/expected.toml")):
        with expected.open("rb") as fh:
            for entry in tomllib.load(fh)["bounce"]:
                cases.append({**entry, "path": expected.parent / entry["file"]})
    return cases


CORPUS = load_corpus()


def case_id(case: dict[str, Any]) -> str:
    path: Path = case["path"]
    return str(path.relative_to(BOUNCES))


def test_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 60
    assert len({c["family"] for c in CORPUS}) >= 12
    assert len({c["charset"].lower() for c in CORPUS}) >= 5
    kinds = {c.get("kind", "bounce") for c in CORPUS}
    assert {"bounce", "delay", "auto-reply", "feedback-report"} <= kinds
    for case in CORPUS:
        assert case["path"].is_file(), case["path"]
        for rcpt in case.get("recipient", []):
            assert rcpt["reason"] in REASONS, (case_id(case), rcpt)


@pytest.mark.parametrize("case", CORPUS, ids=case_id)
def test_bounce_gets_its_recipients_and_reasons(case: dict[str, Any]) -> None:
    result = explain_message(case["path"].read_bytes())
    assert result.bounce.kind == case.get("kind", "bounce")
    # a recipient may be labelled by the address it was sent to, before an alias expanded it
    found = result.by_address()
    for rcpt in case.get("recipient", []):
        mine = found.get(rcpt["address"].lower())
        assert mine is not None, f"{rcpt['address']} not found; found {sorted(found)}"
        assert mine.classification.reason == rcpt["reason"], (
            f"{rcpt['address']}: {mine.classification.reason} "
            f"({mine.classification.evidence}), expected {rcpt['reason']}"
        )
        if "status" in rcpt:  # the DSN's Status, or the enhanced code of the reply
            assert rcpt["status"] in (mine.recipient.status, mine.enhanced)


# -- the parser, piece by piece ------------------------------------------------------------

POSTFIX_DSN = b"""\
Return-Path: <>
From: MAILER-DAEMON@mail.example.org (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: alice@example.org
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

                   The mail system

<bob@example.net>: host mx.example.net[192.0.2.1] said: 550 5.1.1
    <bob@example.net>: Recipient address rejected: User unknown in virtual
    mailbox table (in reply to RCPT TO command)

<carol@example.net>: host mx.example.net[192.0.2.1] said: 550 5.7.1 Message
    rejected (in reply to end of DATA command)

--B1
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.org
Arrival-Date: Tue,  1 Dec 2026 09:59:58 +0000 (UTC)

Final-Recipient: rfc822; bob@example.net
Original-Recipient: rfc822;Bob@Example.NET
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.net
Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected:
    User unknown in virtual mailbox table

Final-Recipient: rfc822; carol@example.net
Action: failed
Status: 5.7.1
Remote-MTA: dns; mx.example.net
Diagnostic-Code: smtp; 550 5.7.1 Message rejected

--B1
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: Alice <alice@example.org>
To: bob@example.net, carol@example.net
Subject: Quarterly report
Date: Tue, 1 Dec 2026 09:59:00 +0000
Message-ID: <q4@example.org>
Authentication-Results: mx.example.net; spf=fail smtp.mailfrom=example.org;
 dkim=none; dmarc=fail (p=reject) header.from=example.org

--B1--
"""


def test_dsn_fields_per_recipient() -> None:
    parsed = parse_message(POSTFIX_DSN)
    assert parsed.kind == "bounce"
    assert parsed.reporting_mta == "mail.example.org"
    assert parsed.arrival_date == "Tue,  1 Dec 2026 09:59:58 +0000 (UTC)"
    bob, carol = parsed.recipients
    assert bob.address == "bob@example.net"
    assert bob.original_recipient == "Bob@Example.NET"
    assert (bob.action, bob.status, bob.remote_mta) == ("failed", "5.1.1", "mx.example.net")
    # unfolded, "smtp;" stripped
    assert bob.diagnostic == (
        "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in virtual "
        "mailbox table"
    )
    assert bob.diagnostic_type == "smtp"
    # the human part's paragraph about each recipient
    assert "in reply to RCPT TO command" in bob.text
    assert "end of DATA" in carol.text and "bob@" not in carol.text


def test_returned_headers_and_the_receivers_own_verdict() -> None:
    result = explain_message(POSTFIX_DSN)
    original = result.bounce.original
    assert original is not None
    assert original.subject == "Quarterly report"
    assert original.message_id == "<q4@example.org>"
    assert original.source == "text/rfc822-headers"
    verdicts = {(v.method, v.result) for v in result.auth_failures}
    assert verdicts == {("spf", "fail"), ("dmarc", "fail")}
    bob, carol = result.recipients
    assert bob.classification.reason == "mailbox-unknown"
    assert bob.auth == ()  # an unknown user is not explained by SPF
    assert carol.classification.reason == "policy"
    assert {v.method for v in carol.auth} == {"spf", "dmarc"}  # tied to the rejection
    assert carol.stage == "data"


def test_text_and_json_output_of_a_message() -> None:
    result = run_cli(["explain", "--message", "-", "--format", "json"], input=POSTFIX_DSN.decode())
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert doc["kind"] == "bounce"
    assert doc["reason"] == "mailbox-unknown"  # the first failed recipient's
    assert doc["reporting_mta"] == "mail.example.org"
    assert doc["original"]["subject"] == "Quarterly report"
    first = doc["recipients"][0]
    for key in (
        "address", "original_recipient", "action", "status", "remote_mta", "diagnostic",
        "code", "enhanced", "stage", "reason", "confidence", "evidence", "cards",
    ):  # fmt: skip
        assert key in first, key
    assert (first["code"], first["enhanced"], first["stage"]) == (550, "5.1.1", "rcpt")
    assert {c["key"] for c in first["cards"]} == {"550", "5.1.1"}
    text = run_cli(["explain", "-"], input=POSTFIX_DSN.decode()).output
    assert "1. bob@example.net  (failed, 5.1.1)" in text
    assert "2. carol@example.net" in text
    assert "The receiver's own checks failed: spf=fail" in text


def test_explain_reads_an_existing_file_as_a_message(tmp_path: Path) -> None:
    path = tmp_path / "bounce.eml"
    path.write_bytes(POSTFIX_DSN)
    doc = json.loads(run_cli(["explain", str(path), "--format", "json"]).output)
    assert doc["input"] == "message" and len(doc["recipients"]) == 2


def test_thai_headings_for_a_message() -> None:
    out = run_cli(["explain", "--lang", "th", "-"], input=POSTFIX_DSN.decode()).output
    assert "ผู้รับ 2 ราย:" in out
    assert "ข้อความวินิจฉัย" in out


def test_missing_or_unreadable_input_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run_cli(["explain", "--message", str(tmp_path / "nope.eml")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "no such file" in result.output
    result = run_cli(["explain", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.output
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    result = run_cli(["explain", "--message", str(empty)])
    assert result.exit_code == 2 and "empty" in result.output


def test_mime_is_left_to_the_email_package() -> None:
    # the delivery-status part base64-encoded (seen from some gateways): still read
    import base64

    body = base64.b64encode(
        b"Reporting-MTA: dns; gw.example\r\n\r\nFinal-Recipient: rfc822; x@example.net\r\n"
        b"Action: failed\r\nStatus: 5.2.2\r\nDiagnostic-Code: smtp; 552 5.2.2 Over quota\r\n"
    ).decode()
    msg = (
        "From: MAILER-DAEMON@gw.example\nSubject: failure\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="z"\n\n'
        "--z\nContent-Type: text/plain\n\nDelivery failed.\n"
        "--z\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
        f"{body}\n--z--\n"
    )
    (rcpt,) = explain_message(msg.encode()).recipients
    assert (rcpt.recipient.address, rcpt.classification.reason) == ("x@example.net", "mailbox-full")


def test_dsn_fields_without_blank_lines_between_recipients() -> None:
    blocks = parse_dsn_fields(
        "Reporting-MTA: dns; a.example\n\nFinal-Recipient: rfc822; a@x.example\nAction: failed\n"
        "Status: 5.1.1\nFinal-Recipient: rfc822; b@x.example\nAction: delayed\nStatus: 4.4.1\n"
        "Diagnostic-Code: smtp; 451 4.4.1 no answer\n   from host\n"
    )
    assert len(blocks) == 3
    assert ("Diagnostic-Code", "smtp; 451 4.4.1 no answer from host") in blocks[2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("rfc822; <Bob@Example.net>", "Bob@Example.net"),
        ("RFC822;bob@example.net", "bob@example.net"),
        ("'Bob Smith' <bob@example.net>", "bob@example.net"),
        ("utf-8; 用户@例子.广告", "用户@例子.广告"),
    ],
)
def test_clean_address(value: str, expected: str) -> None:
    assert clean_address(value) == expected


def test_auth_results_parsing() -> None:
    verdicts = parse_auth_results(
        "mx.google.com; dkim=fail header.i=@example.org header.s=s1; "
        "spf=softfail (google.com: domain of transitioning x@example.org) "
        "smtp.mailfrom=x@example.org; dmarc=fail (p=REJECT sp=REJECT dis=REJECT) "
        "header.from=example.org"
    )
    assert [(v.method, v.result) for v in verdicts] == [
        ("dkim", "fail"),
        ("spf", "softfail"),
        ("dmarc", "fail"),
    ]
    assert all(v.authserv_id == "mx.google.com" for v in verdicts)


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("宛先不明".encode("iso2022_jp"), "ISO-2022-JP", "宛先不明"),
        ("①宛先".encode("cp932"), "Shift_JIS", "①宛先"),  # a CP932 extension
        ("用户不存在".encode("gbk"), "gb2312", "用户不存在"),  # GBK beyond GB2312
        ("не существует".encode("koi8_r"), "koi8-r", "не существует"),
        ("€ 5".encode("cp1252"), "iso-8859-1", "€ 5"),  # cp1252 labelled as Latin-1
        (b"ok", "x-no-such-charset", "ok"),
    ],
)
def test_charsets_real_mail_uses(data: bytes, charset: str, expected: str) -> None:
    assert decode_bytes(data, charset) == expected


def test_html_only_ndr_is_read_as_text() -> None:
    text = html_to_text(
        "<html><head><style>p{color:red}</style><script>x()</script></head><body>"
        "<p>Your message to <b>bob@example.net</b> couldn't be delivered.</p>"
        "<table><tr><td>Remote Server returned</td><td>'550 5.1.10 RESOLVER.ADR."
        "RecipientNotFound; Recipient not found by SMTP address lookup'</td></tr></table>"
        "</body></html>"
    )
    assert "x()" not in text and "color" not in text
    assert "Your message to bob@example.net couldn't be delivered." in text
    assert "RecipientNotFound" in text


def test_a_forwarded_bounce_is_found_inside_the_forward() -> None:
    forward = (
        b"From: Customer <cust@example.com>\nTo: support@example.org\nSubject: Fwd: bounce\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="f"\n\n'
        b"--f\nContent-Type: text/plain\n\nCan you look at this? Thanks\n"
        b"--f\nContent-Type: message/rfc822\n\n" + POSTFIX_DSN + b"\n--f--\n"
    )
    result = explain_message(forward)
    assert result.bounce.forwarded
    assert [r.recipient.address for r in result.recipients] == [
        "bob@example.net",
        "carol@example.net",
    ]


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (
            b"From: bob@example.net\nTo: alice@example.org\nSubject: Out of Office: Quarterly\n"
            b"Auto-Submitted: auto-replied\n\nI am away until Monday.\n",
            "auto-reply",
        ),
        (
            b"From: alice@example.org\nTo: bob@example.net\nSubject: lunch?\n\nNoon at the usual"
            b" place? Write to carol@example.com if you cannot come.\n",
            "not-a-bounce",
        ),
        (bytes(range(256)) * 40, "not-a-bounce"),
        (b"\x00\x00\x00", "not-a-bounce"),
    ],
)
def test_what_is_not_a_bounce_says_so(message: bytes, kind: str) -> None:
    result = explain_message(message)
    assert result.bounce.kind == kind
    assert result.recipients == ()
    assert result.reason is None


def test_a_huge_input_is_cut_and_said_so(tmp_path: Path) -> None:
    path = tmp_path / "huge.eml"
    with path.open("wb") as fh:
        fh.write(POSTFIX_DSN.replace(b"--B1--", b"--B1\nContent-Type: text/plain\n\n"))
        chunk = b"A" * 76 + b"\n"
        for _ in range(50_000_000 // len(chunk)):
            fh.write(chunk)
    started = time.monotonic()
    result = run_cli(["explain", "--message", str(path), "--format", "json"])
    elapsed = time.monotonic() - started
    doc = json.loads(result.output)
    assert result.exit_code == 0
    assert len(doc["recipients"]) == 2
    assert any("were read" in note for note in doc["notes"])
    assert elapsed < 20


def test_ses_notification_json() -> None:
    notification = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "reportingMTA": "dns; a1.smtp-out.amazonses.com",
            "bouncedRecipients": [
                {
                    "emailAddress": "gone@example.net",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
        },
    }
    msg = (
        "From: no-reply@sns.amazonaws.com\nSubject: AWS Notification Message\n"
        "Content-Type: text/plain; charset=UTF-8\n\n" + json.dumps(notification) + "\n--\nbye\n"
    )
    result = explain_message(msg.encode())
    assert result.bounce.kind == "bounce"
    (rcpt,) = result.recipients
    assert (rcpt.recipient.address, rcpt.classification.reason) == (
        "gone@example.net",
        "mailbox-unknown",
    )


def test_expired_after_retries_keeps_the_cause() -> None:
    def gave_up(diagnostic: bytes) -> Any:
        msg = (
            b"From: MAILER-DAEMON@mail.example.org\nSubject: Undelivered Mail Returned to Sender"
            b"\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;"
            b' boundary="B"\n\n--B\nContent-Type: text/plain\n\nThe mail system\n\n'
            b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mail.example.org"
            b"\n\nFinal-Recipient: rfc822; bob@example.net\nAction: failed\nStatus: 4.0.0\n"
            b"Diagnostic-Code: X-Postfix; " + diagnostic + b"\n\n--B--\n"
        )
        return explain_message(msg).recipients[0]

    # gave up after retrying: the cause to fix is what the attempts said ...
    bob = gave_up(b"connect to mx.example.net[192.0.2.1]:25: Connection refused")
    assert bob.expired and bob.classification.reason == "network"
    # ... and when they say nothing more, that delivery gave up
    bob = gave_up(b"delivery temporarily suspended")
    assert bob.expired and bob.classification.reason == "timeout"


def test_title_follows_the_classification() -> None:
    # a 550 that the enhanced code and text say is an SPF failure is not "Mailbox Not Found"
    doc = json.loads(
        run_cli(
            ["explain", "--format", "json", "--", "550 5.7.23 SPF validation failed for x.example"]
        ).output
    )
    assert doc["reason"] == "auth-failed"
    from smtpdiag.core.classify import classify, describe

    cls = classify(550, "5.7.23", "5.7.23 SPF validation failed", "mail")
    assert describe(550, "5.7.23", cls, "en")[0] == "5.7.23 SPF Validation Failed"
    assert describe(550, "5.7.23", cls, "th")[0].startswith("5.7.23")
    cls = classify(550, "5.7.1", "5.7.1 No such user!", "rcpt")
    assert describe(550, "5.7.1", cls, "en")[0] == "Mailbox Not Found"  # not 5.7.1's title


HEAD = b"From: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail Returned to Sender\n\n"


@pytest.mark.parametrize(
    "body",
    [
        b"a." * 100_000,  # a host name that never ends
        b"a@" * 100_000,  # addresses that never end
        b"<x@y.example>: 550 5.1.1 user unknown\n" * 20_000,
        b"x" * 3_000_000,  # one 3 MB line
        b" \t" * 500_000,
        b"<div>" * 200_000,
        b"550 5.1.1 " + b"account user " * 20_000,
    ],
    ids=["dots", "ats", "repeats", "long-line", "blanks", "html", "words"],
)
def test_hostile_bodies_end_quickly(body: bytes) -> None:
    started = time.monotonic()
    result = explain_message(HEAD + body)
    assert time.monotonic() - started < 10
    assert len(result.recipients) <= 1


def test_pasted_text_that_never_ends_is_bounded() -> None:
    from smtpdiag.core.explanation import explain

    for text in ("550 " + "a." * 20_000, "550 " + "a@b." * 20_000, "550 " + " " * 100_000):
        started = time.monotonic()
        explain(text)
        assert time.monotonic() - started < 5
