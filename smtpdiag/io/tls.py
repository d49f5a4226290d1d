"""TLS facts about a STARTTLS handshake: certificate fields, trust and name checks.

Opportunistic TLS (RFC 3207, RFC 7435): the handshake itself never verifies, so a
bad certificate cannot stop the probe; verification is done here afterwards and
reported. Only imported when a STARTTLS handshake completed.
"""

from __future__ import annotations

import functools
import ipaddress
import ssl
import warnings
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from smtpdiag.core.model import CertFacts, TlsInfo

_ENCODING_DER = 2  # _ssl.ENCODING_DER; the ssl module does not re-export it


@functools.cache
def _system_store(cafile: str | None) -> Any:
    from cryptography.x509.verification import Store

    path = cafile or ssl.get_default_verify_paths().cafile
    if not path:
        return None
    try:
        with open(path, "rb") as fh, warnings.catch_warnings():
            # some system roots have non-positive serials; cryptography warns about them
            warnings.simplefilter("ignore")
            certs = x509.load_pem_x509_certificates(fh.read())
    except (OSError, ValueError):
        return None
    return Store(certs)


def name_matches(name: str, sans: Sequence[str]) -> bool:
    """RFC 6125 matching of ``name`` against DNS/IP SANs (wildcard in the leftmost label)."""
    name = name.rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        ip = None
    for san in sans:
        kind, _, value = san.partition(":")
        value = value.rstrip(".").lower()
        if kind == "IP" and ip is not None:
            try:
                if ipaddress.ip_address(value) == ip:
                    return True
            except ValueError:
                continue
        elif kind == "DNS" and ip is None:
            if value == name:
                return True
            if value.startswith("*.") and "." in name:
                head, _, rest = name.partition(".")
                if head and rest == value[2:]:
                    return True
    return False


def _name(n: x509.Name) -> str:
    try:
        return n.rfc4514_string()
    except Exception:  # pragma: no cover - malformed names
        return repr(n)


def tls_info(
    version: str | None,
    cipher: tuple[str, str, int] | None,
    chain: Sequence[bytes],
    server_name: str,
    cafile: str | None = None,
) -> TlsInfo:
    """Describe the handshake and check the chain against the trust store and ``server_name``."""
    subject = issuer = not_before = not_after = None
    sans: tuple[str, ...] = ()
    trusted: bool | None = None
    trust_error: str | None = None
    matches: bool | None = None
    leaf = None
    if chain:
        try:
            leaf = x509.load_der_x509_certificate(chain[0])
        except ValueError as exc:
            trust_error = f"the server's certificate cannot be parsed: {exc}"
    if leaf is not None:
        subject = _name(leaf.subject)
        issuer = _name(leaf.issuer)
        not_before = leaf.not_valid_before_utc.isoformat()
        not_after = leaf.not_valid_after_utc.isoformat()
        sans = _sans(leaf)
        if not sans:
            cns = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            sans = tuple(f"DNS:{cn.value!s}" for cn in cns)
        matches = name_matches(server_name, sans)
        trusted, trust_error = _verify(leaf, chain[1:], sans, cafile)
    elif not chain:
        trust_error = "the server sent no certificate"
    return TlsInfo(
        version=version,
        cipher=cipher[0] if cipher else None,
        cipher_bits=cipher[2] if cipher else None,
        subject=subject,
        issuer=issuer,
        sans=sans,
        not_before=not_before,
        not_after=not_after,
        trusted=trusted,
        trust_error=trust_error,
        hostname_matches=matches,
        checked_name=server_name,
        trust_store=cafile or "system",
        chain=chain_facts(chain),
    )


#: Certificates of a chain described (a hostile server can send hundreds).
MAX_CHAIN = 10


def chain_facts(chain: Sequence[bytes]) -> tuple[CertFacts, ...]:
    """Each certificate the server sent, leaf first, with its public key's DER (for
    DANE's selector 1) and whether the next one signed it (DANE-TA's chain)."""
    from smtpdiag.core.dane import spki_of

    certs: list[x509.Certificate | None] = []
    for der in chain[:MAX_CHAIN]:
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            certs.append(None)
    facts = []
    for i, (der, cert) in enumerate(zip(chain[:MAX_CHAIN], certs, strict=True)):
        nxt = certs[i + 1] if i + 1 < len(certs) else None
        signed: bool | None = None
        if cert is not None and nxt is not None:
            try:
                cert.verify_directly_issued_by(nxt)
                signed = True
            except Exception:  # InvalidSignature, ValueError, TypeError (unsupported key)
                signed = False
        facts.append(
            CertFacts(
                subject=_name(cert.subject) if cert is not None else None,
                issuer=_name(cert.issuer) if cert is not None else None,
                not_before=cert.not_valid_before_utc.isoformat() if cert is not None else None,
                not_after=cert.not_valid_after_utc.isoformat() if cert is not None else None,
                der=der,
                spki=spki_of(der),
                signed_by_next=signed,
            )
        )
    return tuple(facts)


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except (x509.ExtensionNotFound, ValueError):
        return ()
    value = ext.value
    assert isinstance(value, x509.SubjectAlternativeName)
    names = [f"DNS:{n}" for n in value.get_values_for_type(x509.DNSName)]
    names += [f"IP:{ip}" for ip in value.get_values_for_type(x509.IPAddress)]
    return tuple(names[:100])


def _verify(
    leaf: x509.Certificate, intermediates: Sequence[bytes], sans: Sequence[str], cafile: str | None
) -> tuple[bool | None, str | None]:
    import datetime

    from cryptography.x509 import DNSName, IPAddress
    from cryptography.x509.verification import PolicyBuilder, VerificationError

    now = datetime.datetime.now(datetime.UTC)
    not_after = leaf.not_valid_after_utc
    not_before = leaf.not_valid_before_utc
    if not_after < now:
        return False, f"the certificate expired on {not_after:%Y-%m-%d} ({_name(leaf.subject)})"
    if not_before > now:
        return False, f"the certificate is not valid before {not_before:%Y-%m-%d}"
    if leaf.issuer == leaf.subject and not intermediates:
        return False, f"self-signed certificate ({_name(leaf.subject)}), not issued by a CA"
    store = _system_store(cafile)
    if store is None:
        return None, "no trust store found to verify against"
    inter = []
    for der in intermediates[:10]:
        try:
            inter.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    # Verify trust under a name the certificate claims, so that trust and the name
    # check are reported separately.
    subject: Any = None
    for san in sans:
        kind, _, value = san.partition(":")
        try:
            if kind == "DNS" and not value.startswith("*."):
                subject = DNSName(value)
            elif kind == "DNS":
                subject = DNSName("x" + value[1:])
            elif kind == "IP":
                subject = IPAddress(ipaddress.ip_address(value))
        except ValueError:
            continue
        if subject is not None:
            break
    if subject is None:
        return False, "the certificate names no host (no subjectAltName)"
    try:
        verifier = PolicyBuilder().store(store).build_server_verifier(subject)
        verifier.verify(leaf, inter)
    except VerificationError as exc:
        detail = _short(str(exc))
        where = "the system trust store" if cafile is None else cafile
        if "candidates exhausted" in detail or "unable to get" in detail:
            return False, (
                f"the chain does not lead to a CA in {where} "
                f"(issuer: {_name(leaf.issuer)}; is an intermediate certificate missing?)"
            )
        return False, f"the certificate does not verify: {_readable(detail)}"
    except Exception as exc:  # a certificate the verifier cannot handle: say so, briefly
        return False, f"the certificate could not be verified ({type(exc).__name__})"
    return True, None


_EXTENSIONS = {
    "2.5.29.35": "authority key identifier",
    "2.5.29.14": "subject key identifier",
    "2.5.29.19": "basic constraints",
    "2.5.29.15": "key usage",
    "2.5.29.37": "extended key usage",
    "2.5.29.17": "subject alternative name",
}


def _readable(detail: str) -> str:
    """cryptography's verification message without object reprs, extensions by name."""
    import re

    text = re.sub(r"\s*\(encountered processing <.*$", "", detail)
    text = re.sub(r"<[^<>]{0,200}>", "", text)
    for oid, name in _EXTENSIONS.items():
        text = text.replace(oid, name)
    return text.removeprefix("validation failed: ").strip() or "validation failed"


def _short(text: str) -> str:
    return " ".join(text.split())[:200]
