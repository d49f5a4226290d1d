"""DANE for SMTP (RFC 7672, RFC 6698, RFC 7671), the pure part: TLSA records, matching
them against the certificate chain a live session saw, and what each MX host's DNSSEC
status means for senders. The DNSSEC validation is smtpdiag/dnssec.py; the lookups and
the orchestration prober.py.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping, Sequence
from typing import Literal

from smtpdiag.core.model import CertFacts, TlsInfo
from smtpdiag.core.records import record

#: secure: DNSSEC validated from a trust anchor; insecure: provably unsigned;
#: bogus: signed but validation fails; indeterminate: no answer, no anchor, or no proof
Security = Literal["secure", "insecure", "bogus", "indeterminate"]
#: what the lookup found: records, no such name, no records of the type, or an error
Found = Literal["answer", "nxdomain", "nodata", "error"]

USAGES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}
SELECTORS = {0: "Cert", 1: "SPKI"}
MTYPES = {0: "Full", 1: "SHA2-256", 2: "SHA2-512"}
_DIGEST_SIZE = {1: 32, 2: 64}


@record
class Validated:
    """One DNS lookup and its DNSSEC status."""

    name: str
    rdtype: str
    security: Security
    found: Found
    values: tuple[str, ...] = ()  # the records' presentation text
    reason: str | None = None  # why bogus / indeterminate / insecure
    zone: str | None = None  # the zone the answer came from, when known
    target: str | None = None  # where a CNAME chain led (None: no CNAME)

    @property
    def secure(self) -> bool:
        return self.security == "secure"


@record
class Tlsa:
    """One TLSA record (RFC 6698 §2)."""

    usage: int
    selector: int
    mtype: int
    data: bytes

    @property
    def text(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"

    @property
    def label(self) -> str:
        """``DANE-EE(3) SPKI(1) SHA2-256(1)``."""
        u = USAGES.get(self.usage, "?")
        s = SELECTORS.get(self.selector, "?")
        m = MTYPES.get(self.mtype, "?")
        return f"{u}({self.usage}) {s}({self.selector}) {m}({self.mtype})"

    @property
    def usable(self) -> bool:
        """RFC 7672 §3.1.3: SMTP uses only DANE-TA(2) and DANE-EE(3); selectors 0 and 1,
        matching types 0, 1 and 2, with a digest of the right size."""
        if self.usage not in (2, 3) or self.selector not in (0, 1) or self.mtype not in MTYPES:
            return False
        size = _DIGEST_SIZE.get(self.mtype)
        return size is None or len(self.data) == size


def parse_tlsa(text: str) -> Tlsa | None:
    """A TLSA record from its presentation form (``3 1 1 ab12...``); None if malformed."""
    parts = text.split()
    if len(parts) < 4:
        return None
    try:
        usage, selector, mtype = (int(p) for p in parts[:3])
        data = bytes.fromhex("".join(parts[3:]))
    except ValueError:
        return None
    if not all(0 <= v <= 255 for v in (usage, selector, mtype)):
        return None
    return Tlsa(usage, selector, mtype, data)


# -- certificates ---------------------------------------------------------------------


def _der_item(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(tag, start of contents, end) of the DER item at ``pos``; None if malformed."""
    if pos + 2 > len(data):
        return None
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            return None
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        return None
    return tag, pos, end


def spki_of(der: bytes) -> bytes | None:
    """The SubjectPublicKeyInfo (DER) of a certificate: the 7th field of its
    TBSCertificate, or the 6th when the version is absent (RFC 5280 §4.1)."""
    cert = _der_item(der, 0)
    if cert is None or cert[0] != 0x30:
        return None
    tbs = _der_item(der, cert[1])
    if tbs is None or tbs[0] != 0x30:
        return None
    pos, end = tbs[1], tbs[2]
    first = _der_item(der, pos)
    if first is None:
        return None
    skip = 6 if first[0] == 0xA0 else 5  # [0] version, serial, signature, issuer, ...
    for _ in range(skip):
        item = _der_item(der, pos)
        if item is None or item[2] > end:
            return None
        pos = item[2]
    spki = _der_item(der, pos)
    if spki is None or spki[0] != 0x30 or spki[2] > end:
        return None
    return der[pos : spki[2]]


def association(cert: CertFacts, selector: int, mtype: int) -> bytes | None:
    """The certificate association data a TLSA record with ``selector`` and ``mtype``
    would hold for ``cert`` (RFC 6698 §2.1.2-§2.1.3)."""
    content = cert.der if selector == 0 else cert.spki if selector == 1 else None
    if content is None:
        return None
    if mtype == 0:
        return content
    if mtype == 1:
        return hashlib.sha256(content).digest()
    if mtype == 2:
        return hashlib.sha512(content).digest()
    return None


# -- the report -----------------------------------------------------------------------


@record
class Presented:
    """What the server's certificate at ``depth`` gives for one record's selector and
    matching type, beside the record: the digests side by side."""

    record: str
    depth: int  # 0: the server's own certificate; 1, 2, ...: the chain above it
    subject: str | None
    value: str  # hex (a full certificate or key is shortened)


@record
class DaneHost:
    """One MX host's DANE status: its DNSSEC, its TLSA records, and the live session."""

    host: str
    tlsa_name: str
    address: Validated | None
    tlsa: Validated | None
    records: tuple[str, ...]  # every TLSA record, presentation text
    usable: tuple[str, ...]  # the ones SMTP uses (RFC 7672 §3.1.3)
    session: Literal["tls", "no-tls", "none"]
    matched: str | None  # the record that matched the live chain
    matched_depth: int | None
    presented: tuple[Presented, ...]  # when nothing matched: what the chain gives
    #: ok | mismatch | no-tls | unusable | unchecked | no-tlsa | insecure | bogus |
    #: address-insecure | indeterminate
    status: str
    text: str


@record
class DaneReport:
    domain: str
    mode: Literal["validate", "trust-ad"]
    anchor: str  # what the validation trusts: the root KSK, a file, or the resolver
    mx: Validated | None  # the domain's MX lookup (None: no MX lookup, e.g. --server)
    hosts: tuple[DaneHost, ...]
    summary: str


def _short(value: bytes) -> str:
    text = value.hex()
    return text if len(text) <= 140 else f"{text[:64]}...{text[-16:]} ({len(value)} bytes)"


def _expired(cert: CertFacts, now: datetime.datetime) -> bool:
    for stamp, after in ((cert.not_after, False), (cert.not_before, True)):
        if stamp is None:
            continue
        try:
            when = datetime.datetime.fromisoformat(stamp)
        except ValueError:
            continue
        if (when > now) if after else (when < now):
            return True
    return False


@record
class ChainMatch:
    record: Tlsa | None  # the record that matched (None: none did)
    depth: int | None
    problem: str | None  # a DANE-TA match whose chain does not hold (see match_chain)
    presented: tuple[Presented, ...]


def match_chain(
    records: Sequence[Tlsa],
    chain: Sequence[CertFacts],
    names_ok: bool,
    now: datetime.datetime,
    t: Mapping[str, str],
) -> ChainMatch:
    """Match the usable ``records`` against the chain (RFC 7672 §3.1): DANE-EE(3) against
    the server's own certificate, with no name or date checks; DANE-TA(2) against a
    certificate above it, which must have signed down to the server's certificate, whose
    name must match (``names_ok``) and which, like the chain, must be within its dates."""
    usable = [r for r in records if r.usable]
    problem: str | None = None
    for rec in usable:
        if rec.usage == 3 and chain:
            if association(chain[0], rec.selector, rec.mtype) == rec.data:
                return ChainMatch(rec, 0, None, ())
        elif rec.usage == 2:
            for depth in range(1, len(chain)):
                if association(chain[depth], rec.selector, rec.mtype) != rec.data:
                    continue
                if not all(c.signed_by_next for c in chain[:depth]):
                    problem = t["ta-broken"].format(depth=depth)
                elif not names_ok:
                    problem = t["ta-name"]
                elif any(_expired(c, now) for c in chain[: depth + 1]):
                    problem = t["ta-dates"]
                else:
                    return ChainMatch(rec, depth, None, ())
    if problem is not None:  # a record did match: its digests are not the news
        return ChainMatch(None, None, problem, ())
    presented: list[Presented] = []
    for rec in usable:
        depths = [0] if rec.usage == 3 else list(range(1, len(chain))) or [0]
        for depth in depths[:4]:
            if depth >= len(chain):
                continue
            value = association(chain[depth], rec.selector, rec.mtype)
            if value is not None:
                presented.append(Presented(rec.text, depth, chain[depth].subject, _short(value)))
    return ChainMatch(None, None, problem, tuple(presented))


def evaluate_host(
    host: str,
    tlsa_name: str,
    address: Validated | None,
    tlsa: Validated | None,
    tls: TlsInfo | None,
    reached: bool,
    now: datetime.datetime,
    t: Mapping[str, str],
) -> DaneHost:
    """One MX host: what its TLSA records (and their DNSSEC) say, against the session.

    ``reached``: a session got the server's greeting; ``tls``: its STARTTLS facts (None
    when it did not do TLS)."""
    values = tlsa.values if tlsa is not None and tlsa.found == "answer" else ()
    parsed = [p for p in (parse_tlsa(v) for v in values) if p is not None]
    usable = tuple(r.text for r in parsed if r.usable)
    session: Literal["tls", "no-tls", "none"] = (
        "tls" if tls is not None else "no-tls" if reached else "none"
    )

    def host_result(
        status: str,
        key: str,
        matched: ChainMatch | None = None,
        **extra: object,
    ) -> DaneHost:
        text = t[key].format(host=host, name=tlsa_name, **extra)
        return DaneHost(
            host,
            tlsa_name,
            address,
            tlsa,
            tuple(r.text for r in parsed),
            usable,
            session,
            matched.record.text if matched is not None and matched.record is not None else None,
            matched.depth if matched is not None else None,
            matched.presented if matched is not None else (),
            status,
            text,
        )

    if tlsa is None:
        return host_result("indeterminate", "dane-not-looked-up")
    reason = tlsa.reason or "?"
    if tlsa.found in ("nxdomain", "nodata") and tlsa.security in ("insecure", "indeterminate"):
        return host_result("no-tlsa", "dane-no-tlsa-unproven", reason=reason)
    if tlsa.security == "bogus":
        return host_result("bogus", "dane-bogus", reason=reason)
    if tlsa.security == "indeterminate":
        return host_result("indeterminate", "dane-indeterminate", reason=reason)
    if tlsa.security == "insecure":
        key = "dane-insecure" if values else "dane-unsigned"
        return host_result("insecure", key, reason=reason)
    if tlsa.found != "answer" or not parsed:
        return host_result("no-tlsa", "dane-no-tlsa")
    if address is not None and address.security != "secure":
        return host_result("address-insecure", "dane-address-insecure", state=address.security)
    if not usable:
        return host_result("unusable", "dane-unusable")
    if session == "none":
        return host_result("unchecked", "dane-unchecked")
    if tls is None:
        return host_result("no-tls", "dane-no-tls")
    # DANE-TA's reference identifier is the MX host name (RFC 7672 §3.2.2): the session
    # checked the certificate against the name it connected to, which is this host
    found = match_chain(parsed, tls.chain, tls.hostname_matches is True, now, t)
    if found.record is not None:
        where = t["dane-leaf"] if found.depth == 0 else t["dane-ta"].format(depth=found.depth)
        label = found.record.label
        return host_result(
            "ok", "dane-ok", found, record=found.record.text, label=label, where=where
        )
    if found.problem is not None:
        return host_result("mismatch", "dane-ta-problem", found, problem=found.problem)
    leaf = tls.chain[0] if tls.chain else None
    since = (leaf.not_before or "?")[:10] if leaf is not None else "?"
    return host_result("mismatch", "dane-mismatch", found, since=since)


def summarize(
    domain: str,
    mode: Literal["validate", "trust-ad"],
    anchor: str,
    mx: Validated | None,
    hosts: Sequence[DaneHost],
    t: Mapping[str, str],
) -> DaneReport:
    """The domain's DANE summary: the MX records' DNSSEC status first (RFC 7672 §2.2.1:
    most DANE senders skip DANE when it is not secure), then the hosts' findings."""
    failing = [h for h in hosts if h.status in ("mismatch", "no-tls", "bogus")]
    with_tlsa = [h for h in hosts if h.usable]
    state = mx.security if mx is not None else "secure"
    why = (mx.reason if mx is not None else None) or "?"
    if mx is not None and mx.security == "bogus":
        summary = t["dane-mx-bogus"].format(domain=domain, reason=why)
    elif failing:
        names = ", ".join(h.host for h in failing)
        summary = t["dane-failing"].format(domain=domain, count=len(failing), hosts=names)
    elif not with_tlsa:
        key = {"insecure": "dane-mx-insecure", "indeterminate": "dane-none-unknown"}
        summary = t[key.get(state, "dane-none")].format(domain=domain, state=state, reason=why)
    elif state != "secure":
        summary = t["dane-mx-insecure-tlsa"].format(domain=domain, state=state, reason=why)
    elif all(h.status == "unchecked" for h in with_tlsa):
        summary = t["dane-unchecked-all"].format(domain=domain, count=len(with_tlsa))
    elif all(h.status == "ok" for h in with_tlsa):
        summary = t["dane-all-ok"].format(domain=domain, count=len(with_tlsa))
    else:
        ok = sum(h.status == "ok" for h in with_tlsa)
        summary = t["dane-partial"].format(domain=domain, count=len(with_tlsa), ok=ok)
    return DaneReport(domain, mode, anchor, mx, tuple(hosts), summary)
