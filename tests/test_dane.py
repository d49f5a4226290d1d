"""DANE for SMTP (issue 12): TLSA records matched against the live certificate chain,
trusted only when DNSSEC says so. Pure parts first; then probes against the fake DNS
serving signed zones (a test root as trust anchor) and fake MX hosts with certificates
made before the zones, so the zones can carry their TLSA records."""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from smtpdiag.core.dane import association, match_chain, parse_tlsa, spki_of
from smtpdiag.core.datafiles import load
from smtpdiag.core.model import CertFacts
from smtpdiag.testing.certs import make_certificates

TEXTS = load("smtpdiag.core.data", "transport")["en"]
NOW = datetime.datetime.now(datetime.UTC)


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _self_signed(key: object) -> x509.Certificate:
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "spki.test")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(7)
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
    )
    return builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    [ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)],
    ids=["ecdsa", "rsa"],
)
def test_spki_of_matches_the_public_key_cryptography_reads(key: object) -> None:
    cert = _self_signed(key)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert spki_of(der) == _spki(cert)


def test_spki_of_broken_der_is_none() -> None:
    assert spki_of(b"") is None
    assert spki_of(b"\x30\x82\xff\xff") is None  # claims more than there is
    assert spki_of(b"\x04\x03abc") is None  # not a SEQUENCE


def test_parse_tlsa_and_usable() -> None:
    rec = parse_tlsa("3 1 1 " + "ab" * 32)
    assert rec is not None and rec.usable and rec.label == "DANE-EE(3) SPKI(1) SHA2-256(1)"
    assert parse_tlsa("3 1 1 zz") is None
    assert parse_tlsa("3 1") is None
    assert parse_tlsa("300 1 1 ab") is None
    short = parse_tlsa("3 1 1 abcd")  # a SHA-256 must be 32 bytes
    assert short is not None and not short.usable
    pkix = parse_tlsa("1 1 1 " + "ab" * 32)  # PKIX-EE: RFC 7672 §3.1.3, unusable for SMTP
    assert pkix is not None and not pkix.usable
    full = parse_tlsa("3 0 0 3082 01")  # spaces in the data are allowed
    assert full is not None and full.data == bytes.fromhex("308201") and full.usable


def _facts(tmp_path: Path, names: list[str], chain: bool = True) -> tuple[CertFacts, ...]:
    from smtpdiag.io.tls import chain_facts

    ca, cert, _ = make_certificates(tmp_path, names)
    ders = [x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(
        serialization.Encoding.DER)]  # fmt: skip
    if chain:
        ders.append(x509.load_pem_x509_certificate(ca.read_bytes()).public_bytes(
            serialization.Encoding.DER))  # fmt: skip
    return chain_facts(ders)


def _rec(facts: CertFacts, usage: int, selector: int, mtype: int) -> str:
    data = association(facts, selector, mtype)
    assert data is not None
    return f"{usage} {selector} {mtype} {data.hex()}"


def test_association_digests(tmp_path: Path) -> None:
    leaf = _facts(tmp_path, ["mx.dane.test"], chain=False)[0]
    assert association(leaf, 0, 0) == leaf.der
    assert association(leaf, 0, 1) == hashlib.sha256(leaf.der).digest()
    assert leaf.spki is not None
    assert association(leaf, 1, 2) == hashlib.sha512(leaf.spki).digest()
    assert association(leaf, 2, 1) is None  # no selector 2


def test_match_chain_ee_ta_and_mismatch(tmp_path: Path) -> None:
    chain = _facts(tmp_path, ["mx.dane.test"])
    assert chain[0].signed_by_next is True and chain[1].signed_by_next is None
    ee = parse_tlsa(_rec(chain[0], 3, 1, 1))
    ta = parse_tlsa(_rec(chain[1], 2, 0, 1))
    assert ee is not None and ta is not None
    got = match_chain([ee], chain, names_ok=False, now=NOW, t=TEXTS)
    assert got.record == ee and got.depth == 0  # DANE-EE: no name check
    got = match_chain([ta], chain, names_ok=True, now=NOW, t=TEXTS)
    assert got.record == ta and got.depth == 1
    got = match_chain([ta], chain, names_ok=False, now=NOW, t=TEXTS)
    assert got.record is None and got.problem == TEXTS["ta-name"]
    later = NOW + datetime.timedelta(days=400)  # the chain has expired by then
    got = match_chain([ta], chain, names_ok=True, now=later, t=TEXTS)
    assert got.record is None and got.problem == TEXTS["ta-dates"]
    # a TA record does not match the server's own certificate, an EE record not the CA's
    wrong_ee = parse_tlsa(_rec(chain[1], 3, 1, 1))
    assert wrong_ee is not None
    got = match_chain([wrong_ee], chain, names_ok=True, now=NOW, t=TEXTS)
    assert got.record is None and got.problem is None
    assert [p.depth for p in got.presented] == [0]
    assert got.presented[0].value == association(chain[0], 1, 1).hex()  # type: ignore[union-attr]


def test_match_chain_ta_needs_the_signatures(tmp_path: Path) -> None:
    chain = _facts(tmp_path / "a", ["mx.dane.test"])
    other = _facts(tmp_path / "b", ["mx.dane.test"])
    from smtpdiag.io.tls import chain_facts

    # the server's certificate beside an unrelated CA's
    spliced = chain_facts([chain[0].der, other[1].der])
    assert spliced[0].signed_by_next is False
    ta = parse_tlsa(_rec(other[1], 2, 1, 1))
    assert ta is not None
    got = match_chain([ta], spliced, names_ok=True, now=NOW, t=TEXTS)
    assert got.record is None and got.problem == TEXTS["ta-broken"].format(depth=1)


# -- probes against signed zones ----------------------------------------------------------

HOSTS = {  # MX host label -> (address, the certificate's names or None for the host's own)
    "mx-good": ("127.0.0.100", None),
    "mx-rolled": ("127.0.0.101", None),
    "mx-ta": ("127.0.0.102", None),
    "mx-taname": ("127.0.0.103", ["mail.elsewhere.test"]),
    "mx-eename": ("127.0.0.104", ["mail.elsewhere.test"]),
    "mx-notls": ("127.0.0.105", None),
    "mx-none": ("127.0.0.106", None),
    "mx-bogus": ("127.0.0.107", None),
    "mx-unusable": ("127.0.0.108", None),
}


def _der(path: Path) -> CertFacts:
    from smtpdiag.io.tls import chain_facts

    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return chain_facts([cert.public_bytes(serialization.Encoding.DER)])[0]


def _write_world(root: Path) -> tuple[Path, list[object]]:
    """Certificates first, then the zones that name them, then the rig's scenario."""
    from smtpdiag.testing.mx import MxConfig

    certs = root / "certs"
    zones = root / "zones"
    zones.mkdir(parents=True)
    ca, _, _ = make_certificates(certs / "ca", ["ca-only.invalid"])
    ca_key = certs / "ca" / "ca-key.pem"
    ca_facts = _der(ca)
    servers: list[object] = []
    tlsa: dict[str, str] = {}
    for label, (address, names) in HOSTS.items():
        host = f"{label}.dane.test"
        _, cert, key = make_certificates(certs / label, names or [host], (ca, ca_key))
        chain = certs / label / "chain.pem"
        chain.write_bytes(cert.read_bytes() + ca.read_bytes())  # the CA is sent too
        leaf = _der(cert)
        if label in ("mx-good", "mx-eename", "mx-notls", "mx-bogus"):
            tlsa[label] = _rec(leaf, 3, 1, 1)
        elif label == "mx-rolled":  # the record of the key before the renewal
            _, old, _ = make_certificates(certs / "old", [host], (ca, ca_key))
            tlsa[label] = _rec(_der(old), 3, 1, 1)
        elif label == "mx-ta":
            tlsa[label] = _rec(ca_facts, 2, 0, 1)
        elif label == "mx-taname":
            tlsa[label] = _rec(ca_facts, 2, 1, 1)
        elif label == "mx-unusable":
            tlsa[label] = _rec(leaf, 1, 1, 1)  # PKIX-EE: not for SMTP
        servers.append(
            MxConfig(
                address=address,
                hostname=host,
                starttls=label != "mx-notls",
                accept_all=True,
                cert_file=str(chain),
                key_file=str(key),
            )
        )
    servers.append(MxConfig(address="127.0.0.109", hostname="mx.plain.test", starttls=True,
                            accept_all=True))  # fmt: skip
    soa = "@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n"
    (zones / "..zone").write_text(
        "$TTL 300\n"
        + soa
        + "odd.test. NS ns.odd.test.\nodd.test. DS 1234 200 2 "
        + "ab" * 32
        + "\n"
    )
    lines = ["$ORIGIN dane.test.", "$TTL 300", soa]
    for label, (address, _) in HOSTS.items():
        domain = label.removeprefix("mx-")
        lines += [f"{domain} MX 10 {label}", f"{label} A {address}"]
        if label in tlsa:
            lines.append(f"_25._tcp.{label} TLSA {tlsa[label]}")
    lines += ["alias MX 10 mx-alias", "mx-alias CNAME mx-good"]  # TLSA at the target only
    (zones / "dane.test.zone").write_text("\n".join(lines) + "\n")
    (zones / "hashed.test.zone").write_text(  # NSEC3 denials; no server listens on .110
        f"$ORIGIN hashed.test.\n$TTL 300\n{soa}@ MX 10 mx\nmx A 127.0.0.110\n"
        "_25._tcp.www TLSA 3 1 1 " + "cd" * 32 + "\n"
    )
    (zones / "slow.test.zone").write_text(  # its apex (SOA, DS, DNSKEY) never answers
        f"$ORIGIN slow.test.\n$TTL 300\n{soa}x MX 10 mx.x\nmx.x A 127.0.0.111\n"
    )
    (zones / "odd.test.zone").write_text(  # unsigned; the root's DS for it: algorithm 200
        f"$ORIGIN odd.test.\n$TTL 300\n{soa}@ MX 10 mx.plain.test.\n"
    )
    for origin in ("plain.test", "island.test", "expired.test"):
        (zones / f"{origin}.zone").write_text(
            f"$ORIGIN {origin}.\n$TTL 300\n{soa}@ MX 10 mx.plain.test.\n"
        )
    (zones / "plain.test.zone").write_text(
        (zones / "plain.test.zone").read_text()
        + "mx A 127.0.0.109\n_25._tcp.mx TLSA 3 1 1 "
        + "ab" * 32
        + "\n"
    )
    (zones / "behaviour.toml").write_text(
        'timeout = ["slow.test."]\n'
        "[dnssec]\n"
        'sign = [".", "dane.test.", "island.test.", "expired.test.", "hashed.test.",'
        ' "slow.test."]\n'
        'nsec3 = ["hashed.test."]\n'
        'no_ds = ["island.test."]\n'
        'bogus = ["_25._tcp.mx-bogus.dane.test./TLSA"]\n'
        'expired = ["expired.test."]\n'
        "ad = true\n"  # for --dnssec trust-ad: the server plays a validating resolver
    )
    return zones, servers


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> object:
    from smtpdiag.testing.rig import Rig, Scenario

    root = tmp_path_factory.mktemp("dane")
    zones, servers = _write_world(root)
    rig = Rig(Scenario(zones=zones, servers=tuple(servers)))  # type: ignore[arg-type]
    with rig:
        assert rig.dns is not None
        anchor = root / "anchor.txt"
        anchor.write_text(rig.dns.trust_anchors)
        rig.anchor = anchor  # type: ignore[attr-defined]
        yield rig


def _probe(world: object, address: str, *extra: str) -> dict[str, object]:
    from tests.conftest import run_cli

    rig = world
    args = ["probe", "--resolver", rig.resolver, "--port", str(rig.smtp_port),  # type: ignore[attr-defined]
            "--helo", "probe.dane.test", "--transport", "--format", "json",
            "--trust-anchor", str(rig.anchor), *extra, address]  # type: ignore[attr-defined]  # fmt: skip
    result = run_cli(args)
    doc: dict[str, object] = json.loads(result.output)
    return doc


def _dane(doc: dict[str, object]) -> dict[str, object]:
    transport = doc["transport"]
    assert isinstance(transport, dict)
    dane = transport["dane"]
    assert isinstance(dane, dict)
    return dane


def _host(doc: dict[str, object]) -> dict[str, object]:
    hosts = _dane(doc)["hosts"]
    assert isinstance(hosts, list) and len(hosts) == 1
    host: dict[str, object] = hosts[0]
    return host


def test_matching_dane_ee_record(world: object) -> None:
    doc = _probe(world, "a@good.dane.test")
    dane, host = _dane(doc), _host(doc)
    assert host["status"] == "ok", host["text"]
    assert host["matched"] is not None and str(host["matched"]).startswith("3 1 1 ")
    assert host["matched_depth"] == 0
    assert host["tlsa_dnssec"] == "secure" and host["address_dnssec"] == "secure"
    assert host["tlsa_name"] == "_25._tcp.mx-good.dane.test"  # after _PORT._tcp: none
    mx = dane["mx_records"]
    assert isinstance(mx, dict) and mx["dnssec"] == "secure"
    assert "presented a certificate that matches" in str(dane["summary"])


def test_rolled_over_certificate_is_a_mismatch_with_digests_side_by_side(world: object) -> None:
    doc = _probe(world, "a@rolled.dane.test")
    host = _host(doc)
    assert host["status"] == "mismatch"
    assert "No TLSA record" in str(host["text"]) and "renewed" in str(host["text"])
    presented = host["presented"]
    assert isinstance(presented, list) and presented
    records = host["records"]
    assert isinstance(records, list)
    assert presented[0]["record"] == records[0]
    assert presented[0]["value"] != str(records[0]).split()[3]  # the two digests differ
    assert "mx-rolled.dane.test" in str(_dane(doc)["summary"])


def test_dane_ta_matches_the_ca_the_chain_leads_to(world: object) -> None:
    host = _host(_probe(world, "a@ta.dane.test"))
    assert host["status"] == "ok", host["text"]
    assert host["matched_depth"] == 1


def test_dane_ta_checks_the_name_dane_ee_does_not(world: object) -> None:
    host = _host(_probe(world, "a@taname.dane.test"))
    assert host["status"] == "mismatch"
    assert TEXTS["ta-name"] in str(host["text"])
    assert host["presented"] == []  # a record matched: no digests to compare
    host = _host(_probe(world, "a@eename.dane.test"))
    assert host["status"] == "ok", host["text"]


def test_tlsa_without_starttls(world: object) -> None:
    host = _host(_probe(world, "a@notls.dane.test"))
    assert host["status"] == "no-tls" and host["session"] == "no-tls"
    assert "did not complete STARTTLS" in str(host["text"])


def test_no_tlsa_records_proven_by_dnssec(world: object) -> None:
    doc = _probe(world, "a@none.dane.test")
    host = _host(doc)
    assert host["status"] == "no-tlsa" and host["tlsa_dnssec"] == "secure"
    assert "DNSSEC proves it" in str(host["text"])
    assert "no MX host of none.dane.test publishes usable" in str(_dane(doc)["summary"])


def test_bad_signature_over_tlsa_is_bogus(world: object) -> None:
    host = _host(_probe(world, "a@bogus.dane.test"))
    assert host["status"] == "bogus" and host["tlsa_dnssec"] == "bogus"
    assert "defer" in str(host["text"])


def test_unusable_records_only(world: object) -> None:
    host = _host(_probe(world, "a@unusable.dane.test"))
    assert host["status"] == "unusable" and host["usable"] == []


def test_unsigned_zone_is_insecure_and_its_tlsa_ignored(world: object) -> None:
    doc = _probe(world, "a@plain.test")
    host = _host(doc)
    assert host["tlsa_dnssec"] == "insecure" and host["status"] == "insecure"
    assert "not DNSSEC-signed" in str(host["text"])
    mx = _dane(doc)["mx_records"]
    assert isinstance(mx, dict) and mx["dnssec"] == "insecure"


def test_island_without_ds_is_insecure(world: object) -> None:
    mx = _dane(_probe(world, "a@island.test"))["mx_records"]
    assert isinstance(mx, dict) and mx["dnssec"] == "insecure", mx
    assert "no DS" in str(mx["reason"])


def test_expired_signatures_are_bogus(world: object) -> None:
    doc = _probe(world, "a@expired.test")
    mx = _dane(doc)["mx_records"]
    assert isinstance(mx, dict) and mx["dnssec"] == "bogus"
    assert "expired" in str(mx["reason"])
    assert "cannot find its MX hosts" in str(_dane(doc)["summary"])


def test_a_foreign_trust_anchor_makes_everything_bogus(world: object, tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text(". IN DS 20326 8 2 " + "E0" * 32 + "\n")
    doc = _probe(world, "a@good.dane.test", "--trust-anchor", str(other))
    assert _host(doc)["tlsa_dnssec"] == "bogus"
    assert "trust anchor" in str(_host(doc)["text"])


def test_the_default_anchor_is_the_iana_root(world: object) -> None:
    from tests.conftest import run_cli

    rig = world
    args = ["probe", "--resolver", rig.resolver, "--port", str(rig.smtp_port),  # type: ignore[attr-defined]
            "--transport", "--format", "json", "a@good.dane.test"]  # fmt: skip
    dane = _dane(json.loads(run_cli(args).output))
    assert dane["trust_anchor"] == "the IANA root KSK"
    assert _host({"transport": {"dane": dane}})["tlsa_dnssec"] == "bogus"  # our test root


def test_bad_trust_anchor_file_is_a_usage_error(world: object, tmp_path: Path) -> None:
    from tests.conftest import run_cli

    junk = tmp_path / "junk.txt"
    junk.write_text("not a record at all\n")
    for path in (junk, tmp_path / "missing.txt"):
        result = run_cli(["probe", "--transport", "--trust-anchor", str(path), "a@good.dane.test"])
        assert result.exit_code == 2
        assert "--trust-anchor" in result.output and "Traceback" not in result.output


def test_text_report_in_both_languages(world: object) -> None:
    from tests.conftest import run_cli

    rig = world
    args = ["probe", "--resolver", rig.resolver, "--port", str(rig.smtp_port),  # type: ignore[attr-defined]
            "--transport", "--trust-anchor", str(rig.anchor), "a@rolled.dane.test"]  # type: ignore[attr-defined]  # fmt: skip
    en = run_cli(args).output
    assert "No TLSA record at _25._tcp.mx-rolled.dane.test matches" in en
    assert "the certificate at depth 0 gives instead: " in en
    th = run_cli([*args[:-1], "--lang", "th", args[-1]]).output
    assert "ไม่มี TLSA record ที่ _25._tcp.mx-rolled.dane.test" in th


def test_no_dnssec_queries_without_transport(world: object) -> None:
    from tests.conftest import run_cli

    rig = world
    before = len(rig.dns.queries)  # type: ignore[attr-defined]
    run_cli(["probe", "--resolver", rig.resolver, "--port", str(rig.smtp_port),  # type: ignore[attr-defined]
             "--format", "json", "a@good.dane.test"])  # fmt: skip
    asked = rig.dns.queries[before:]  # type: ignore[attr-defined]
    assert asked and not [q for q in asked if q[1] in ("TLSA", "DNSKEY", "DS")], asked


def test_trust_ad_believes_the_resolvers_ad_bit(world: object) -> None:
    doc = _probe(world, "a@good.dane.test", "--dnssec", "trust-ad")
    dane, host = _dane(doc), _host(doc)
    assert dane["mode"] == "trust-ad" and dane["trust_anchor"] == "the AD bit of the resolver"
    assert host["status"] == "ok" and host["tlsa_dnssec"] == "secure"
    host = _host(_probe(world, "a@plain.test", "--dnssec", "trust-ad"))
    assert host["tlsa_dnssec"] == "insecure" and host["status"] == "insecure"


def test_auth_lists_the_tlsa_records_and_their_dnssec(world: object) -> None:
    from tests.conftest import run_cli

    rig = world
    base = ["auth", "--resolver", rig.resolver, "--trust-anchor", str(rig.anchor)]  # type: ignore[attr-defined]
    doc = json.loads(run_cli([*base, "--format", "json", "rolled.dane.test"]).output)
    host = doc["dane"]["hosts"][0]
    assert host["status"] == "unchecked" and host["tlsa_dnssec"] == "secure"
    assert host["records"] and doc["dane"]["mx_records"]["dnssec"] == "secure"
    assert "no session checked them" in doc["dane"]["summary"]
    text = run_cli([*base, "bogus.dane.test"]).output
    assert "DNSSEC validation of _25._tcp.mx-bogus.dane.test TLSA fails" in text
    doc = json.loads(run_cli([*base, "--no-dane", "--format", "json", "good.dane.test"]).output)
    assert doc["dane"] is None


def test_nsec3_denial_of_tlsa(world: object) -> None:
    doc = _probe(world, "a@hashed.test", "--timeout", "2")
    host = _host(doc)
    assert _dane(doc)["mx_records"]["dnssec"] == "secure"  # type: ignore[index]
    assert host["status"] == "no-tlsa" and host["tlsa_dnssec"] == "secure", host["text"]
    lookup = host["tlsa_lookup"]
    assert isinstance(lookup, dict) and lookup["found"] == "nxdomain"


def test_a_zone_that_never_answers_its_keys_is_indeterminate_in_bounded_time(
    world: object,
) -> None:
    import time

    started = time.monotonic()
    doc = _probe(world, "a@x.slow.test", "--dns-timeout", "1", "--timeout", "2")
    took = time.monotonic() - started
    mx = _dane(doc)["mx_records"]
    assert isinstance(mx, dict) and mx["dnssec"] == "indeterminate", mx
    assert "timeout" in str(mx["reason"]).lower() or "within" in str(mx["reason"])
    assert took < 12, took  # a few 1 s DNS timeouts, not one per query of a chain


def test_the_query_budget_is_per_check_and_cached_answers_are_free(world: object) -> None:
    import asyncio

    from smtpdiag.dnssec import Validator, parse_anchors
    from smtpdiag.io.dns import DnsConfig, make_fetch

    rig = world
    host, port = rig.dns.address  # type: ignore[attr-defined]
    fetch = make_fetch(DnsConfig(((host, port),), 2.0))
    anchors = parse_anchors(rig.dns.trust_anchors)  # type: ignore[attr-defined]

    async def run(budget: int, names: list[str]) -> list[str]:
        validator = Validator(fetch, anchors, budget=budget)
        return [(await validator.check(n, "MX")).security for n in names]

    # the first MX answer needs 4 queries here (MX, . DNSKEY, dane.test. DS and DNSKEY)
    assert asyncio.run(run(2, ["good.dane.test"])) == ["indeterminate"]
    names = [f"{d}.dane.test" for d in ("good", "rolled", "ta", "none", "notls", "bogus")]
    # six checks through one validator: the chain is fetched once, each check has its own
    # budget, so the later ones are not starved (a list run shares one validator)
    assert asyncio.run(run(5, names)) == ["secure"] * len(names)


def test_a_list_run_looks_dane_up_once_per_domain(world: object, tmp_path: Path) -> None:
    from tests.conftest import run_cli

    rig: Any = world
    listing = tmp_path / "list.txt"
    listing.write_text("a@good.dane.test\nb@good.dane.test\nc@good.dane.test\na@rolled.dane.test\n")
    before = len(rig.dns.queries)
    out = tmp_path / "out.jsonl"
    result = run_cli(["probe", "--resolver", rig.resolver, "--port", str(rig.smtp_port),
                      "--transport", "--trust-anchor", str(rig.anchor), "--file", str(listing),
                      "--format", "jsonl", "--no-progress", "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    docs = {d["address"]: d for d in map(json.loads, lines)}
    assert len(docs) == 4
    statuses = {a: d["transport"]["dane"]["hosts"][0]["status"] for a, d in docs.items()}
    assert statuses == {"a@good.dane.test": "ok", "b@good.dane.test": "ok",
                        "c@good.dane.test": "ok", "a@rolled.dane.test": "mismatch"}  # fmt: skip
    asked = [q for q in rig.dns.queries[before:] if q[1] == "TLSA"]
    assert sum(q[0] == "_25._tcp.mx-good.dane.test." for q in asked) == 1, asked


def test_a_cname_mx_host_uses_the_targets_tlsa_records(world: object) -> None:
    host = _host(_probe(world, "a@alias.dane.test"))
    assert host["host"] == "mx-alias.dane.test"
    assert host["tlsa_name"] == "_25._tcp.mx-good.dane.test"  # RFC 7672 §2.2.2
    assert host["status"] == "ok", host["text"]


def test_a_ds_of_an_unsupported_algorithm_means_unsigned(world: object) -> None:
    mx = _dane(_probe(world, "a@odd.test", "--timeout", "2"))["mx_records"]
    assert isinstance(mx, dict) and mx["dnssec"] == "insecure", mx
    assert "RFC 4035 §5.2" in str(mx["reason"])
