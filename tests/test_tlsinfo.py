"""Certificate facts read as a support engineer needs them: why a certificate is not
trusted, in words ("self-signed", "expired on DATE"), never an exception's repr."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smtpdiag.io.tls import tls_info


def der(days_from: int, days_to: int, issuer: str = "mx.test") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.test")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now + datetime.timedelta(days=days_from))
        .not_valid_after(now + datetime.timedelta(days=days_to))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("mx.test")]), False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        ((-10, 10), "self-signed certificate (CN=mx.test), not issued by a CA"),
        ((-10, -2), "the certificate expired on "),
        ((5, 10), "the certificate is not valid before "),
        # issued by an unknown CA (and without the extensions a CA-issued one has)
        ((-10, 10, "Some Private CA"), "the certificate does not verify: invalid extension: "),
    ],
)
def test_trust_failures_read_as_words(chain: tuple[Any, ...], expected: str) -> None:
    cipher = ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 256)
    info = tls_info("TLSv1.3", cipher, [der(*chain)], "mx.test", None)
    assert info.trusted is False
    assert info.trust_error is not None and info.trust_error.startswith(expected)
    assert "Error(" not in info.trust_error and "<" not in info.trust_error
