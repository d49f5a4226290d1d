"""Pure validation of recipient addresses and host names (RFC 5321, RFC 6531, IDNA 2008).

Anything that could break an SMTP command line (CR, LF, NUL, ``<``, ``>``, other
control characters) is refused here, before a single byte is sent.
"""

from __future__ import annotations

import functools
import ipaddress
import re

from smtpdiag.core.errors import AddressError
from smtpdiag.core.model import Address

MAX_LOCAL_OCTETS = 64
MAX_DOMAIN_OCTETS = 253
MAX_LABEL_OCTETS = 63
MAX_INPUT_CHARS = 1024

# RFC 5321 atext; any non-ASCII character is allowed too (RFC 6531 UTF8-non-ascii)
_ATEXT = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~-"
)
#: the same, for an all-ASCII local part (a list's addresses), as one regex
_ASCII_DOT_ATOM = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
)
_LDH_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f<>]")


def _describe_forbidden(ch: str) -> str:
    names = {"\r": "CR", "\n": "LF", "\x00": "NUL", "<": "'<'", ">": "'>'", "\t": "TAB"}
    return names.get(ch, f"control character U+{ord(ch):04X}")


def parse_address(text: str) -> Address:
    """Validate a recipient address and convert its domain to A-labels.

    Raises :class:`AddressError` with a one-line, user-facing message.
    """
    if len(text) > MAX_INPUT_CHARS:
        raise AddressError(f"address is {len(text)} characters long; that is not an email address")
    bad = _FORBIDDEN.search(text)
    if bad:
        raise AddressError(
            f"{text!r}: contains {_describe_forbidden(bad.group())}, which is never allowed "
            "in an address (it could inject SMTP commands)"
        )
    if not text.isascii() and any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise AddressError(
            f"'{shown}' contains bytes that are not UTF-8: check the terminal's or the "
            "file's encoding (addresses are UTF-8)"
        )
    address = text.strip()
    if "@" not in address:
        raise AddressError(f"{address!r} has no '@': give a full address such as user@example.com")
    local, _, domain = address.rpartition("@")
    if not local:
        raise AddressError(f"{address!r} has nothing before the '@'")
    if not domain:
        raise AddressError(f"{address!r} has nothing after the '@'")
    _check_local(address, local)
    if domain.startswith("["):
        literal, ip = parse_ip_literal(domain)
        return Address(address, local, literal, literal, ip_literal=ip)
    a_label, u_label = normalize_domain(domain)
    return Address(address, local, a_label, u_label)


def _check_local(address: str, local: str) -> None:
    octets = len(local.encode("utf-8"))
    if octets > MAX_LOCAL_OCTETS:
        raise AddressError(
            f"{address!r}: the local part is {octets} octets; RFC 5321 allows at most "
            f"{MAX_LOCAL_OCTETS}"
        )
    if local.startswith('"'):
        if not _is_quoted_string(local):
            raise AddressError(f"{address!r}: the quoted local part is malformed")
        return
    if not _is_dot_atom(local):
        raise AddressError(
            f"{address!r}: the local part {local!r} is not valid (spaces, '..', a leading or "
            "trailing dot, or special characters need quoting)"
        )


def _is_dot_atom(text: str) -> bool:
    if text.isascii():
        return _ASCII_DOT_ATOM.fullmatch(text) is not None
    return all(
        atom and all(ch in _ATEXT or ord(ch) > 0x7F for ch in atom) for atom in text.split(".")
    )


def _is_quoted_string(text: str) -> bool:
    """RFC 5321 Quoted-string: printable ASCII (and UTF-8) except a bare " or \\."""
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        return False
    inner, i = text[1:-1], 0
    while i < len(inner):
        ch = inner[i]
        if ch == "\\":
            if i + 1 >= len(inner) or not 0x20 <= ord(inner[i + 1]) <= 0x7E:
                return False
            i += 2
            continue
        if ch == '"' or (ord(ch) < 0x20 or ord(ch) == 0x7F):
            return False
        i += 1
    return True


def parse_ip_literal(domain: str) -> tuple[str, str]:
    """``[192.0.2.1]`` or ``[IPv6:2001:db8::1]`` -> (normalised literal, bare IP)."""
    if not domain.endswith("]"):
        raise AddressError(f"{domain!r}: an address literal must end with ']'")
    inner = domain[1:-1]
    try:
        if inner[:5].lower() == "ipv6:":
            ip6 = ipaddress.IPv6Address(inner[5:])
            return f"[IPv6:{ip6.compressed}]", ip6.compressed
        ip4 = ipaddress.IPv4Address(inner)
    except ValueError:
        raise AddressError(
            f"{domain!r} is not a valid address literal (use [192.0.2.1] or [IPv6:2001:db8::1])"
        ) from None
    return f"[{ip4}]", str(ip4)


@functools.lru_cache(maxsize=1024)  # a list's addresses share a few domains
def normalize_domain(domain: str) -> tuple[str, str]:
    """Return (A-label form, Unicode form) of a domain name, or raise AddressError."""
    name = domain.rstrip(".") if domain.endswith(".") and not domain.endswith("..") else domain
    if not name:
        raise AddressError(f"{domain!r} is not a domain name")
    if name.isascii():
        a_label = name.lower()
    else:
        try:
            import idna  # lazy: its tables are large and only needed for IDNs

            a_label = idna.encode(name, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise AddressError(
                f"{domain!r} is not a valid internationalised domain: {exc}"
            ) from None
    _check_ldh(domain, a_label)
    u_label = a_label
    if "xn--" in a_label:
        try:
            import idna

            u_label = idna.decode(a_label)
        except idna.IDNAError as exc:
            raise AddressError(f"{domain!r} has an invalid A-label: {exc}") from None
    return a_label, u_label


def _check_ldh(original: str, a_label: str) -> None:
    if len(a_label) > MAX_DOMAIN_OCTETS:
        raise AddressError(
            f"domain {original!r} is {len(a_label)} octets; DNS allows at most {MAX_DOMAIN_OCTETS}"
        )
    for label in a_label.split("."):
        if not label:
            raise AddressError(f"domain {original!r} has an empty label ('..' or a leading dot)")
        if len(label) > MAX_LABEL_OCTETS:
            raise AddressError(
                f"domain {original!r}: label {label[:20]!r}... is {len(label)} octets; "
                f"DNS allows at most {MAX_LABEL_OCTETS}"
            )
        if not _LDH_LABEL.fullmatch(label):
            raise AddressError(
                f"domain {original!r}: label {label!r} may only hold letters, digits and "
                "hyphens, and may not start or end with a hyphen"
            )


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address -> (host, port)."""
    value = text.strip()
    if not value or _FORBIDDEN.search(value) or " " in value:
        raise AddressError(f"{text!r} is not a host name or IP address")
    host, port_text = value, ""
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise AddressError(f"{text!r}: write an IPv6 address with a port as [2001:db8::1]:25")
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise AddressError(f"{text!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        pass
    a_label, _ = normalize_domain(host)
    return a_label, port
