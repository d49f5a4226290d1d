"""DNSSEC for the fake DNS server: sign served zones at load time, find denial proofs.

Test infrastructure (used by :mod:`smtpdiag.testing.dns_server`). :func:`sign_zones` takes
the loaded zones and a :class:`DNSSECConfig` and returns copies of the zones to sign,
signed with a fresh ECDSAP256SHA256 key each (one CSK, flags 257, algorithm 13), plus the
trust anchors. What it does to each signed zone, deepest zones first:

* every served child zone (the zones whose longest strictly enclosing served zone this is)
  gets a delegation: the child's apex NS rrset is copied in when the parent has no NS at
  the child's origin (``ns.<child>`` if the child has none either), so that a parent that
  holds no DS for a child can prove it with the NSEC (or NSEC3) at the delegation;
* a signed child gets its DS (SHA-256) in the parent, unless it is listed in ``no_ds``;
* DNSKEY (and NSEC3PARAM ``1 0 0 -`` for ``nsec3`` zones: SHA-1, no opt-out, no
  iterations, no salt) are added at the apex, every authoritative rrset is signed (at a
  delegation point only DS; nothing below one), and the NSEC or NSEC3 chain is built and
  signed. A zone without a SOA gets the SOA the server would synthesize for it;
* RRSIG, NSEC, NSEC3, NSEC3PARAM and apex DNSKEY records already in a zone are replaced;
* ``expired`` zones are signed with inception and expiration in the past, and the RRSIG
  over each ``bogus`` rrset has its signature bytes inverted.

The trust anchors are the DS and DNSKEY of every signed zone whose parent zone is not
served or not signed (normally just the root zone, served from a file named ``..zone``).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Mapping
from typing import Literal

import dns.dnssectypes
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.NSEC3PARAM
import dns.rdtypes.ANY.RRSIG
import dns.rdtypes.ANY.SOA
import dns.rrset
import dns.zone

from smtpdiag.core.records import record

__all__ = [
    "DNSSECConfig",
    "Denial",
    "SignedZones",
    "default_soa",
    "parent_zone",
    "parse_config",
    "serving_zone",
    "sign_zones",
    "zone_filename",
    "zone_text",
]

Name = dns.name.Name
RdataType = dns.rdatatype.RdataType
_IN = dns.rdataclass.IN
_T = dns.rdatatype
_WILDCARD = dns.name.Name((b"*",))
KEY_FLAGS = 257  # ZONE | SEP: one combined signing key per zone
SIGNATURE_LIFETIME = 30 * 86400
CLOCK_SKEW = 3600  # inception this far in the past
NSEC3PARAM_TEXT = "1 0 0 -"  # RFC 9276: SHA-1, no opt-out, no extra iterations, no salt
_DNSSEC_TYPES = frozenset({_T.RRSIG, _T.NSEC, _T.NSEC3, _T.NSEC3PARAM})
_CONFIG_KEYS = ("sign", "no_ds", "bogus", "expired", "nsec3")


@record
class DNSSECConfig:
    """Which served zones to sign, and how to break some of them (``[dnssec]`` table)."""

    sign: frozenset[Name] = frozenset()
    sign_all: bool = False  # sign = ["*"]
    no_ds: frozenset[Name] = frozenset()
    bogus: frozenset[tuple[Name, RdataType]] = frozenset()
    expired: frozenset[Name] = frozenset()
    nsec3: frozenset[Name] = frozenset()
    ad: bool = False  # the server sets AD on answers made only of secure data

    @classmethod
    def of(
        cls,
        sign: Iterable[str] = (),
        no_ds: Iterable[str] = (),
        bogus: Iterable[str] = (),
        expired: Iterable[str] = (),
        nsec3: Iterable[str] = (),
        ad: bool = False,
    ) -> DNSSECConfig:
        """Build from text: domain names, ``"*"`` in *sign* for every zone, and
        ``"owner/TYPE"`` strings in *bogus*; raises ``ValueError`` on bad input."""
        sign = list(sign)
        return cls(
            frozenset(_names(n for n in sign if n != "*")),
            "*" in sign,
            frozenset(_names(no_ds)),
            frozenset(map(parse_rrset_key, bogus)),
            frozenset(_names(expired)),
            frozenset(_names(nsec3)),
            ad,
        )

    @property
    def enabled(self) -> bool:
        """Whether any zone is to be signed."""
        return self.sign_all or bool(self.sign)


def _names(texts: Iterable[str]) -> list[Name]:
    names = []
    for text in texts:
        try:
            names.append(dns.name.from_text(text))
        except dns.exception.DNSException as exc:
            raise ValueError(f"bad domain name {text!r}: {exc}") from exc
    return names


def parse_rrset_key(text: str) -> tuple[Name, RdataType]:
    """``"owner/TYPE"`` (e.g. ``"_25._tcp.mx.example./TLSA"``) as (name, type)."""
    owner, slash, rdtype = text.rpartition("/")
    if not slash or not owner:
        raise ValueError(f"bogus entry {text!r} is not of the form 'owner/TYPE'")
    try:
        parsed = dns.rdatatype.from_text(rdtype)
    except dns.exception.DNSException as exc:
        raise ValueError(f"bogus entry {text!r}: unknown type {rdtype!r}") from exc
    if dns.rdatatype.is_metatype(parsed) or parsed == _T.RRSIG:
        raise ValueError(f"bogus entry {text!r}: {rdtype} rrsets are not signed")
    return _names([owner])[0], parsed


def parse_config(table: object, where: str = "[dnssec]") -> DNSSECConfig:
    """Validate a parsed ``[dnssec]`` TOML table; errors are ``ValueError`` naming *where*."""
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table")
    unknown = set(table) - {*_CONFIG_KEYS, "ad"}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
    lists: dict[str, list[str]] = {}
    for key in _CONFIG_KEYS:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            what = "'owner/TYPE' strings" if key == "bogus" else "domain names"
            raise ValueError(f"{where}: {key!r} must be a list of {what}")
        lists[key] = value
    ad = table.get("ad", False)
    if not isinstance(ad, bool):
        raise ValueError(f"{where}: 'ad' must be true or false")
    try:
        return DNSSECConfig.of(**lists, ad=ad)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def default_soa(origin: Name) -> dns.rdataset.Rdataset:
    """The SOA the server synthesizes for a zone file without one (TTL 60)."""
    ns = dns.name.Name((b"ns",)).concatenate(origin)  # works for the root too
    host = dns.name.Name((b"hostmaster",)).concatenate(origin)
    rdata = dns.rdata.from_text(_IN, _T.SOA, f"{ns} {host} 1 3600 600 86400 60")
    return dns.rdataset.from_rdata(60, rdata)


def parent_zone(origin: Name, served: Iterable[Name]) -> Name | None:
    """The served zone with the longest origin strictly containing *origin*."""
    best: Name | None = None
    for other in served:
        if (
            origin != other
            and origin.is_subdomain(other)
            and (best is None or len(other) > len(best))
        ):
            best = other
    return best


def serving_zone(owner: Name, rdtype: RdataType, served: Iterable[Name]) -> Name | None:
    """The served zone that answers for *owner*/*rdtype*: the longest origin containing it,
    except that DS at a zone's apex comes from its parent zone when that is served."""
    served = list(served)
    best: Name | None = None
    for origin in served:
        if owner.is_subdomain(origin) and (best is None or len(origin) > len(best)):
            best = origin
    if best is not None and best == owner and rdtype == _T.DS:
        return parent_zone(owner, served) or best
    return best


class SignedZones:
    """The result of :func:`sign_zones`."""

    def __init__(
        self,
        zones: dict[Name, dns.zone.Zone],
        signed: frozenset[Name],
        secure: frozenset[Name],
        bogus: frozenset[tuple[Name, RdataType]],
        anchors: tuple[dns.rrset.RRset, ...],
    ) -> None:
        #: Every served zone: signed copies of the signed ones, the others as given.
        self.zones = zones
        #: Origins of the signed zones.
        self.signed = signed
        #: Signed zones whose chain of trust is intact: not expired, DNSKEY not bogus, and
        #: either a trust anchor or with a secure parent that holds a non-bogus DS for it.
        self.secure = secure
        #: (owner, type) of the rrsets whose RRSIG was corrupted.
        self.bogus = bogus
        #: DS and DNSKEY rrsets of the trust anchor zones.
        self.anchors = anchors

    @property
    def anchor_text(self) -> str:
        """The trust anchors as zone-file lines (``. 3600 IN DS ...``); empty if none."""
        return "".join(rrset.to_text() + "\n" for rrset in self.anchors)


def sign_zones(
    zones: Mapping[Name, dns.zone.Zone], config: DNSSECConfig, now: float | None = None
) -> SignedZones:
    """Sign the zones *config* names (see the module docstring); *zones* is not modified.

    Raises ``ValueError`` when *config* names a zone that is not served or (for
    ``no_ds``, ``expired``, ``nsec3``) not signed, or a ``bogus`` rrset that is not signed.
    """
    import dns.dnssec  # with cryptography: only when signing (the demo never does)

    served = frozenset(zones)
    to_sign = served if config.sign_all else config.sign
    for key, names in (("sign", config.sign), ("no_ds", config.no_ds)):
        if names - served:
            missing = ", ".join(map(str, sorted(names - served)))
            raise ValueError(f"[dnssec] {key}: {missing}: no such served zone")
    for key, names in (
        ("no_ds", config.no_ds),
        ("expired", config.expired),
        ("nsec3", config.nsec3),
    ):
        if names - to_sign:
            unsigned = ", ".join(map(str, sorted(names - to_sign)))
            raise ValueError(f"[dnssec] {key}: {unsigned}: zone not signed (add it to 'sign')")
    parents = {origin: parent_zone(origin, served) for origin in served}
    when = int(time.time() if now is None else now)
    out = dict(zones)
    keys: dict[Name, dns.rdataset.Rdataset] = {}  # origin -> DNSKEY rdataset
    for origin in sorted(to_sign, key=len, reverse=True):  # children before parents
        zone = _copy_zone(zones[origin])
        for child in sorted(c for c, p in parents.items() if p == origin):
            _delegate(zone, child, zones[child])
            if child in keys and child not in config.no_ds:
                dnskeys = keys[child]
                ds = dns.dnssec.make_ds(child, dnskeys[0], "SHA256")
                zone.replace_rdataset(child, dns.rdataset.from_rdata(dnskeys.ttl, ds))
        if origin in config.expired:
            inception, expiration = when - 2 * SIGNATURE_LIFETIME, when - SIGNATURE_LIFETIME
        else:
            inception, expiration = when - CLOCK_SKEW, when + SIGNATURE_LIFETIME
        keys[origin] = _sign_zone(zone, inception, expiration, origin in config.nsec3)
        out[origin] = zone
    for owner, rdtype in sorted(config.bogus):
        _corrupt(out, to_sign, owner, rdtype)

    anchor_zones = sorted(o for o in to_sign if parents[o] not in to_sign)
    secure: set[Name] = set()
    for origin in sorted(to_sign, key=len):  # parents before children
        parent = parents[origin]
        intact = origin in anchor_zones or (
            parent in secure and origin not in config.no_ds and (origin, _T.DS) not in config.bogus
        )
        if intact and origin not in config.expired and (origin, _T.DNSKEY) not in config.bogus:
            secure.add(origin)
    anchors: list[dns.rrset.RRset] = []
    for origin in anchor_zones:
        dnskeys = keys[origin]
        ds = dns.dnssec.make_ds(origin, dnskeys[0], "SHA256")
        anchors.append(dns.rrset.from_rdata_list(origin, dnskeys.ttl, [ds]))
        anchors.append(dns.rrset.from_rdata_list(origin, dnskeys.ttl, list(dnskeys)))
    return SignedZones(out, frozenset(to_sign), frozenset(secure), config.bogus, tuple(anchors))


def _copy_zone(zone: dns.zone.Zone) -> dns.zone.Zone:
    """A copy of *zone* (absolute names) without its DNSSEC records."""
    origin = zone.origin
    assert origin is not None
    copy = dns.zone.Zone(origin, zone.rdclass, relativize=False)
    for relative, node in zone.nodes.items():
        name = relative.derelativize(origin)
        for rds in node.rdatasets:
            if rds.rdtype in _DNSSEC_TYPES or (rds.rdtype == _T.DNSKEY and name == origin):
                continue
            copy.replace_rdataset(name, dns.rdataset.from_rdata_list(rds.ttl, list(rds)))
    if copy.get_rdataset(origin, _T.SOA) is None:
        copy.replace_rdataset(origin, default_soa(origin))
    return copy


def _delegate(zone: dns.zone.Zone, child: Name, child_zone: dns.zone.Zone) -> None:
    """Make sure the parent *zone* delegates *child* (NS at the child's origin)."""
    if zone.get_rdataset(child, _T.NS) is not None:
        return
    ns = child_zone.get_rdataset(child, _T.NS)
    if ns is None:
        target = dns.name.Name((b"ns",)).concatenate(child)
        ns = dns.rdataset.from_rdata(3600, dns.rdata.from_text(_IN, _T.NS, target.to_text()))
    zone.replace_rdataset(child, dns.rdataset.from_rdata_list(ns.ttl, list(ns)))


def _below_cut(name: Name, cuts: set[Name] | frozenset[Name], origin: Name) -> bool:
    """Whether *name* lies strictly below one of the zone's delegation points."""
    while name != origin and len(name) > len(origin):
        name = name.parent()
        if name in cuts:
            return True
    return False


def _sign_zone(
    zone: dns.zone.Zone, inception: int, expiration: int, nsec3: bool
) -> dns.rdataset.Rdataset:
    """Sign *zone* in place with a new key; return its DNSKEY rdataset."""
    import dns.dnssec
    from cryptography.hazmat.primitives.asymmetric import ec

    origin = zone.origin
    assert origin is not None
    private = ec.generate_private_key(ec.SECP256R1())
    dnskey = dns.dnssec.make_dnskey(
        private.public_key(), dns.dnssectypes.Algorithm.ECDSAP256SHA256, flags=KEY_FLAGS
    )
    assert isinstance(dnskey, dns.rdtypes.ANY.DNSKEY.DNSKEY)
    soa = zone.get_rdataset(origin, _T.SOA)
    assert soa is not None
    soa_rdata = soa[0]
    assert isinstance(soa_rdata, dns.rdtypes.ANY.SOA.SOA)
    negative_ttl = min(soa.ttl, soa_rdata.minimum)  # RFC 9077
    zone.replace_rdataset(origin, dns.rdataset.from_rdata(soa.ttl, dnskey))
    if nsec3:
        param = dns.rdata.from_text(_IN, _T.NSEC3PARAM, NSEC3PARAM_TEXT)
        zone.replace_rdataset(origin, dns.rdataset.from_rdata(0, param))

    def sign(name: Name, rds: dns.rdataset.Rdataset) -> None:
        rrsig = dns.dnssec.sign(
            (name, rds),
            private,
            origin,
            dnskey,
            inception=inception,
            expiration=expiration,
            origin=origin,
            deterministic=False,
        )
        zone.nodes[name].replace_rdataset(dns.rdataset.from_rdata(rds.ttl, rrsig))

    names = sorted(zone.nodes)
    cuts = {n for n in names if n != origin and zone.nodes[n].get_rdataset(_IN, _T.NS)}
    authoritative = [n for n in names if not _below_cut(n, cuts, origin)]
    for name in authoritative:
        for rds in list(zone.nodes[name].rdatasets):
            if name not in cuts or rds.rdtype == _T.DS:
                sign(name, rds)

    def present(name: Name) -> set[RdataType]:
        types = {rds.rdtype for rds in zone.nodes[name].rdatasets}
        return types & {_T.NS, _T.DS, _T.RRSIG} if name in cuts else types

    chain: list[tuple[Name, dns.rdata.Rdata]] = []
    if nsec3:
        hashed: dict[str, tuple[Name, set[RdataType]]] = {}
        for name in authoritative:
            hashed[_nsec3_hash(name)] = (name, present(name))
            while name != origin:  # empty non-terminals get an NSEC3 too (RFC 5155 §7.1)
                name = name.parent()
                hashed.setdefault(_nsec3_hash(name), (name, set()))
        order = sorted(hashed)
        for i, digest in enumerate(order):
            following = order[(i + 1) % len(order)]
            types = _type_text(hashed[digest][1])
            text = f"{NSEC3PARAM_TEXT} {following.lower()}{types}"
            owner = dns.name.Name((digest.lower().encode(),)).concatenate(origin)
            chain.append((owner, dns.rdata.from_text(_IN, _T.NSEC3, text)))
    else:
        for i, owner in enumerate(authoritative):
            following_name = authoritative[(i + 1) % len(authoritative)]
            types = _type_text(present(owner) | {_T.NSEC, _T.RRSIG})
            nsec = dns.rdata.from_text(_IN, _T.NSEC, f"{following_name}{types}")
            chain.append((owner, nsec))
    for owner, rdata in chain:
        rds = dns.rdataset.from_rdata(negative_ttl, rdata)
        zone.find_node(owner, create=True).replace_rdataset(rds)
        sign(owner, rds)
    return dns.rdataset.from_rdata(soa.ttl, dnskey)


def _nsec3_hash(name: Name) -> str:
    import dns.dnssec

    return dns.dnssec.nsec3_hash(name, None, 0, 1)


def _type_text(types: Iterable[RdataType]) -> str:
    return "".join(" " + dns.rdatatype.to_text(t) for t in sorted(types))


def _corrupt(
    zones: Mapping[Name, dns.zone.Zone], signed: frozenset[Name], owner: Name, rdtype: RdataType
) -> None:
    """Invert the signature bytes of the RRSIG over *owner*/*rdtype*."""
    what = f"[dnssec] bogus: {owner}/{dns.rdatatype.to_text(rdtype)}"
    origin = serving_zone(owner, rdtype, zones)
    if origin is None:
        raise ValueError(f"{what} is in no served zone")
    if origin not in signed:
        raise ValueError(f"{what}: zone {origin} is not signed")
    zone = zones[origin]
    node = zone.get_node(owner)
    sigs = None if node is None else node.get_rdataset(_IN, _T.RRSIG, rdtype)
    if node is None or sigs is None:
        raise ValueError(f"{what}: zone {origin} has no signed rrset there")
    broken = []
    for rrsig in sigs:
        assert isinstance(rrsig, dns.rdtypes.ANY.RRSIG.RRSIG)
        broken.append(rrsig.replace(signature=bytes(b ^ 0xFF for b in rrsig.signature)))
    node.replace_rdataset(dns.rdataset.from_rdata_list(sigs.ttl, broken))


def zone_filename(origin: Name) -> str:
    """``<origin>.zone`` as :func:`~smtpdiag.testing.dns_server.load_zones` reads it
    (``example.test.zone``; the root zone is ``..zone``)."""
    return origin.to_text(omit_final_dot=True) + ".zone"


def zone_text(zone: dns.zone.Zone) -> str:
    """The zone as master-file text with ``$ORIGIN`` and absolute names."""
    return zone.to_text(sorted=True, relativize=False, nl="\n", want_origin=True)


class Denial:
    """Which NSEC or NSEC3 records of a signed zone prove a negative (or wildcard) answer.

    Built from the zone's content (so pre-signed zones work too): NSEC3 when the apex has
    an NSEC3PARAM, else NSEC. Every method returns (owner, NSEC or NSEC3) pairs, without
    duplicates, of records that exist in the zone.
    """

    def __init__(self, zone: dns.zone.Zone) -> None:
        origin = zone.origin
        assert origin is not None
        self.origin: Name = origin
        self._nsec: list[Name] = []
        self._nsec3: dict[str, Name] = {}
        self._param: dns.rdtypes.ANY.NSEC3PARAM.NSEC3PARAM | None = None
        params = zone.get_rdataset(origin, _T.NSEC3PARAM)
        if params is not None:
            param = params[0]
            assert isinstance(param, dns.rdtypes.ANY.NSEC3PARAM.NSEC3PARAM)
            self._param = param
        for name, node in zone.nodes.items():
            if node.get_rdataset(_IN, _T.NSEC) is not None:
                self._nsec.append(name)
            if node.get_rdataset(_IN, _T.NSEC3) is not None and len(name) == len(origin) + 1:
                self._nsec3[name[0].decode("ascii", "replace").upper()] = name
        self._nsec.sort()
        self._nsec_set = frozenset(self._nsec)
        self._hashes = sorted(self._nsec3)
        self.kind: Literal["nsec", "nsec3"] | None = (
            "nsec3" if self._param is not None and self._nsec3 else "nsec" if self._nsec else None
        )
        #: Owner names of NSEC3 records: not part of the zone's ordinary name space.
        self.hidden: frozenset[Name] = frozenset(self._nsec3.values())

    @classmethod
    def of(cls, zone: dns.zone.Zone) -> Denial | None:
        """The denial index of *zone*, or None if it has neither NSEC nor NSEC3 records."""
        denial = cls(zone)
        return denial if denial.kind is not None else None

    def nxdomain(self, qname: Name, encloser: Name) -> list[tuple[Name, RdataType]]:
        """*qname* does not exist; *encloser* is its closest encloser (RFC 4035 §3.1.3.2,
        RFC 5155 §7.2.2)."""
        wildcard = _WILDCARD.concatenate(encloser)
        if self.kind == "nsec3":
            return self._nsec3_proof(
                [(encloser, True), (_next_closer(qname, encloser), False), (wildcard, False)]
            )
        return self._nsec_proof([qname, wildcard])

    def nodata(self, qname: Name) -> list[tuple[Name, RdataType]]:
        """*qname* exists (maybe as an empty non-terminal) without the asked type."""
        if self.kind == "nsec3":
            return self._nsec3_proof([(qname, True)])
        return self._nsec_proof([qname])

    def wildcard_answer(self, qname: Name, encloser: Name) -> list[tuple[Name, RdataType]]:
        """An answer synthesized from ``*.<encloser>``: *qname* itself does not exist."""
        if self.kind == "nsec3":
            return self._nsec3_proof([(_next_closer(qname, encloser), False)])
        return self._nsec_proof([qname])

    def wildcard_nodata(self, qname: Name, encloser: Name) -> list[tuple[Name, RdataType]]:
        """``*.<encloser>`` matches *qname* but lacks the asked type (RFC 4035 §3.1.3.4)."""
        wildcard = _WILDCARD.concatenate(encloser)
        if self.kind == "nsec3":
            return self._nsec3_proof(
                [(encloser, True), (_next_closer(qname, encloser), False), (wildcard, True)]
            )
        return self._nsec_proof([qname, wildcard])

    def _nsec_proof(self, names: list[Name]) -> list[tuple[Name, RdataType]]:
        """The NSEC at each name, or else the one covering it (owner < name < next)."""
        owners: list[Name] = []
        for name in names:
            if name in self._nsec_set:
                owner = name
            else:  # index -1 wraps to the last NSEC, whose next name is the apex
                owner = self._nsec[bisect.bisect_right(self._nsec, name) - 1]
            if owner not in owners:
                owners.append(owner)
        return [(owner, _T.NSEC) for owner in owners]

    def _nsec3_proof(self, names: list[tuple[Name, bool]]) -> list[tuple[Name, RdataType]]:
        """The NSEC3 matching (True) or covering (False) the hash of each name."""
        import dns.dnssec

        assert self._param is not None
        owners: list[Name] = []
        for name, matching in names:
            digest = dns.dnssec.nsec3_hash(
                name, self._param.salt, self._param.iterations, self._param.algorithm
            )
            if matching:
                owner = self._nsec3.get(digest)
            else:
                owner = self._nsec3[self._hashes[bisect.bisect_left(self._hashes, digest) - 1]]
            if owner is not None and owner not in owners:
                owners.append(owner)
        return [(owner, _T.NSEC3) for owner in owners]


def _next_closer(qname: Name, encloser: Name) -> Name:
    """The name one label longer than the closest encloser on the way to *qname*."""
    return qname.split(len(encloser) + 1)[1]
