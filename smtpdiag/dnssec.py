"""DNSSEC for DANE: is an answer secure, insecure or bogus? (RFC 4033-4035, RFC 5155)

Two ways, as ``--dnssec`` chooses:

* ``validate`` (the default): our own validation with dnspython's ``dns.dnssec``, from a
  trust anchor (the IANA root KSKs, or ``--trust-anchor FILE``) down the chain of DS and
  DNSKEY records to the answer's RRSIG, denials proven with NSEC or NSEC3. Queries go out
  with DO and CD set, so that a validating resolver in the way still hands over bogus
  data for us to explain, instead of a bare SERVFAIL.
* ``trust-ad``: believe the AD bit of a validating resolver you trust (RFC 6840 §5.7).

Every lookup is bounded: a per-run query budget, the resolver's timeout, and a cache, so
a hostile or broken zone cannot make it loop or hang. Never raises: failures are data
(:class:`smtpdiag.core.dane.Validated` with ``indeterminate`` or ``bogus``).
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import smtpdiag.io.dnsfeatures  # noqa: F401  (before dnspython: its feature probe)

# isort: split
import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.DS
import dns.rdtypes.ANY.NSEC
import dns.rdtypes.ANY.NSEC3
import dns.rrset

from smtpdiag.core.dane import Found, Security, Validated
from smtpdiag.core.errors import UsageError
from smtpdiag.core.records import record

Fetch = Callable[[dns.name.Name, dns.rdatatype.RdataType], Awaitable["dns.message.Message | str"]]

#: The IANA root zone's key-signing keys (KSK-2017 and KSK-2024), as DS records:
#: https://data.iana.org/root-anchors/root-anchors.xml
ROOT_ANCHORS = (
    ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
    ". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
)
#: New queries one check sends at most (a chain is a few per zone level).
MAX_QUERIES = 60
#: CNAMEs followed in one answer.
MAX_CNAMES = 8
_IN = dns.rdataclass.IN
_DS = dns.rdatatype.DS
_DNSKEY = dns.rdatatype.DNSKEY
_RRSIG = dns.rdatatype.RRSIG
_NSEC = dns.rdatatype.NSEC
_NSEC3 = dns.rdatatype.NSEC3
_SOA = dns.rdatatype.SOA
_CNAME = dns.rdatatype.CNAME

Anchors = dict[dns.name.Name, list[Any]]  # owner -> DS and DNSKEY rdatas
#: the new queries the current check has sent (a list: tasks it starts share the count)
_SPENT: contextvars.ContextVar[list[int]] = contextvars.ContextVar("smtpdiag_dnssec_spent")


def parse_anchors(text: str, source: str = "trust anchor") -> Anchors:
    """DS and DNSKEY records in zone-file form (``. IN DS 20326 8 2 E06D...``, one per
    line, ``;`` comments; unbound's root.key and ``dig . DNSKEY`` output both work).
    Raises UsageError when none can be read."""
    anchors: Anchors = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("$"):
            continue
        try:
            rrset = _rrset_from_line(line)
        except (dns.exception.DNSException, ValueError) as exc:
            raise UsageError(
                f"{source}: line {number}: not a DS or DNSKEY record ({exc})", "trust-anchor"
            ) from None
        if rrset is None:
            continue  # another type (unbound's root.key may hold comments, SOA, ...)
        anchors.setdefault(rrset.name, []).extend(rrset)
    if not anchors:
        raise UsageError(f"{source}: no DS or DNSKEY records in it", "trust-anchor")
    return anchors


def _rrset_from_line(line: str) -> dns.rrset.RRset | None:
    tokens = line.split()
    name = dns.name.from_text(tokens[0])
    rest = tokens[1:]
    while rest and (rest[0].isdigit() or rest[0].upper() in ("IN", "CH", "HS")):
        rest = rest[1:]  # TTL and class, in either order
    if not rest or rest[0].upper() not in ("DS", "DNSKEY"):
        return None
    rdtype = dns.rdatatype.from_text(rest[0])
    return dns.rrset.from_text(name, 3600, _IN, rdtype, " ".join(rest[1:]))


def load_anchors(path: str | None) -> tuple[Anchors, str]:
    """The trust anchors and how to name them in a report."""
    if path is None:
        return parse_anchors("\n".join(ROOT_ANCHORS)), "the IANA root KSK"
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"--trust-anchor {path}: {exc.strerror or exc}", "trust-anchor") from None
    return parse_anchors(text[:1_000_000], f"--trust-anchor {path}"), path


@record
class _Keys:
    """A zone's DNSSEC state and, when secure, its validated DNSKEY rrset."""

    security: Security
    keys: dns.rrset.RRset | None = None
    reason: str | None = None


def _types(rdata: Any) -> set[str]:
    """The types in an NSEC / NSEC3 type bitmap."""
    text = rdata.to_text().split()
    skip = 1 if rdata.rdtype == _NSEC else 5
    return {t.upper() for t in text[skip:]}


def _covers(owner: dns.name.Name, nxt: dns.name.Name, name: dns.name.Name) -> bool:
    """NSEC ``owner`` -> ``nxt`` covers ``name`` in canonical order (the last NSEC of a
    zone points back to its apex)."""
    if owner < nxt:
        return bool(owner < name < nxt)
    return bool(name > owner or name < nxt)


def _hash_covers(owner: str, nxt: str, value: str) -> bool:
    if owner < nxt:
        return owner < value < nxt
    return value > owner or value < nxt


class Validator:
    """Validates answers from ``fetch`` down from ``anchors``; one per run (it caches)."""

    def __init__(
        self,
        fetch: Fetch,
        anchors: Anchors,
        *,
        now: float | None = None,
        budget: int = MAX_QUERIES,
    ) -> None:
        self._fetch = fetch
        self.anchors = anchors
        self.now = time.time() if now is None else now
        self.budget = budget  # new queries one check may send (cached answers are free)
        self.queries = 0  # sent in all
        self._answers: dict[tuple[dns.name.Name, int], asyncio.Future[dns.message.Message | str]]
        self._answers = {}
        self._zones: dict[dns.name.Name, asyncio.Future[_Keys]] = {}

    # -- queries ----------------------------------------------------------------------

    async def _query(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.message.Message | str:
        key = (name, int(rdtype))
        cached = self._answers.get(key)
        if cached is None:
            spent = _SPENT.get(None)
            if spent is not None:
                if spent[0] >= self.budget:
                    return f"more than {self.budget} DNS queries needed: validation stopped"
                spent[0] += 1
            self.queries += 1
            cached = asyncio.ensure_future(self._fetch(name, rdtype))
            self._answers[key] = cached
        return await asyncio.shield(cached)

    # -- the public question ----------------------------------------------------------

    async def check(self, name: str, rdtype: str) -> Validated:
        """Look ``name``/``rdtype`` up and say how secure the answer is. Never raises."""
        try:
            qname = dns.name.from_text(name)
            qtype = dns.rdatatype.from_text(rdtype)
        except (dns.exception.DNSException, ValueError) as exc:
            return Validated(name, rdtype, "indeterminate", "error", reason=str(exc))
        token = _SPENT.set([0])  # this check's own query budget (tasks it starts share it)
        try:
            return await self._check(qname, qtype, name, rdtype)
        except Exception as exc:  # hostile records dnspython cannot digest: data, not a crash
            reason = f"the answer cannot be validated ({type(exc).__name__}: {exc})"
            return Validated(name, rdtype, "indeterminate", "error", reason=reason[:300])
        finally:
            _SPENT.reset(token)

    async def _check(
        self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, name: str, rdtype: str
    ) -> Validated:
        msg = await self._query(qname, qtype)
        if isinstance(msg, str):
            return Validated(name, rdtype, "indeterminate", "error", reason=msg)
        rcode = msg.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            why = f"the resolver answered {dns.rcode.to_text(rcode)}"
            return Validated(name, rdtype, "indeterminate", "error", reason=why)
        current = qname
        values: tuple[str, ...] = ()
        worst: tuple[Security, str | None, str | None] = ("secure", None, None)
        for _ in range(MAX_CNAMES + 1):
            rrset = _find(msg.answer, current, qtype)
            if rrset is None and qtype != _CNAME:
                rrset = _find(msg.answer, current, _CNAME)
            if rrset is None:
                break
            security, reason, zone = await self._rrset(msg, rrset)
            worst = _worse(worst, (security, reason, zone))
            if rrset.rdtype != _CNAME or qtype == _CNAME:
                values = tuple(r.to_text() for r in rrset)
                target = current.to_text(omit_final_dot=True) if current != qname else None
                return Validated(
                    name, rdtype, worst[0], "answer", values, worst[1], worst[2], target
                )
            current = rrset[0].target
        else:
            return Validated(name, rdtype, "indeterminate", "error", reason="CNAME loop")
        found: Found = "nxdomain" if rcode == dns.rcode.NXDOMAIN else "nodata"
        security, reason, zone = await self._denial(msg, current, qtype, found)
        worst = _worse(worst, (security, reason, zone))
        return Validated(name, rdtype, worst[0], found, (), worst[1], worst[2])

    # -- positive answers -------------------------------------------------------------

    async def _rrset(
        self, msg: dns.message.Message, rrset: dns.rrset.RRset
    ) -> tuple[Security, str | None, str | None]:
        sigs = _find(msg.answer, rrset.name, _RRSIG, rrset.rdtype)
        what = f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}"
        if sigs is None:
            zone = await self._zone_of(rrset.name)
            keys = await self._zone(zone)
            if keys.security == "secure":
                return "bogus", f"{what} has no signature though {zone} is signed", str(zone)
            return keys.security, keys.reason or f"{zone} is not signed", str(zone)
        signer = sigs[0].signer
        if not rrset.name.is_subdomain(signer):
            return "bogus", f"{what} is signed by {signer}, which is not above it", str(signer)
        keys = await self._zone(signer)
        if keys.security != "secure" or keys.keys is None:
            return keys.security, keys.reason, str(signer)
        problem = self._verify(rrset, sigs, signer, keys.keys)
        if problem is not None:
            return "bogus", f"{what}: {problem}", str(signer)
        return "secure", None, str(signer)

    def _verify(
        self,
        rrset: dns.rrset.RRset,
        sigs: dns.rrset.RRset,
        signer: dns.name.Name,
        keys: dns.rrset.RRset,
    ) -> str | None:
        """None when a signature over ``rrset`` verifies with ``keys``, else why not."""
        try:
            dns.dnssec.validate(rrset, sigs, {signer: keys}, now=self.now)
        except dns.exception.ValidationFailure as exc:
            return _why(sigs, self.now, str(exc))
        except dns.exception.UnsupportedAlgorithm as exc:
            return f"unsupported algorithm ({exc})"
        return None

    # -- negative answers -------------------------------------------------------------

    async def _denial(
        self,
        msg: dns.message.Message,
        qname: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
        found: Found,
    ) -> tuple[Security, str | None, str | None]:
        soa = next((r for r in msg.authority if r.rdtype == _SOA), None)
        zone = soa.name if soa is not None else await self._zone_of(qname)
        keys = await self._zone(zone)
        if keys.security != "secure" or keys.keys is None:
            return keys.security, keys.reason or f"{zone} is not signed", str(zone)
        proofs: list[dns.rrset.RRset] = []
        for rrset in msg.authority:
            if rrset.rdtype not in (_NSEC, _NSEC3):
                continue
            sigs = _find(msg.authority, rrset.name, _RRSIG, rrset.rdtype)
            if sigs is None:
                return "bogus", f"the denial's {rrset.name} NSEC has no signature", str(zone)
            problem = self._verify(rrset, sigs, zone, keys.keys)
            if problem is not None:
                return "bogus", f"the denial of {qname}: {problem}", str(zone)
            proofs.append(rrset)
        if not proofs:
            what = "no such name" if found == "nxdomain" else "no such record"
            return "bogus", f"{zone} is signed but its '{what}' answer has no NSEC proof", str(zone)
        if _proves(proofs, qname, qtype, found, zone):
            return "secure", None, str(zone)
        return "bogus", f"the NSEC records do not prove that {qname} has no {qtype.name}", str(zone)

    # -- zones ------------------------------------------------------------------------

    async def _zone_of(self, name: dns.name.Name) -> dns.name.Name:
        """The apex of the zone ``name`` is in: the SOA of a NODATA answer to ``name SOA``
        (or ``name`` itself when it is an apex)."""
        for _ in range(len(name.labels)):
            msg = await self._query(name, _SOA)
            if isinstance(msg, str):
                return name
            answer = _find(msg.answer, name, _SOA)
            if answer is not None:
                return name
            soa = next((r for r in msg.authority if r.rdtype == _SOA), None)
            if soa is not None and name.is_subdomain(soa.name):
                return soa.name
            if name == dns.name.root:
                return name
            name = name.parent()
        return dns.name.root

    async def _zone(self, zone: dns.name.Name) -> _Keys:
        cached = self._zones.get(zone)
        if cached is None:
            cached = asyncio.ensure_future(self._zone_keys(zone))
            self._zones[zone] = cached
        return await asyncio.shield(cached)

    async def _dnskeys(
        self, zone: dns.name.Name
    ) -> tuple[dns.rrset.RRset, dns.rrset.RRset] | _Keys:
        """The zone's DNSKEY rrset and its signatures, or why not: no answer at all is
        indeterminate, an answer without (signed) keys is bogus."""
        msg = await self._query(zone, _DNSKEY)
        if isinstance(msg, str):
            return _Keys("indeterminate", reason=msg)
        if msg.rcode() != dns.rcode.NOERROR:
            why = f"the DNSKEY lookup for {zone} got {dns.rcode.to_text(msg.rcode())}"
            return _Keys("indeterminate", reason=why)
        keys = _find(msg.answer, zone, _DNSKEY)
        if keys is None:
            return _Keys("bogus", reason=f"{zone} publishes no DNSKEY records")
        sigs = _find(msg.answer, zone, _RRSIG, _DNSKEY)
        if sigs is None:
            return _Keys("bogus", reason=f"the DNSKEY records of {zone} are not signed")
        return keys, sigs

    def _trusted_by(
        self,
        zone: dns.name.Name,
        keys: dns.rrset.RRset,
        sigs: dns.rrset.RRset,
        trusted: Iterable[Any],
    ) -> str | None:
        """None when a key matching a DS or DNSKEY of ``trusted`` signed the DNSKEY rrset."""
        matching = []
        ds_digests = {}
        for item in trusted:
            if isinstance(item, dns.rdtypes.ANY.DS.DS):
                ds_digests[(item.key_tag, item.algorithm, item.digest_type)] = item.digest
        for key in keys:
            if any(key == t for t in trusted if isinstance(t, dns.rdtypes.ANY.DNSKEY.DNSKEY)):
                matching.append(key)
                continue
            tag = dns.dnssec.key_id(key)
            for (ds_tag, alg, digest_type), digest in ds_digests.items():
                if ds_tag != tag or alg != key.algorithm:
                    continue
                try:
                    made = dns.dnssec.make_ds(zone, key, digest_type)
                except (dns.exception.UnsupportedAlgorithm, ValueError):
                    continue
                if made.digest == digest:
                    matching.append(key)
        if not matching:
            return f"no DNSKEY of {zone} matches its DS records"
        subset = dns.rrset.from_rdata_list(zone, keys.ttl, matching)
        return self._verify(keys, sigs, zone, subset)

    async def _zone_keys(self, zone: dns.name.Name) -> _Keys:
        if zone in self.anchors:
            got = await self._dnskeys(zone)
            if isinstance(got, _Keys):
                return _Keys(got.security, reason=f"{got.reason} (the trust anchor is for {zone})")
            problem = self._trusted_by(zone, *got, self.anchors[zone])
            if problem is not None:
                return _Keys("bogus", reason=f"{zone} does not match the trust anchor: {problem}")
            return _Keys("secure", got[0])
        if zone == dns.name.root:
            return _Keys("indeterminate", reason="no trust anchor covers this name")
        msg = await self._query(zone, _DS)
        if isinstance(msg, str):
            return _Keys("indeterminate", reason=msg)
        if msg.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            reason = f"the DS lookup for {zone} got {dns.rcode.to_text(msg.rcode())}"
            return _Keys("indeterminate", reason=reason)
        ds = _find(msg.answer, zone, _DS)
        if ds is not None:
            sigs = _find(msg.answer, zone, _RRSIG, _DS)
            parent = sigs[0].signer if sigs is not None else await self._zone_of(zone.parent())
            if parent == zone or not zone.is_subdomain(parent):
                return _Keys("bogus", reason=f"the DS of {zone} is signed by {parent}")
            pkeys = await self._zone(parent)
            if pkeys.security != "secure" or pkeys.keys is None:
                return _Keys(pkeys.security, reason=pkeys.reason)
            if sigs is None:
                return _Keys("bogus", reason=f"the DS records of {zone} are not signed")
            problem = self._verify(ds, sigs, parent, pkeys.keys)
            if problem is not None:
                return _Keys("bogus", reason=f"the DS records of {zone}: {problem}")
            if not any(_supported(rd) for rd in ds):  # RFC 4035 §5.2: as if unsigned
                algorithms = ", ".join(sorted({f"{rd.algorithm}/{rd.digest_type}" for rd in ds}))
                why = (
                    f"the DS records of {zone} use only algorithms this validator does not "
                    f"support ({algorithms}): treated as unsigned (RFC 4035 §5.2)"
                )
                return _Keys("insecure", reason=why)
            got = await self._dnskeys(zone)
            if isinstance(got, _Keys):
                return _Keys(got.security, reason=f"{zone} has a DS in {parent}, but {got.reason}")
            problem = self._trusted_by(zone, *got, list(ds))
            if problem is not None:
                return _Keys("bogus", reason=problem)
            return _Keys("secure", got[0])
        # no DS: provably an unsigned delegation (insecure), or an attack (bogus)
        soa = next((r for r in msg.authority if r.rdtype == _SOA), None)
        parent = soa.name if soa is not None and soa.name != zone else None
        if parent is None:
            parent = await self._zone_of(zone.parent())
        pkeys = await self._zone(parent)
        if pkeys.security != "secure" or pkeys.keys is None:
            return _Keys(pkeys.security, reason=pkeys.reason)
        proofs: list[dns.rrset.RRset] = []
        for rrset in msg.authority:
            if rrset.rdtype not in (_NSEC, _NSEC3):
                continue
            sigs = _find(msg.authority, rrset.name, _RRSIG, rrset.rdtype)
            if sigs is None or self._verify(rrset, sigs, parent, pkeys.keys) is not None:
                return _Keys("bogus", reason=f"{parent}'s proof that {zone} has no DS is bad")
            proofs.append(rrset)
        found: Found = "nxdomain" if msg.rcode() == dns.rcode.NXDOMAIN else "nodata"
        if proofs and _proves(proofs, zone, _DS, found, parent, delegation=True):
            return _Keys("insecure", reason=f"{parent} proves that {zone} is not signed (no DS)")
        return _Keys("bogus", reason=f"{zone} has no DS in the signed {parent}, and no proof")


# -- helpers ------------------------------------------------------------------------------

#: DS digest types dnspython computes: SHA-1, SHA-256, SHA-384
_DIGESTS = (1, 2, 4)


def _supported(ds: Any) -> bool:
    """A DS record whose key algorithm and digest type this validator can check."""
    from dns.dnssecalgs import get_algorithm_cls

    if ds.digest_type not in _DIGESTS:
        return False
    try:
        get_algorithm_cls(ds.algorithm)
    except dns.exception.UnsupportedAlgorithm:
        return False
    return True


def _find(
    section: Sequence[dns.rrset.RRset],
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    covers: dns.rdatatype.RdataType = dns.rdatatype.NONE,
) -> dns.rrset.RRset | None:
    for rrset in section:
        if rrset.rdtype == rdtype and rrset.covers == covers and rrset.name == name:
            return rrset
    return None


_ORDER: dict[Security, int] = {"secure": 0, "insecure": 1, "indeterminate": 2, "bogus": 3}


def _worse(
    a: tuple[Security, str | None, str | None], b: tuple[Security, str | None, str | None]
) -> tuple[Security, str | None, str | None]:
    return b if _ORDER[b[0]] > _ORDER[a[0]] else a


def _why(sigs: dns.rrset.RRset, now: float, detail: str) -> str:
    """A validation failure in words: expired / not yet valid signatures first."""
    if all(sig.expiration < now for sig in sigs):
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(max(s.expiration for s in sigs)))
        return f"its signature expired on {when}"
    if all(sig.inception > now for sig in sigs):
        return "its signature is not valid yet"
    return f"the signature does not verify ({detail})"


def _proves(
    proofs: Sequence[dns.rrset.RRset],
    qname: dns.name.Name,
    qtype: dns.rdatatype.RdataType,
    found: Found,
    zone: dns.name.Name,
    delegation: bool = False,
) -> bool:
    """Do these (validated) NSEC / NSEC3 records prove the denial (RFC 4035 §5.4,
    RFC 5155 §8)? ``delegation``: the DS denial of an unsigned child, where NSEC3
    opt-out also counts."""
    nsec = [(r.name, rd) for r in proofs if r.rdtype == _NSEC for rd in r]
    if nsec:
        return _nsec_proves(nsec, qname, qtype, found)
    nsec3 = [(r.name, rd) for r in proofs if r.rdtype == _NSEC3 for rd in r]
    return _nsec3_proves(nsec3, qname, qtype, found, zone, delegation)


def _nsec_proves(
    nsec: Sequence[tuple[dns.name.Name, Any]],
    qname: dns.name.Name,
    qtype: dns.rdatatype.RdataType,
    found: Found,
) -> bool:
    type_name = dns.rdatatype.to_text(qtype)
    if found == "nodata":
        for owner, rd in nsec:
            if owner == qname:
                types = _types(rd)
                return type_name not in types and "CNAME" not in types
        # a wildcard NODATA: the name is covered, the wildcard has no such type
        return any(_covers(o, rd.next, qname) for o, rd in nsec) and any(
            o.labels[0] == b"*" and type_name not in _types(rd) for o, rd in nsec
        )
    covering = [(o, rd) for o, rd in nsec if _covers(o, rd.next, qname)]
    if not covering:
        return False
    # the closest encloser: the longest ancestor shared with the covering NSEC's ends
    owner, rd = covering[0]
    encloser = qname.parent()
    while encloser != dns.name.root and not (
        owner.is_subdomain(encloser) or rd.next.is_subdomain(encloser)
    ):
        encloser = encloser.parent()
    wildcard = dns.name.Name((b"*", *encloser.labels))
    return any(_covers(o, r.next, wildcard) or o == wildcard for o, r in nsec)


def _nsec3_proves(
    nsec3: Sequence[tuple[dns.name.Name, Any]],
    qname: dns.name.Name,
    qtype: dns.rdatatype.RdataType,
    found: Found,
    zone: dns.name.Name,
    delegation: bool,
) -> bool:
    if not nsec3:
        return False
    rd0 = nsec3[0][1]
    if rd0.algorithm != 1:
        return False

    def hashed(name: dns.name.Name) -> str:
        return dns.dnssec.nsec3_hash(name, rd0.salt, rd0.iterations, rd0.algorithm).upper()

    entries = [(o.labels[0].decode().upper(), rd) for o, rd in nsec3 if o.labels]

    def matching(name: dns.name.Name) -> Any:
        h = hashed(name)
        return next((rd for owner, rd in entries if owner == h), None)

    def covering(name: dns.name.Name) -> Any:
        h = hashed(name)
        for owner, rd in entries:
            nxt = base64.b32hexencode(rd.next).decode().rstrip("=")
            if _hash_covers(owner, nxt, h):
                return rd
        return None

    type_name = dns.rdatatype.to_text(qtype)
    exact = matching(qname)
    if exact is not None:
        types = _types(exact)
        return found == "nodata" and type_name not in types and "CNAME" not in types
    # closest encloser proof (RFC 5155 §7.2.1)
    name = qname
    while name != zone and name.is_subdomain(zone):
        parent = name.parent()
        if matching(parent) is not None:
            cover = covering(name)
            if cover is None:
                return False
            if delegation and cover.flags & 1:  # opt-out: an unsigned delegation may hide
                return True
            if found == "nodata":
                wildcard = matching(dns.name.Name((b"*", *parent.labels)))
                return wildcard is not None and type_name not in _types(wildcard)
            return covering(dns.name.Name((b"*", *parent.labels))) is not None
        name = parent
    return False


# -- the I/O-facing constructors -------------------------------------------------------


Mode = Literal["validate", "trust-ad"]


def message_security(msg: dns.message.Message) -> Security:
    """``trust-ad``: a validating resolver's verdict is its AD bit."""
    return "secure" if msg.flags & dns.flags.AD else "insecure"


async def trust_ad_check(fetch: Fetch, name: str, rdtype: str) -> Validated:
    """``--dnssec trust-ad``: one query, AD set in it (RFC 6840 §5.7); a SERVFAIL from a
    validating resolver usually means the data is bogus."""
    try:
        qname = dns.name.from_text(name)
        qtype = dns.rdatatype.from_text(rdtype)
    except (dns.exception.DNSException, ValueError) as exc:
        return Validated(name, rdtype, "indeterminate", "error", reason=str(exc))
    msg = await fetch(qname, qtype)
    if isinstance(msg, str):
        return Validated(name, rdtype, "indeterminate", "error", reason=msg)
    rcode = msg.rcode()
    if rcode == dns.rcode.SERVFAIL:
        why = "the resolver answered SERVFAIL: a validating resolver does that for bogus data"
        return Validated(name, rdtype, "bogus", "error", reason=why)
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        why = f"the resolver answered {dns.rcode.to_text(rcode)}"
        return Validated(name, rdtype, "indeterminate", "error", reason=why)
    security = message_security(msg)
    reason = None if security == "secure" else "the resolver did not set AD (not validated)"
    current = qname
    for _ in range(MAX_CNAMES + 1):
        rrset = _find(msg.answer, current, qtype) or _find(msg.answer, current, _CNAME)
        if rrset is None:
            break
        if rrset.rdtype != _CNAME or qtype == _CNAME:
            values = tuple(r.to_text() for r in rrset)
            target = current.to_text(omit_final_dot=True) if current != qname else None
            return Validated(name, rdtype, security, "answer", values, reason, None, target)
        current = rrset[0].target
    found: Found = "nxdomain" if rcode == dns.rcode.NXDOMAIN else "nodata"
    return Validated(name, rdtype, security, found, (), reason)


__all__ = [
    "ROOT_ANCHORS",
    "Validator",
    "load_anchors",
    "parse_anchors",
    "trust_ad_check",
]
