"""The public API (``import smtpdiag``): everything in ``__all__`` resolves, options are
validated before any I/O, and every library failure is a ``SmtpdiagError``."""

from __future__ import annotations

import asyncio
import time

import pytest

import smtpdiag
from smtpdiag.auth.spf import parse_record


def test_everything_in_all_resolves() -> None:
    for name in smtpdiag.__all__:
        assert getattr(smtpdiag, name) is not None, name
    for name in ("probe", "probe_many", "explain", "explain_message", "compare", "check_auth"):
        assert callable(getattr(smtpdiag, name)), name


def test_explain_is_the_function_even_after_its_module_is_imported() -> None:
    import smtpdiag.core.explanation

    assert smtpdiag.explain("550 5.1.1 no such user").classification.reason == "mailbox-unknown"


BAD_OPTIONS = [
    ({"lang": "xx"}, "lang"),
    ({"bogus": 1}, "bogus"),
    ({"port": 0}, "port"),
    ({"timeout": 0}, "timeout"),
    ({"starttls": "sometimes"}, "starttls"),
    ({"helo": "a b"}, "helo"),
    ({"mail_from": "no-at-sign"}, "mail_from"),
    ({"source_address": "x"}, "source_address"),
    ({"max_per_host": 0}, "max_per_host"),
    ({"resolvers": ("not-an-ip",)}, "resolvers"),
    ({"families": ()}, "families"),
]


@pytest.mark.parametrize(("fields", "option"), BAD_OPTIONS, ids=[o for _, o in BAD_OPTIONS])
def test_bad_options_are_refused_before_any_io(fields: dict[str, object], option: str) -> None:
    # a resolver nobody answers: if any query were sent, this would take the DNS timeout
    started = time.monotonic()
    with pytest.raises(smtpdiag.UsageError) as info:
        asyncio.run(
            smtpdiag.probe(
                "user@example.test",
                **{"resolvers": ("127.0.0.1:9",), "dns_timeout": 3.0, **fields},  # type: ignore[arg-type]
            )
        )
    assert time.monotonic() - started < 1.0
    assert info.value.option == option
    assert "--" not in str(info.value), "library messages name fields, not CLI flags"


def test_probe_many_validates_too() -> None:
    with pytest.raises(smtpdiag.UsageError):
        asyncio.run(smtpdiag.probe_many(["a@example.test"], lang="xx"))
    with pytest.raises(smtpdiag.UsageError):
        asyncio.run(smtpdiag.probe_many(["a@example.test"], concurrency=0))


def test_library_failures_are_smtpdiag_errors() -> None:
    with pytest.raises(smtpdiag.SmtpdiagError) as info:
        parse_record("v=spf1 foo:bar")
    assert isinstance(info.value, smtpdiag.RecordError) and info.value.result == "permerror"
    with pytest.raises(smtpdiag.AddressError):
        asyncio.run(smtpdiag.probe("not an address"))
    with pytest.raises(smtpdiag.UsageError) as auth:
        asyncio.run(smtpdiag.check_auth("example.test", ip="nope"))
    assert auth.value.option == "ip"


def test_explain_message_and_compare() -> None:
    dsn = (
        b"From: MAILER-DAEMON@mx.example.net\nTo: a@example.org\nSubject: Undelivered\n"
        b"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;"
        b' boundary="B"\n\n--B\nContent-Type: text/plain\n\nfailed\n\n--B\n'
        b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        b"Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.2.2\n"
        b"Diagnostic-Code: smtp; 552 5.2.2 mailbox full\n\n--B--\n"
    )
    result = smtpdiag.explain_message(dsn)
    assert [(r.recipient.address, r.classification.reason) for r in result.recipients] == [
        ("bob@example.com", "mailbox-full")
    ]
    comparison = smtpdiag.compare("550", "5.1.1")
    assert comparison is not None
