"""DKIM key records (RFC 6376 §3.6.1): tags, key type and size, revocation, test mode.

Pure logic; the async ``probe_selectors`` takes an injected ``Query``.
"""

from __future__ import annotations

import base64
import binascii

from smtpdiag.core.dnstypes import Query
from smtpdiag.core.records import record

#: Selectors tried when none is given: those of common providers and mail software.
COMMON_SELECTORS = (
    "default",
    "dkim",
    "mail",
    "selector1",
    "selector2",
    "google",
    "k1",
    "k2",
    "s1",
    "s2",
    "smtp",
    "mx",
    "key1",
    "key2",
    "dkim1",
    "mandrill",
    "mxvault",
    "everlytickey1",
    "zoho",
    "sig1",
    "protonmail",
    "fm1",
    "fm2",
    "fm3",
    "amazonses",
    "sendgrid",
    "mailjet",
    "scph0001",
)


@record
class DkimKey:
    selector: str
    name: str
    record: str | None
    found: bool
    key_type: str | None = None  # "rsa" or "ed25519"
    bits: int | None = None
    revoked: bool = False
    testing: bool = False
    tags: tuple[tuple[str, str], ...] = ()
    problems: tuple[str, ...] = ()
    error: str | None = None


def parse_key(selector: str, name: str, record: str) -> DkimKey:
    tags: dict[str, str] = {}
    problems: list[str] = []
    for part in record.split(";"):
        if not part.strip():
            continue
        tag, sep, value = part.partition("=")
        tag = tag.strip()
        if not sep:
            problems.append(f"'{part.strip()}' is not a tag=value pair")
            continue
        tags.setdefault(tag, "".join(value.split()))
    if "v" in tags and tags["v"] != "DKIM1":
        problems.append(f"v={tags['v']} must be DKIM1")
    key_type = tags.get("k", "rsa").lower()
    if key_type not in ("rsa", "ed25519"):
        problems.append(f"k={key_type} is not a key type verifiers support (rsa, ed25519)")
    flags = tags.get("t", "").split(":")
    testing = "y" in flags
    if testing:
        problems.append("t=y: the domain is testing DKIM; verifiers may treat failures as neutral")
    if "h" in tags and not {h.strip().lower() for h in tags["h"].split(":")} & {"sha256"}:
        problems.append(f"h={tags['h']} does not allow sha256")
    p = tags.get("p")
    bits: int | None = None
    revoked = False
    if p is None:
        problems.append("no p= tag: the record has no public key")
    elif p == "":
        revoked = True
        problems.append("p= is empty: this key is revoked; mail signed with it fails DKIM")
    else:
        try:
            der = base64.b64decode(p, validate=True)
        except (binascii.Error, ValueError):
            problems.append("p= is not valid base64")
            der = b""
        if der:
            bits = _key_bits(key_type, der, problems)
    if bits is not None and key_type == "rsa":
        if bits < 1024:
            problems.append(f"RSA key of {bits} bits is broken: verifiers reject it; use 2048")
        elif bits < 2048:
            problems.append(f"RSA key of {bits} bits is weak; use 2048 bits")
    return DkimKey(
        selector,
        name,
        record,
        True,
        key_type,
        bits,
        revoked,
        testing,
        tuple(sorted(tags.items())),
        tuple(problems),
    )


def _key_bits(key_type: str, der: bytes, problems: list[str]) -> int | None:
    if key_type == "ed25519":
        if len(der) != 32:
            problems.append(f"an ed25519 key is 32 bytes, this one is {len(der)}")
            return None
        return 256
    try:
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        key = load_der_public_key(der)
    except (ValueError, TypeError):
        problems.append("p= is not a DER public key")
        return None
    if not isinstance(key, rsa.RSAPublicKey):
        problems.append("p= holds a key that is not RSA although k=rsa")
        return None
    return int(key.key_size)


async def probe_selector(query: Query, domain: str, selector: str) -> DkimKey:
    name = f"{selector}._domainkey.{domain}"
    answer = await query(name, "TXT")
    if answer.failed:
        return DkimKey(selector, name, None, False, error=f"DNS {answer.error}")
    texts = [
        v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in answer.values
    ]
    keys = [t for t in texts if "p=" in t or t.startswith("v=DKIM1")]
    if not keys:
        return DkimKey(selector, name, None, False)
    key = parse_key(selector, name, keys[0])
    if len(keys) > 1:
        return DkimKey(
            **{
                **key.__dict__,
                "problems": (
                    *key.problems,
                    f"{len(keys)} key records at {name}: verifiers may pick either",
                ),
            }
        )
    return key
