"""Address validation: what is refused before anything is sent, and IDN conversion."""

from __future__ import annotations

import pytest

from smtpdiag.core.addresses import parse_address, parse_host_port
from smtpdiag.core.errors import AddressError


@pytest.mark.parametrize(
    ("text", "local", "domain", "unicode_domain"),
    [
        ("user@example.com", "user", "example.com", "example.com"),
        ("User.Name+tag@Example.COM", "User.Name+tag", "example.com", "example.com"),
        ("user@example.com.", "user", "example.com", "example.com"),
        ("fay@bücher.example", "fay", "xn--bcher-kva.example", "bücher.example"),
        ("x@xn--bcher-kva.example", "x", "xn--bcher-kva.example", "bücher.example"),
        (
            "δοκιμή@παράδειγμα.δοκιμή",
            "δοκιμή",
            "xn--hxajbheg2az3al.xn--jxalpdlp",
            "παράδειγμα.δοκιμή",
        ),
        ('"john doe"@example.com', '"john doe"', "example.com", "example.com"),
        ('"a\\"b"@example.com', '"a\\"b"', "example.com", "example.com"),
        ('"x\\\\y"@example.com', '"x\\\\y"', "example.com", "example.com"),
        ("user@[192.0.2.1]", "user", "[192.0.2.1]", "[192.0.2.1]"),
        ("user@[IPv6:2001:db8::1]", "user", "[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]"),
        ("a" * 64 + "@example.com", "a" * 64, "example.com", "example.com"),
    ],
)
def test_valid_addresses(text: str, local: str, domain: str, unicode_domain: str) -> None:
    addr = parse_address(text)
    assert (addr.local, addr.domain, addr.domain_unicode) == (local, domain, unicode_domain)


def test_ip_literal_gives_bare_ip() -> None:
    assert parse_address("u@[IPv6:2001:DB8:0::1]").ip_literal == "2001:db8::1"
    assert parse_address("u@[127.0.0.1]").ip_literal == "127.0.0.1"


def test_non_ascii_local_part_needs_smtputf8() -> None:
    assert parse_address("δοκιμή@example.com").needs_smtputf8
    assert not parse_address("user@example.com").needs_smtputf8


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("userexample.com", "no '@'"),
        ("@example.com", "nothing before"),
        ("user@", "nothing after"),
        ("user@example.com\r\nDATA", "CR"),
        ("user@example.com\nRCPT TO:<x@y>", "LF"),
        ("user\x00@example.com", "NUL"),
        ("<user@example.com>", "'<'"),
        ("user>@example.com", "'>'"),
        ("us er@example.com", "not valid"),
        ("user..name@example.com", "not valid"),
        (".user@example.com", "not valid"),
        ("a" * 65 + "@example.com", "at most 64"),
        ("user@" + "a" * 64 + ".com", "at most 63"),
        ("user@" + ".".join(["abcdefghi"] * 26), "at most 253"),
        ("user@exa_mple.com", "letters, digits"),
        ("user@-example.com", "letters, digits"),
        ("user@example..com", "empty label"),
        ("user@[300.1.1.1]", "not a valid address literal"),
        ("user@[IPv6:zz::1]", "not a valid address literal"),
        ("user@[192.0.2.1", "must end"),
        ('"unterminated@example.com', "malformed"),
        ('"a"b"@example.com', "malformed"),
        ('"trailing\\"@example.com', "malformed"),
        ("x" * 2000, "not an email address"),
    ],
)
def test_invalid_addresses(text: str, fragment: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_address(text)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message and "\r" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mx.example.com", ("mx.example.com", 25)),
        ("mx.example.com:2525", ("mx.example.com", 2525)),
        ("192.0.2.1:587", ("192.0.2.1", 587)),
        ("[2001:db8::1]:2525", ("2001:db8::1", 2525)),
        ("2001:db8::1", ("2001:db8::1", 25)),
    ],
)
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text, 25) == expected


@pytest.mark.parametrize("text", ["mx:0", "mx:70000", "mx:abc", "", "a b", "[::1", "bad_host"])
def test_parse_host_port_rejects(text: str) -> None:
    with pytest.raises(AddressError):
        parse_host_port(text, 25)
