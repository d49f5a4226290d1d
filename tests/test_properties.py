"""Property-based tests (hypothesis): the parsers and the classifier accept any input and
only ever produce their documented outcomes. A fixed, quick budget keeps CI fast."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpdiag.auth.dkim import parse_key
from smtpdiag.auth.dmarc import parse_record as parse_dmarc
from smtpdiag.auth.spf import SpfError, parse_record
from smtpdiag.core.addresses import parse_address
from smtpdiag.core.classify import classify
from smtpdiag.core.errors import AddressError
from smtpdiag.core.explanation import explain
from smtpdiag.core.model import REASONS, STAGES
from smtpdiag.core.reply import extract_reply, make_reply, parse_extensions, parse_wire
from smtpdiag.render.text import escape, plain

QUICK = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SMTPISH = st.text(
    alphabet=st.sampled_from([*"0123456789 -.<>@:;[]\r\n\t\x00\x1babcXYZ%=/+~?", "é", "ก"]),
    max_size=200,
)
ANY = st.one_of(st.text(max_size=300), SMTPISH)


@QUICK
@given(code=st.integers(min_value=-5, max_value=1000), message=ANY)
def test_make_reply_never_raises(code: int, message: str) -> None:
    reply = make_reply(code, message)
    assert reply.code == code
    assert 1 <= len(reply.lines) <= 1001
    if reply.enhanced is not None:
        assert reply.enhanced[0] == str(code)[:1]
    parse_extensions(reply)


@QUICK
@given(ANY)
def test_wire_and_bounce_parsers_never_raise(text: str) -> None:
    parse_wire(text)
    got = extract_reply(text)
    assert got.code is None or 200 <= got.code <= 559
    assert got.stage is None or got.stage in STAGES


@QUICK
@given(ANY)
def test_address_parser_only_raises_address_error(text: str) -> None:
    try:
        addr = parse_address(text)
    except AddressError as exc:
        assert "\n" not in str(exc) and "\r" not in str(exc)
        return
    # whatever is accepted can never break an SMTP command line
    assert not any(c in addr.ascii for c in "\r\n\x00<>")
    assert len(addr.local.encode()) <= 64


@QUICK
@given(
    code=st.one_of(st.none(), st.integers(min_value=0, max_value=999)),
    enhanced=st.one_of(st.none(), st.from_regex(r"\A[245]\.\d{1,3}\.\d{1,3}\Z")),
    text=ANY,
    stage=st.one_of(st.none(), st.sampled_from(STAGES)),
)
def test_classifier_gives_a_documented_reason(
    code: int | None, enhanced: str | None, text: str, stage: str | None
) -> None:
    result = classify(code, enhanced, text, stage)
    assert result.reason in REASONS
    assert result.confidence in ("high", "medium", "low")


@QUICK
@given(ANY)
def test_explain_any_text(text: str) -> None:
    assert explain(text).classification.reason in REASONS


@QUICK
@given(st.text(max_size=200))
def test_spf_record_parser_only_raises_spf_errors(body: str) -> None:
    try:
        parse_record("v=spf1 " + body)
    except SpfError as exc:
        assert exc.result == "permerror"


@QUICK
@given(st.text(max_size=200))
def test_dmarc_and_dkim_parsers_never_raise(text: str) -> None:
    record = parse_dmarc(text)
    # every tag it kept is a name=value pair of the text, and a record that is not
    # "v=DMARC1" first is always reported as a problem
    for name, value in record.tags.items():
        assert name and name == name.strip() and f"{name}" in text.lower()
        assert value.strip() in text or not value.strip()
    if not text.strip().lower().startswith("v=dmarc1"):
        assert record.problems
    key = parse_key("s", "s._domainkey.example.test", text)
    assert key.key_type in (None, "rsa", "ed25519")
    if key.key_type is None:
        assert key.problems or not key.found


@QUICK
@given(st.text(max_size=300))
def test_escape_leaves_no_control_characters(text: str) -> None:
    shown = escape(plain(text, "x"))
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)


MIMEISH = st.lists(
    st.sampled_from(
        [
            "From: MAILER-DAEMON@mx.example\n",
            "Subject: Undelivered Mail Returned to Sender\n",
            "MIME-Version: 1.0\n",
            'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n',
            "Content-Type: message/delivery-status\n",
            "Content-Type: message/rfc822\n",
            "Content-Type: text/html; charset=iso-2022-jp\n",
            "Content-Transfer-Encoding: base64\n",
            "Content-Transfer-Encoding: quoted-printable\n",
            "\n",
            "--b\n",
            "--b--\n",
            "Final-Recipient: rfc822; a@b.example\n",
            "Action: failed\nStatus: 5.1.1\n",
            "Diagnostic-Code: smtp; 550 5.1.1 no\n",
            "<a@b.example>: host x said: 550 5.1.1 unknown (in reply to RCPT TO command)\n",
            "=?utf-8?b?w6k=?= =C3=A9 \x1b$B$3\x1b(B <script> &amp; \x00\xff\n",
        ]
    ),
    max_size=40,
)


@QUICK
@given(st.one_of(MIMEISH.map("".join), ANY))
def test_message_explainer_never_raises(text: str) -> None:
    from smtpdiag.core.bounce import KINDS
    from smtpdiag.core.explanation import explain_message

    result = explain_message(text.encode("utf-8", "surrogateescape"))
    assert result.bounce.kind in KINDS
    for r in result.recipients:
        assert r.classification.reason in REASONS
