"""DNSSEC-signed zones served by the fake DNS server (smtpdiag.testing.dns_server/dnssec).

Real queries over loopback; every signature is checked with ``dns.dnssec.validate`` and
every DNSKEY is reached through the chain of DS records from the server's trust anchor.
"""

from __future__ import annotations

import base64
import bisect
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.NSEC
import dns.rdtypes.ANY.NSEC3
import dns.rdtypes.ANY.RRSIG
import dns.rrset
import dns.zone
import pytest

from smtpdiag.testing.dns_server import (
    Behaviour,
    DNSSECConfig,
    FakeDNSServer,
    ThreadedFakeDNS,
    load_behaviour,
    load_directory,
    load_zones,
    main,
)
from smtpdiag.testing.dnssec import sign_zones

N = dns.name.from_text
T = dns.rdatatype
IN = dns.rdataclass.IN
Keys = dict[dns.name.Name, dns.node.Node | dns.rdataset.Rdataset]

SOA = "SOA ns.{o} hostmaster.{o} 1 3600 600 86400 300"
BIG = " ".join(f'"{c * 190}"' for c in "ab")  # fits 512 bytes unsigned, not with its RRSIG
ZONES = {
    "..zone": f"""
$TTL 3600
@        {SOA.format(o="test.")}
@        NS    ns.test.
""",
    "test.zone": f"""
$TTL 3600
@        {SOA.format(o="test.")}
@        NS    ns.test.
ns       A     127.0.0.53
""",
    "good.test.zone": f"""
$TTL 300
@        {SOA.format(o="good.test.")}
@        NS    ns.good.test.
@        MX    10 mx.good.test.
ns       A     127.0.0.53
mx       A     127.0.0.25
_25._tcp.mx TLSA 3 1 1 {"ab" * 32}
www      CNAME mx
toplain  CNAME mx.plain.test.
*.wild   TXT   "wildcard"
big      TXT   {BIG}
""",
    "bogus.test.zone": f"""
$TTL 300
@        {SOA.format(o="bogus.test.")}
@        MX    10 mx.bogus.test.
mx       A     127.0.0.26
_25._tcp.mx TLSA 3 1 1 {"cd" * 32}
""",
    "island.test.zone": f"""
$TTL 300
@        {SOA.format(o="island.test.")}
@        NS    ns.island.test.
@        MX    10 mx.island.test.
mx       A     127.0.0.27
""",
    "expired.test.zone": f"""
$TTL 300
@        {SOA.format(o="expired.test.")}
@        MX    10 mx.expired.test.
mx       A     127.0.0.28
""",
    "hashed.test.zone": f"""
$TTL 300
@        {SOA.format(o="hashed.test.")}
@        MX    10 mx.hashed.test.
mx       A     127.0.0.29
x.ent    A     127.0.0.30
*.wild   TXT   "wildcard"
""",
    "plain.test.zone": f"""
$TTL 300
@        {SOA.format(o="plain.test.")}
@        MX    10 mx.plain.test.
mx       A     127.0.0.31
""",
}
SIGNED = [".", "test.", "good.test.", "bogus.test.", "island.test.", "expired.test."]
BEHAVIOUR = f"""
[dnssec]
sign = {json.dumps([*SIGNED, "hashed.test."])}
no_ds = ["island.test."]
bogus = ["_25._tcp.mx.bogus.test./TLSA"]
expired = ["expired.test."]
nsec3 = ["hashed.test."]
ad = true
"""


def write_zones(directory: Path, behaviour: str | None = BEHAVIOUR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for filename, text in ZONES.items():
        (directory / filename).write_text(text)
    if behaviour is not None:
        (directory / "behaviour.toml").write_text(behaviour)
    return directory


@pytest.fixture(scope="module")
def zone_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_zones(tmp_path_factory.mktemp("signed"))


@pytest.fixture(scope="module")
def server(zone_dir: Path) -> Iterator[ThreadedFakeDNS]:
    with ThreadedFakeDNS.from_directory(zone_dir) as running:
        yield running


def ask(
    server: ThreadedFakeDNS | FakeDNSServer,
    name: str | dns.name.Name,
    rdtype: str,
    *,
    dnssec: bool = True,
    edns: bool = True,
    tcp: bool = True,
    ad: bool = False,
) -> dns.message.Message:
    """One raw query (TCP unless asked otherwise, so that nothing is truncated)."""
    query = dns.message.make_query(name, rdtype, use_edns=0 if edns else False)
    if dnssec:
        query.want_dnssec(True)
    if ad:
        query.flags |= dns.flags.AD
    host, port = server.address
    if tcp:
        return dns.query.tcp(query, host, port=port, timeout=2)
    return dns.query.udp(query, host, port=port, timeout=2)


def pair(
    section: list[dns.rrset.RRset], name: str | dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> tuple[dns.rrset.RRset, dns.rrset.RRset]:
    """The rrset *name*/*rdtype* of *section* and the RRSIG rrset covering it."""
    name = N(name) if isinstance(name, str) else name
    rrset = next((r for r in section if r.name == name and r.rdtype == rdtype), None)
    sigs = next(
        (r for r in section if r.name == name and r.rdtype == T.RRSIG and r.covers == rdtype),
        None,
    )
    assert rrset is not None, f"no {name}/{rdtype!r} in {section}"
    assert sigs is not None, f"no RRSIG over {name}/{rdtype!r} in {section}"
    return rrset, sigs


def of_type(
    section: list[dns.rrset.RRset], rdtype: dns.rdatatype.RdataType
) -> list[dns.rrset.RRset]:
    return [rrset for rrset in section if rrset.rdtype == rdtype]


def anchors(text: str) -> dns.zone.Zone:
    """The trust anchor lines as a zone (owner names are absolute)."""
    return dns.zone.from_text(text, origin=dns.name.root, relativize=False, check_origin=False)


def trusted_keys(server: ThreadedFakeDNS, origin: str) -> Keys:
    """The DNSKEY rrset of *origin*, validated from the trust anchor down through the DS
    rrset served by each parent zone (all test zones are direct children of their parent)."""
    name = N(origin)
    dnskey, sigs = pair(ask(server, name, "DNSKEY").answer, name, T.DNSKEY)
    keys: Keys = {name: dnskey}
    dns.dnssec.validate(dnskey, sigs, keys)
    anchor = anchors(server.trust_anchors).get_rdataset(name, T.DS)
    if anchor is not None:
        ds: dns.rdataset.Rdataset = anchor
    else:
        response = ask(server, name, "DS")
        ds, ds_sigs = pair(response.answer, name, T.DS)
        dns.dnssec.validate(ds, ds_sigs, trusted_keys(server, name.parent().to_text()))
    assert any(dns.dnssec.make_ds(name, key, "SHA256") in ds for key in dnskey)
    return keys


def validate_all(response: dns.message.Message, keys: Keys) -> int:
    """Validate every non-RRSIG rrset of answer + authority; return how many there were."""
    count = 0
    for section in (response.answer, response.authority):
        for rrset in section:
            if rrset.rdtype != T.RRSIG:
                dns.dnssec.validate(rrset, pair(section, rrset.name, rrset.rdtype)[1], keys)
                count += 1
    return count


def covers(nsec: dns.rrset.RRset, name: dns.name.Name) -> bool:
    """Whether the NSEC proves that *name* does not exist (owner < name < next)."""
    rdata = nsec[0]
    assert isinstance(rdata, dns.rdtypes.ANY.NSEC.NSEC)
    following: dns.name.Name = rdata.next
    if nsec.name < following:
        return bool(nsec.name < name < following)
    return bool(name > nsec.name)  # the last NSEC: its next name is the apex


def types(rrset: dns.rrset.RRset) -> set[str]:
    """The type bitmap of an NSEC or NSEC3 rrset."""
    rdata = rrset[0]
    assert isinstance(rdata, dns.rdtypes.ANY.NSEC.NSEC | dns.rdtypes.ANY.NSEC3.NSEC3)
    return set(rdata.to_text().split()[1 if rdata.rdtype == T.NSEC else 5 :])


def nsec3_hash(name: str) -> str:
    return dns.dnssec.nsec3_hash(N(name), None, 0, 1).lower()


def nsec3_covers(rrset: dns.rrset.RRset, name: str) -> bool:
    rdata = rrset[0]
    assert isinstance(rdata, dns.rdtypes.ANY.NSEC3.NSEC3)
    owner: str = rrset.name[0].decode()
    digest = nsec3_hash(name)
    following = base64.b32hexencode(bytes(rdata.next)).decode().lower()
    if owner < following:
        return owner < digest < following
    return digest > owner or digest < following


def dnssec_types(message: dns.message.Message) -> set[dns.rdatatype.RdataType]:
    return {
        rrset.rdtype
        for section in (message.answer, message.authority, message.additional)
        for rrset in section
        if rrset.rdtype in (T.RRSIG, T.NSEC, T.NSEC3)
    }


# -- behaviour.toml -----------------------------------------------------------------------


def test_behaviour_toml_dnssec_table(zone_dir: Path) -> None:
    behaviour = load_behaviour(zone_dir / "behaviour.toml")
    config = behaviour.dnssec
    assert config.sign == frozenset(map(N, [*SIGNED, "hashed.test."]))
    assert not config.sign_all
    assert config.no_ds == {N("island.test.")}
    assert config.bogus == {(N("_25._tcp.mx.bogus.test."), T.TLSA)}
    assert config.expired == {N("expired.test.")}
    assert config.nsec3 == {N("hashed.test.")}
    assert config.ad is True
    assert config == DNSSECConfig.of(
        sign=[*SIGNED, "hashed.test."],
        no_ds=["island.test"],  # relative names are made absolute
        bogus=["_25._tcp.mx.bogus.test/TLSA"],
        expired=["expired.test."],
        nsec3=["hashed.test."],
        ad=True,
    )
    star = zone_dir.parent / "star.toml"
    star.write_text('[dnssec]\nsign = ["*"]\n')
    assert load_behaviour(star).dnssec == DNSSECConfig(sign_all=True)
    assert load_behaviour(star).dnssec.enabled
    assert not Behaviour().dnssec.enabled


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('dnssec = ["x."]', "must be a table"),
        ('[dnssec]\nsigned = ["x."]', r"unknown key\(s\) \['signed'\]"),
        ('[dnssec]\nsign = "x."', "'sign' must be a list of domain names"),
        ("[dnssec]\nno_ds = [1]", "'no_ds' must be a list of domain names"),
        ('[dnssec]\nexpired = "x."', "'expired' must be a list"),
        ("[dnssec]\nnsec3 = [true]", "'nsec3' must be a list"),
        ('[dnssec]\nbogus = "a./TLSA"', "'bogus' must be a list of 'owner/TYPE'"),
        ('[dnssec]\nbogus = ["a.example."]', "not of the form 'owner/TYPE'"),
        ('[dnssec]\nbogus = ["a.example./NOTATYPE"]', "unknown type 'NOTATYPE'"),
        ('[dnssec]\nbogus = ["a.example./RRSIG"]', "not signed"),
        ('[dnssec]\nad = "yes"', "'ad' must be true or false"),
        ('[dnssec]\nsign = ["a..b."]', "bad domain name 'a..b.'"),
    ],
)
def test_behaviour_toml_dnssec_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "behaviour.toml"
    path.write_text(text + "\n")
    with pytest.raises(ValueError, match=match) as caught:
        load_behaviour(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (DNSSECConfig.of(sign=["nowhere.test."]), r"sign: nowhere\.test\.: no such served zone"),
        (DNSSECConfig.of(sign=["test."], expired=["good.test."]), "expired: good.test.: zone not"),
        (DNSSECConfig.of(sign=["test."], no_ds=["good.test."]), "no_ds: good.test.: zone not"),
        (DNSSECConfig.of(sign=["test."], nsec3=["plain.test."]), "nsec3: plain.test.: zone not"),
        (DNSSECConfig.of(sign=["*"], bogus=["nope.good.test./A"]), "no signed rrset there"),
        (DNSSECConfig.of(sign=["test."], bogus=["mx.good.test./A"]), "good.test. is not signed"),
        (DNSSECConfig.of(sign=["*"], bogus=["mx.elsewhere./A"]), "zone . has no signed rrset"),
        (DNSSECConfig.of(sign=["test."], bogus=["x.elsewhere./A"]), "in no served zone"),
        (
            DNSSECConfig.of(sign=["*"], no_ds=["island.test."], bogus=["island.test./DS"]),
            r"island\.test\./DS: zone test\. has no signed rrset there",
        ),
    ],
)
def test_inconsistent_dnssec_config_is_refused(
    zone_dir: Path, config: DNSSECConfig, match: str
) -> None:
    zones = load_zones(zone_dir)
    if "in no served zone" in match:
        del zones[dns.name.root]
    with pytest.raises(ValueError, match=match):
        FakeDNSServer(zones, Behaviour(dnssec=config))


# -- signatures and the chain of trust ------------------------------------------------------


def test_root_dnskey_validates_against_the_anchor(server: ThreadedFakeDNS) -> None:
    anchor = anchors(server.trust_anchors)
    assert set(anchor.nodes) == {dns.name.root}  # the only signed zone without signed parent
    assert sorted(line.split()[3] for line in server.trust_anchors.splitlines()) == [
        "DNSKEY",
        "DS",
    ]
    response = ask(server, ".", "DNSKEY", tcp=False)
    assert response.flags & dns.flags.AA
    dnskey, sigs = pair(response.answer, ".", T.DNSKEY)
    anchor_keys = anchor.get_rdataset(dns.name.root, T.DNSKEY)
    assert anchor_keys is not None and set(dnskey) == set(anchor_keys)
    dns.dnssec.validate(dnskey, sigs, {dns.name.root: anchor_keys})
    anchor_ds = anchor.get_rdataset(dns.name.root, T.DS)
    assert anchor_ds is not None
    assert [dns.dnssec.make_ds(".", key, "SHA256") for key in dnskey] == list(anchor_ds)
    assert dnskey[0].to_text().split()[:3] == ["257", "3", "13"]  # one CSK, ECDSAP256SHA256


def test_answers_carry_valid_rrsigs(server: ThreadedFakeDNS) -> None:
    keys = trusted_keys(server, "good.test.")  # root -> test. -> good.test.
    mx = ask(server, "good.test.", "MX", tcp=False)
    assert mx.ednsflags & dns.flags.DO
    sigs = pair(mx.answer, "good.test.", T.MX)[1]
    rrsig = sigs[0]
    assert isinstance(rrsig, dns.rdtypes.ANY.RRSIG.RRSIG)
    assert rrsig.signer == N("good.test.")
    assert rrsig.inception < time.time() < rrsig.expiration
    assert validate_all(mx, keys) == 1
    # a CNAME chain: every rrset on the way is signed
    chain = ask(server, "WWW.Good.Test.", "A")
    assert [r.rdtype for r in chain.answer if r.rdtype != T.RRSIG] == [T.CNAME, T.A]
    assert validate_all(chain, keys) == 2
    # the signatures really cover the data: altered data does not validate
    forged = dns.rrset.from_text("good.test.", 300, "IN", "MX", "10 evil.example.")
    with pytest.raises(dns.exception.ValidationFailure):
        dns.dnssec.validate(forged, sigs, keys)


def test_child_ds_is_served_from_the_parent(server: ThreadedFakeDNS) -> None:
    test_keys = trusted_keys(server, "test.")
    response = ask(server, "good.test.", "DS")
    assert response.rcode() == dns.rcode.NOERROR
    ds, sigs = pair(response.answer, "good.test.", T.DS)
    assert {s.signer for s in sigs if isinstance(s, dns.rdtypes.ANY.RRSIG.RRSIG)} == {N("test.")}
    dns.dnssec.validate(ds, sigs, test_keys)
    dnskey = pair(ask(server, "good.test.", "DNSKEY").answer, "good.test.", T.DNSKEY)[0]
    assert list(ds) == [dns.dnssec.make_ds("good.test.", dnskey[0], "SHA256")]
    assert ds[0].to_text().split()[1:3] == ["13", "2"]  # ECDSAP256SHA256, SHA-256


def test_no_ds_child_is_an_island(server: ThreadedFakeDNS) -> None:
    test_keys = trusted_keys(server, "test.")
    response = ask(server, "island.test.", "DS")
    assert (response.rcode(), response.answer) == (dns.rcode.NOERROR, [])
    soa = pair(response.authority, "test.", T.SOA)[0]
    assert soa.name == N("test.")  # answered by the parent zone
    nsec = pair(response.authority, "island.test.", T.NSEC)[0]
    assert "NS" in types(nsec) and "DS" not in types(nsec) and "SOA" not in types(nsec)
    assert validate_all(response, test_keys) == 2
    # the island is signed (its own key validates its data) but no anchor reaches it
    island = pair(ask(server, "island.test.", "DNSKEY").answer, "island.test.", T.DNSKEY)[0]
    assert N("island.test.") not in anchors(server.trust_anchors).nodes
    mx = ask(server, "island.test.", "MX")
    assert validate_all(mx, {N("island.test."): island}) == 1
    with pytest.raises(AssertionError):
        trusted_keys(server, "island.test.")


def test_bogus_rrset_fails_validation(server: ThreadedFakeDNS) -> None:
    keys = trusted_keys(server, "bogus.test.")
    owner = "_25._tcp.mx.bogus.test."
    tlsa, sigs = pair(ask(server, owner, "TLSA").answer, owner, T.TLSA)
    with pytest.raises(dns.exception.ValidationFailure):
        dns.dnssec.validate(tlsa, sigs, keys)
    rrsig = sigs[0]
    assert isinstance(rrsig, dns.rdtypes.ANY.RRSIG.RRSIG)
    with pytest.raises(dns.exception.ValidationFailure, match="verify failure"):
        dns.dnssec.validate_rrsig(tlsa, rrsig, keys)
    # only that rrset is broken: the zone's other data validates with the same keys
    assert validate_all(ask(server, "mx.bogus.test.", "A"), keys) == 1


def test_expired_zone_signatures_fail_with_an_expiry_error(server: ThreadedFakeDNS) -> None:
    response = ask(server, "expired.test.", "DNSKEY")
    dnskey, key_sigs = pair(response.answer, "expired.test.", T.DNSKEY)
    keys: Keys = {N("expired.test."): dnskey}
    mx, sigs = pair(ask(server, "expired.test.", "MX").answer, "expired.test.", T.MX)
    for rrset, rrsigs in ((mx, sigs), (dnskey, key_sigs)):
        rrsig = rrsigs[0]
        assert isinstance(rrsig, dns.rdtypes.ANY.RRSIG.RRSIG)
        assert rrsig.inception < rrsig.expiration < time.time()
        with pytest.raises(dns.exception.ValidationFailure, match="expired"):
            dns.dnssec.validate_rrsig(rrset, rrsig, keys)
        # nothing else is wrong with them: valid at a moment inside their validity period
        dns.dnssec.validate_rrsig(rrset, rrsig, keys, now=rrsig.expiration - 60)
    # its DS in test. is signed normally: the chain is intact up to the zone's own data
    ds, ds_sigs = pair(ask(server, "expired.test.", "DS").answer, "expired.test.", T.DS)
    dns.dnssec.validate(ds, ds_sigs, trusted_keys(server, "test."))
    assert dns.dnssec.make_ds("expired.test.", dnskey[0], "SHA256") in ds


# -- authenticated denial -------------------------------------------------------------------


def test_nxdomain_carries_signed_nsec(server: ThreadedFakeDNS) -> None:
    keys = trusted_keys(server, "good.test.")
    qname = N("nope.good.test.")
    response = ask(server, qname, "A", tcp=False)
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.answer == []
    pair(response.authority, "good.test.", T.SOA)
    nsecs = of_type(response.authority, T.NSEC)
    assert validate_all(response, keys) == 1 + len(nsecs)
    assert any(covers(nsec, qname) for nsec in nsecs)  # no nope.good.test.
    assert any(covers(nsec, N("*.good.test.")) for nsec in nsecs)  # no wildcard either
    assert all(nsec.name != qname for nsec in nsecs)
    # a name below an existing one: closest encloser mx.good.test., wildcard *.mx.good.test.
    deeper = ask(server, "a.b.mx.good.test.", "A")
    assert deeper.rcode() == dns.rcode.NXDOMAIN
    nsecs = of_type(deeper.authority, T.NSEC)
    assert any(covers(nsec, N("a.b.mx.good.test.")) for nsec in nsecs)
    assert any(covers(nsec, N("*.mx.good.test.")) for nsec in nsecs)
    validate_all(deeper, keys)


def test_nodata_carries_signed_nsec(server: ThreadedFakeDNS) -> None:
    keys = trusted_keys(server, "good.test.")
    response = ask(server, "mx.good.test.", "AAAA")
    assert (response.rcode(), response.answer) == (dns.rcode.NOERROR, [])
    nsec = pair(response.authority, "mx.good.test.", T.NSEC)[0]
    assert "A" in types(nsec) and "AAAA" not in types(nsec)
    assert validate_all(response, keys) == 2
    # an empty non-terminal: the NSEC before it, whose next name is below it
    ent = ask(server, "_tcp.mx.good.test.", "TXT")
    assert (ent.rcode(), ent.answer) == (dns.rcode.NOERROR, [])
    (covering,) = of_type(ent.authority, T.NSEC)
    assert covers(covering, N("_tcp.mx.good.test."))
    rdata = covering[0]
    assert isinstance(rdata, dns.rdtypes.ANY.NSEC.NSEC)
    next_name = rdata.next
    assert next_name.is_subdomain(N("_tcp.mx.good.test.")) and next_name != N("_tcp.mx.good.test.")
    validate_all(ent, keys)
    # the root zone has no parent served: DS at "." is NODATA from the root itself
    root = ask(server, ".", "DS")
    assert (root.rcode(), root.answer) == (dns.rcode.NOERROR, [])
    assert "DS" not in types(pair(root.authority, ".", T.NSEC)[0])


def test_unsigned_child_of_a_signed_parent_is_provably_insecure(server: ThreadedFakeDNS) -> None:
    response = ask(server, "plain.test.", "DS")
    assert (response.rcode(), response.answer) == (dns.rcode.NOERROR, [])
    nsec = pair(response.authority, "plain.test.", T.NSEC)[0]
    assert {"NS", "RRSIG", "NSEC"} == types(nsec)  # a delegation without DS
    validate_all(response, trusted_keys(server, "test."))
    mx = ask(server, "plain.test.", "MX")
    assert len(mx.answer) == 1 and dnssec_types(mx) == set()


def test_wildcard_answers_and_wildcard_nodata(server: ThreadedFakeDNS) -> None:
    keys = trusted_keys(server, "good.test.")
    qname = N("Anything.wild.good.test.")
    response = ask(server, qname, "TXT")
    txt, sigs = pair(response.answer, qname, T.TXT)
    assert txt.name.to_text() == "Anything.wild.good.test."
    rrsig = sigs[0]
    assert isinstance(rrsig, dns.rdtypes.ANY.RRSIG.RRSIG)
    assert rrsig.labels == 3 < len(qname) - 1  # the labels field shows the wildcard
    dns.dnssec.validate(txt, sigs, keys)
    # ... and the NSEC proving that no closer match exists
    (nsec,) = of_type(response.authority, T.NSEC)
    assert covers(nsec, qname)
    validate_all(response, keys)
    nodata = ask(server, qname, "A")
    assert (nodata.rcode(), nodata.answer) == (dns.rcode.NOERROR, [])
    at_wildcard = pair(nodata.authority, "*.wild.good.test.", T.NSEC)[0]
    assert "TXT" in types(at_wildcard) and "A" not in types(at_wildcard)
    assert covers(at_wildcard, qname)
    validate_all(nodata, keys)


def test_nsec3_zone_denials(server: ThreadedFakeDNS) -> None:
    keys = trusted_keys(server, "hashed.test.")
    param = ask(server, "hashed.test.", "NSEC3PARAM")
    assert [r.to_text() for r in param.answer[0]] == ["1 0 0 -"]
    validate_all(param, keys)

    # the hashes of the zone's names, in NSEC3 order; missing names are picked so that the
    # proof needs distinct NSEC3 records (hashes falling in the same gap share one)
    names = ("", "mx.", "ent.", "x.ent.", "wild.", "*.wild.")
    chain = sorted(nsec3_hash(n + "hashed.test.") for n in names)

    def gap(name: str) -> int:
        """Index of the NSEC3 record matching or covering the hash of *name*."""
        return (bisect.bisect_right(chain, nsec3_hash(name)) - 1) % len(chain)

    def pick(template: str, *others: str) -> str:
        return next(
            name
            for name in (template.format(i) for i in range(200))
            if gap(name) not in {gap(other) for other in others}
        )

    qname = pick("nope{}.hashed.test.", "*.hashed.test.", "hashed.test.")
    nx = ask(server, qname, "A")
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert T.NSEC not in dnssec_types(nx)
    nsec3s = of_type(nx.authority, T.NSEC3)
    assert validate_all(nx, keys) == 1 + len(nsec3s) == 4
    owners = {rrset.name[0].decode() for rrset in nsec3s}
    assert owners <= set(chain)
    assert nsec3_hash("hashed.test.") in owners  # closest encloser: matched
    assert any(nsec3_covers(r, qname) for r in nsec3s)  # next closer: covered
    assert any(nsec3_covers(r, "*.hashed.test.") for r in nsec3s)  # wildcard: covered

    nodata = ask(server, "mx.hashed.test.", "AAAA")
    (match,) = of_type(nodata.authority, T.NSEC3)
    assert match.name[0].decode() == nsec3_hash("mx.hashed.test.")
    assert "A" in types(match) and "AAAA" not in types(match)
    validate_all(nodata, keys)
    ent = ask(server, "ent.hashed.test.", "A")  # empty non-terminals have an NSEC3 too
    (match,) = of_type(ent.authority, T.NSEC3)
    assert (match.name[0].decode(), types(match)) == (nsec3_hash("ent.hashed.test."), set())

    wild = ask(server, "a.b.wild.hashed.test.", "TXT")
    pair(wild.answer, "a.b.wild.hashed.test.", T.TXT)
    (closer,) = of_type(wild.authority, T.NSEC3)
    assert nsec3_covers(closer, "b.wild.hashed.test.")
    validate_all(wild, keys)
    next_closer = pick("b{}.wild.hashed.test.", "wild.hashed.test.", "*.wild.hashed.test.")
    wild_nodata = ask(server, "a." + next_closer, "A")
    assert (wild_nodata.rcode(), wild_nodata.answer) == (dns.rcode.NOERROR, [])
    nsec3s = of_type(wild_nodata.authority, T.NSEC3)
    assert len(nsec3s) == 3
    by_owner = {rrset.name[0].decode(): rrset for rrset in nsec3s}
    assert nsec3_hash("wild.hashed.test.") in by_owner  # closest encloser
    assert any(nsec3_covers(r, next_closer) for r in nsec3s)  # next closer
    at_wildcard = by_owner[nsec3_hash("*.wild.hashed.test.")]  # the wildcard lacks A
    assert "TXT" in types(at_wildcard) and "A" not in types(at_wildcard)
    validate_all(wild_nodata, keys)
    # NSEC3 owner names are not names of the zone
    assert ask(server, match.name, "A", dnssec=False).rcode() == dns.rcode.NXDOMAIN


def test_no_dnssec_records_without_do(server: ThreadedFakeDNS) -> None:
    cases = [
        ("good.test.", "MX"),
        ("nope.good.test.", "A"),
        ("mx.good.test.", "AAAA"),
        ("x.wild.good.test.", "TXT"),
        ("good.test.", "ANY"),
        ("nope.hashed.test.", "A"),
        ("island.test.", "DS"),
    ]
    for name, rdtype in cases:
        for edns in (True, False):
            response = ask(server, name, rdtype, dnssec=False, edns=edns)
            assert response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
            assert dnssec_types(response) == set(), (name, rdtype, edns)
            assert not response.ednsflags & dns.flags.DO
            signed = ask(server, name, rdtype)
            assert signed.ednsflags & dns.flags.DO
            assert T.RRSIG in dnssec_types(signed), (name, rdtype)
    # asked for by type, they are returned without DO
    sigs = ask(server, "good.test.", "RRSIG", dnssec=False)
    covered = {rrset.covers for rrset in sigs.answer if rrset.rdtype == T.RRSIG}
    assert {T.SOA, T.NS, T.MX, T.NSEC, T.DNSKEY} <= covered
    nsec = ask(server, "good.test.", "NSEC", dnssec=False)
    assert [rrset.rdtype for rrset in nsec.answer] == [T.NSEC]


def test_ad_flag_only_for_secure_data(server: ThreadedFakeDNS) -> None:
    def ad(name: str, rdtype: str, **kwargs: bool) -> bool:
        return bool(ask(server, name, rdtype, **kwargs).flags & dns.flags.AD)

    secure = [
        ("good.test.", "MX"),
        ("nope.good.test.", "A"),  # authenticated denial
        ("www.good.test.", "A"),
        ("x.wild.good.test.", "TXT"),
        ("good.test.", "DS"),
        ("island.test.", "DS"),  # the parent's proof that there is no DS is secure
        ("mx.bogus.test.", "A"),  # the zone is fine; only its TLSA rrset is bogus
        ("mx.hashed.test.", "A"),
        ("nope.hashed.test.", "A"),
        (".", "DNSKEY"),
    ]
    insecure = [
        ("_25._tcp.mx.bogus.test.", "TLSA"),  # bogus RRSIG
        ("island.test.", "MX"),  # no DS: no chain of trust
        ("nope.island.test.", "A"),
        ("expired.test.", "MX"),  # expired signatures
        ("plain.test.", "MX"),  # unsigned
        ("toplain.good.test.", "A"),  # CNAME (secure) into an unsigned zone
        ("nope.expired.test.", "A"),  # denial with expired signatures
        ("good.test.", "RRSIG"),  # signatures are not themselves signed
    ]
    for name, rdtype in secure:
        assert ad(name, rdtype), (name, rdtype)
        assert ad(name, rdtype, dnssec=False, ad=True), (name, rdtype)  # AD asked, no DO
        assert not ad(name, rdtype, dnssec=False), (name, rdtype)  # neither DO nor AD
    for name, rdtype in insecure:
        assert not ad(name, rdtype), (name, rdtype)
        assert not ad(name, rdtype, dnssec=False, ad=True), (name, rdtype)
    plain = ask(server, "good.test.", "MX", dnssec=False, ad=True)
    assert dnssec_types(plain) == set()  # AD without DO: still no signatures


def test_no_ad_flag_unless_configured(zone_dir: Path) -> None:
    zones, behaviour = load_directory(zone_dir)
    quiet = dataclasses.replace(behaviour.dnssec, ad=False)
    with ThreadedFakeDNS(zones, Behaviour(dnssec=quiet)) as server:
        response = ask(server, "good.test.", "MX", ad=True)
        assert not response.flags & dns.flags.AD
        validate_all(response, trusted_keys(server, "good.test."))  # signed all the same


def test_bogus_ds_breaks_the_chain_below_it(zone_dir: Path) -> None:
    zones, behaviour = load_directory(zone_dir)
    config = dataclasses.replace(behaviour.dnssec, bogus=frozenset({(N("good.test."), T.DS)}))
    with ThreadedFakeDNS(zones, Behaviour(dnssec=config)) as server:
        ds, sigs = pair(ask(server, "good.test.", "DS").answer, "good.test.", T.DS)
        with pytest.raises(dns.exception.ValidationFailure):
            dns.dnssec.validate(ds, sigs, trusted_keys(server, "test."))
        assert not ask(server, "good.test.", "DS").flags & dns.flags.AD
        # the zone's own data is signed correctly, but no longer reachable from the anchor
        dnskey = pair(ask(server, "good.test.", "DNSKEY").answer, "good.test.", T.DNSKEY)[0]
        mx = ask(server, "good.test.", "MX")
        assert validate_all(mx, {N("good.test."): dnskey}) == 1
        assert not mx.flags & dns.flags.AD
        assert ask(server, "mx.bogus.test.", "A").flags & dns.flags.AD  # a sibling is fine


def test_signed_answers_are_truncated_over_udp(server: ThreadedFakeDNS) -> None:
    plain = ask(server, "big.good.test.", "TXT", dnssec=False, tcp=False)
    assert not plain.flags & dns.flags.TC
    assert len(plain.to_wire()) <= 512
    udp = ask(server, "big.good.test.", "TXT", tcp=False)
    assert udp.flags & dns.flags.TC
    assert udp.answer == []
    tcp = ask(server, "big.good.test.", "TXT")
    assert not tcp.flags & dns.flags.TC
    assert len(tcp.to_wire()) > 512
    assert validate_all(tcp, trusted_keys(server, "good.test.")) == 1
    assert [q[2] for q in server.queries if q[0] == "big.good.test."][-2:] == ["udp", "tcp"]


# -- trust anchors, command line, export -----------------------------------------------------


def test_trust_anchors_without_a_signed_root(zone_dir: Path) -> None:
    zones = load_zones(zone_dir)
    with ThreadedFakeDNS(zones) as unsigned:
        assert unsigned.trust_anchors == ""
        assert dnssec_types(ask(unsigned, "good.test.", "MX")) == set()
        # DS at an apex comes from the parent zone even when that has no node for it
        ds = ask(unsigned, "good.test.", "DS")
        assert (ds.rcode(), ds.answer) == (dns.rcode.NOERROR, [])
        assert [rrset.name for rrset in ds.authority] == [N("test.")]
    # root served but unsigned: test. and the zones with unsigned parents are anchors
    config = DNSSECConfig.of(sign=["test.", "good.test.", "plain.test."])
    server = FakeDNSServer(zones, Behaviour(dnssec=config))
    anchor = anchors(server.trust_anchors)
    assert set(anchor.nodes) == {N("test.")}
    config = DNSSECConfig.of(sign=["good.test.", "plain.test."])
    server = FakeDNSServer(zones, Behaviour(dnssec=config))
    assert set(anchors(server.trust_anchors).nodes) == {N("good.test."), N("plain.test.")}
    lines = server.trust_anchors.splitlines()
    assert len(lines) == 4
    assert all(line.split()[1:3] == ["300", "IN"] for line in lines)


def test_signing_is_fast_and_leaves_the_input_alone(zone_dir: Path) -> None:
    zones = load_zones(zone_dir)
    for i in range(3):  # 11 zones
        origin = N(f"extra{i}.test.")
        text = ZONES["good.test.zone"].replace("good.test.", f"extra{i}.test.")
        zones[origin] = dns.zone.from_text(text, origin=origin, relativize=False)
    before = {origin: zone.to_text() for origin, zone in zones.items()}
    started = time.perf_counter()
    signed = sign_zones(zones, DNSSECConfig.of(sign=["*"], nsec3=["extra0.test."]))
    assert time.perf_counter() - started < 1.0
    assert signed.signed == frozenset(zones)
    assert {origin: zone.to_text() for origin, zone in zones.items()} == before
    assert signed.zones[N("good.test.")] is not zones[N("good.test.")]


def test_export_signed_loads_back(zone_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "signed"
    anchor_file = tmp_path / "anchor.txt"
    main([str(zone_dir), "--export-signed", str(out), "--write-anchor", str(anchor_file)])
    names = sorted(path.name for path in out.iterdir())
    assert names == sorted([*ZONES, "trust-anchor.txt"])
    anchor_text = (out / "trust-anchor.txt").read_text()
    assert anchor_file.read_text() == anchor_text
    loaded = {}
    for path in out.glob("*.zone"):
        assert path.read_text().startswith("$ORIGIN ")
        zone = dns.zone.from_file(str(path), relativize=False, check_origin=False)
        assert zone.origin is not None
        loaded[zone.origin] = zone
    assert set(loaded) == set(load_zones(zone_dir)) == set(load_zones(out))

    def keys(origin: str) -> Keys:
        dnskey = loaded[N(origin)].get_rdataset(origin, T.DNSKEY)
        assert dnskey is not None
        return {N(origin): dnskey}

    def check(origin: str, owner: str, rdtype: dns.rdatatype.RdataType) -> None:
        zone = loaded[N(origin)]
        rdataset = zone.get_rdataset(owner, rdtype)
        sigs = zone.get_rdataset(owner, T.RRSIG, rdtype)
        assert rdataset is not None and sigs is not None
        dns.dnssec.validate((N(owner), rdataset), (N(owner), sigs), keys(origin))

    root_keys = keys(".")[dns.name.root]
    assert isinstance(root_keys, dns.rdataset.Rdataset)
    anchor_ds = anchors(anchor_text).get_rdataset(dns.name.root, T.DS)
    assert anchor_ds is not None
    assert dns.dnssec.make_ds(".", root_keys[0], "SHA256") in anchor_ds
    check(".", ".", T.DNSKEY)
    check("test.", "good.test.", T.DS)
    check("good.test.", "good.test.", T.MX)
    check("hashed.test.", "hashed.test.", T.NSEC3PARAM)
    with pytest.raises(dns.exception.ValidationFailure):  # the faults are baked in
        check("bogus.test.", "_25._tcp.mx.bogus.test.", T.TLSA)
    assert loaded[N("test.")].get_rdataset("island.test.", T.DS) is None
    assert loaded[N("plain.test.")].get_rdataset("plain.test.", T.RRSIG, T.SOA) is None

    # the exported (pre-signed) zones can be served as they are
    with ThreadedFakeDNS.from_directory(out) as server:
        assert server.trust_anchors == ""
        response = ask(server, "nope.good.test.", "A")
        assert response.rcode() == dns.rcode.NXDOMAIN
        validate_all(response, keys("good.test."))
        assert not response.flags & dns.flags.AD


def test_write_anchor_from_the_command_line(zone_dir: Path, tmp_path: Path) -> None:
    anchor_file = tmp_path / "anchor.txt"
    command = [sys.executable, "-m", "smtpdiag.testing.dns_server", str(zone_dir)]
    command += ["--port", "0", "--write-anchor", str(anchor_file)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # "fake DNS serving DIR on HOST:PORT (udp+tcp)"
            host, port = line.split(" on ")[1].split()[0].rsplit(":", 1)
            query = dns.message.make_query(".", "DNSKEY", want_dnssec=True)
            response = dns.query.tcp(query, host, port=int(port), timeout=5)
        finally:
            process.terminate()
            process.wait(timeout=10)
    dnskey, sigs = pair(response.answer, ".", T.DNSKEY)
    anchor = anchors(anchor_file.read_text())
    anchor_keys = anchor.get_rdataset(dns.name.root, T.DNSKEY)
    anchor_ds = anchor.get_rdataset(dns.name.root, T.DS)
    assert anchor_keys is not None and anchor_ds is not None
    dns.dnssec.validate(dnskey, sigs, {dns.name.root: anchor_keys})
    assert dns.dnssec.make_ds(".", dnskey[0], "SHA256") in anchor_ds
