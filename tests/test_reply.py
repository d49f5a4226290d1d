"""Reply parsing is pure and never raises on server data."""

from __future__ import annotations

import pytest

from smtpdiag.core.model import Reply
from smtpdiag.core.reply import find_enhanced, make_reply, parse_extensions, parse_wire


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5.1.1 <bob@example.com>: Recipient address rejected", "5.1.1"),
        ("4.2.0 greylisted", "4.2.0"),
        ("2.0.0 Ok", "2.0.0"),
        ("5.7.26 Unauthenticated email", "5.7.26"),
        ("  5.7.1 leading spaces", "5.7.1"),
        ("5.001.002 zero padded", "5.1.2"),
        ("Ok", None),
        ("3.1.1 not a valid class", None),
        ("5.1 two parts only", None),
        ("5.1.1000 detail too long", None),
        ("", None),
        ("5.1.1", "5.1.1"),
    ],
)
def test_find_enhanced(text: str, expected: str | None) -> None:
    assert find_enhanced(text) == expected


def test_make_reply_splits_lines_and_finds_enhanced_code() -> None:
    reply = make_reply(550, "5.7.1 first line\n5.7.1 second line")
    assert reply == Reply(550, "5.7.1", ("5.7.1 first line", "5.7.1 second line"))
    assert reply.text == "5.7.1 first line 5.7.1 second line"
    assert reply.is_permanent and not reply.is_transient and not reply.is_positive


def test_make_reply_bounds_huge_replies() -> None:
    reply = make_reply(250, "\n".join(["x" * 5000] * 3000))
    assert len(reply.lines) == 1001
    assert all(len(line) <= 2000 for line in reply.lines)
    assert reply.lines[-1].startswith("[... 2000 more lines")


def test_parse_wire_multiline() -> None:
    reply = parse_wire("250-mx.example.com\r\n250-PIPELINING\r\n250 SIZE 1000\r\n")
    assert reply is not None
    assert reply.code == 250
    assert reply.lines == ("mx.example.com", "PIPELINING", "SIZE 1000")


@pytest.mark.parametrize("garbage", ["", "hello", "\x00\x01", "99", "abc def\n"])
def test_parse_wire_garbage_is_none(garbage: str) -> None:
    assert parse_wire(garbage) is None


def test_parse_extensions() -> None:
    reply = make_reply(
        250,
        "mx.example.com Hello\nPIPELINING\nSIZE 35882577\nSTARTTLS\nAUTH=LOGIN PLAIN\n"
        "auth login plain\n8BITMIME\n!bad keyword\nSMTPUTF8\nCHUNKING\nENHANCEDSTATUSCODES",
    )
    ext = dict(parse_extensions(reply))
    assert list(ext) == [
        "PIPELINING",
        "SIZE",
        "STARTTLS",
        "AUTH",
        "8BITMIME",
        "SMTPUTF8",
        "CHUNKING",
        "ENHANCEDSTATUSCODES",
    ]
    assert ext["SIZE"] == "35882577"
    assert ext["AUTH"] == "LOGIN PLAIN"
