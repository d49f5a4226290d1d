"""Interop with a real Postfix: probes through the fake DNS to a private Postfix instance
(fixtures/postfix/), checked against what Postfix really says.

Needs Debian's postfix package and root (see README, "Interop tests"). CI installs it and
sets SMTPDIAG_REQUIRE_POSTFIX=1, which makes a missing Postfix a failure, never a skip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtpdiag.testing.dns_server import ThreadedFakeDNS

from .conftest import FIXTURES, run_cli
from .postfix_rig import PostfixInstance, postfix_binary

REQUIRED = os.environ.get("SMTPDIAG_REQUIRE_POSTFIX") == "1"


@pytest.fixture(scope="module")
def postfix() -> Iterator[PostfixInstance]:
    if postfix_binary() is None or os.geteuid() != 0:
        message = "Postfix interop tests need the postfix package and root"
        if REQUIRED:
            pytest.fail(message + " (SMTPDIAG_REQUIRE_POSTFIX=1)")
        pytest.skip(message + ": apt-get install postfix, then run as root")
    instance = PostfixInstance()
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def dns() -> Iterator[ThreadedFakeDNS]:
    with ThreadedFakeDNS.from_directory(FIXTURES / "dns" / "interop") as server:
        yield server


def probe_args(dns: ThreadedFakeDNS) -> list[str]:
    """``smtpdiag probe`` aimed at the interop Postfix through the fake DNS."""
    host, port = dns.address
    return [
        "probe",
        "--resolver",
        f"{host}:{port}",
        "--port",
        "2525",
        "--helo",
        "probe.interop.test",
        "--timeout",
        "10",
        "--dns-timeout",
        "2",
        "--dnsbl",
        "interop.test",
    ]


def probe(dns: ThreadedFakeDNS, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli([*probe_args(dns), "--format", "json", *args])
    return result.exit_code, json.loads(result.output)


def replies(doc: dict[str, Any], stage: str) -> list[dict[str, Any]]:
    return [s["reply"] for a in doc["attempts"] for s in a["steps"] if s["stage"] == stage]


def run_list(args: list[str], listing: Path, *extra: str) -> Any:
    """``smtpdiag probe --file LISTING --format jsonl`` with ``args`` (probe_args) first."""
    return run_cli([*args, "--no-progress", "--file", str(listing), "--format", "jsonl", *extra])


def maillog_until(postfix: PostfixInstance, before: int, done: Any) -> str:
    """Postfix's log since offset ``before``, once ``done(log)`` holds (postlogd and anvil
    write a moment after the session ends), or as it is after 5 s."""
    import time

    log = postfix.maillog[before:]
    for _ in range(50):
        if done(log):
            break
        time.sleep(0.1)
        log = postfix.maillog[before:]
    return log


def test_known_user_is_deliverable(postfix: PostfixInstance, dns: ThreadedFakeDNS) -> None:
    code, doc = probe(dns, "alice@interop.test")
    assert (code, doc["verdict"], doc["reason"]) == (0, "deliverable", "accepted")
    att = doc["attempts"][0]
    assert att["address"] == "127.0.0.40"
    assert replies(doc, "banner")[0]["lines"] == [
        "mx.interop.test ESMTP Postfix (smtpdiag interop)"
    ]
    assert {"PIPELINING", "SIZE", "ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8"} <= set(
        att["extensions"]
    )
    assert att["tls"] is not None and att["tls"]["hostname_matches"] is True
    rcpt = replies(doc, "rcpt")
    assert rcpt[0] == {"code": 250, "enhanced": "2.1.5", "lines": ["2.1.5 Ok"]}
    # the catch-all check: Postfix's own refusal of an unknown user
    assert rcpt[1]["code"] == 550 and "User unknown in virtual mailbox table" in rcpt[1]["lines"][0]
    assert doc["catch_all"]["accepted"] is False


def test_unknown_user(postfix: PostfixInstance, dns: ThreadedFakeDNS) -> None:
    code, doc = probe(dns, "nobody@interop.test")
    assert (code, doc["verdict"], doc["reason"]) == (1, "undeliverable", "mailbox-unknown")
    assert replies(doc, "rcpt")[0] == {
        "code": 550,
        "enhanced": "5.1.1",
        "lines": [
            "5.1.1 <nobody@interop.test>: Recipient address rejected: User unknown in "
            "virtual mailbox table"
        ],
    }


def test_relay_denied(postfix: PostfixInstance, dns: ThreadedFakeDNS) -> None:
    code, doc = probe(dns, "someone@relay.test")
    assert (code, doc["verdict"], doc["reason"]) == (1, "undeliverable", "relay-denied")
    assert replies(doc, "rcpt")[0]["lines"] == ["5.7.1 <someone@relay.test>: Relay access denied"]


def test_starttls_required_listener(postfix: PostfixInstance, dns: ThreadedFakeDNS) -> None:
    code, doc = probe(dns, "alice@secure.interop.test")
    assert (code, doc["verdict"]) == (0, "deliverable")
    assert doc["attempts"][0]["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    code, doc = probe(dns, "--starttls", "never", "alice@secure.interop.test")
    assert (code, doc["verdict"], doc["reason"]) == (1, "undeliverable", "tls-required")
    assert replies(doc, "mail")[0]["lines"] == ["5.7.0 Must issue a STARTTLS command first"]


def test_postfix_never_saw_data(postfix: PostfixInstance, dns: ThreadedFakeDNS) -> None:
    probe(dns, "alice@interop.test")
    summaries = [line for line in postfix.maillog.splitlines() if "disconnect from" in line]
    assert summaries, postfix.maillog[-2000:]
    for line in summaries:
        assert " data=" not in line and " bdat=" not in line, line


def test_pipelining_is_what_postfix_expects(postfix: PostfixInstance, dns: ThreadedFakeDNS) -> None:
    """Postfix offers PIPELINING; the probe uses it (one flight for MAIL, both RCPTs and
    QUIT), each reply tied to its command, and Postfix logs no improper pipelining (which
    Postfix 3.9's smtpd_forbid_unauth_pipelining would answer by disconnecting)."""
    code, doc = probe(dns, "alice@interop.test")
    att = doc["attempts"][0]
    assert code == 0 and att["pipelined"] is True
    assert att["flights"] == 4  # EHLO, STARTTLS, EHLO, the transaction (+ the TLS handshake)
    stages = [s["stage"] for s in att["steps"]]
    assert stages[-4:] == ["mail", "rcpt", "rcpt", "quit"]
    assert [s["reply"]["code"] for s in att["steps"][-4:]] == [250, 250, 550, 221]
    code, doc = probe(dns, "--no-pipelining", "alice@interop.test")
    assert code == 0 and doc["attempts"][0]["pipelined"] is False
    log = postfix.maillog.lower()
    assert "improper command pipelining" not in log, postfix.maillog[-2000:]


def sessions_in(log: str) -> list[tuple[int, int]]:
    """(accepted, sent) RCPTs of each session Postfix logged ("disconnect ... rcpt=3/9")."""
    import re

    found = re.findall(r"disconnect from .* rcpt=(\d+)/(\d+)", log)
    return [(int(ok), int(sent)) for ok, sent in found]


def test_sessions_carry_recipients_up_to_postfix_error_limit(
    postfix: PostfixInstance, dns: ThreadedFakeDNS, tmp_path: Any
) -> None:
    """A session goes on past 9 RCPTs while Postfix accepts them and ends before 10 are
    refused (smtpd_soft_error_limit: past 10, Postfix sleeps 1 s before every reply), in
    Postfix's own log; every verdict right."""
    listing = tmp_path / "list.txt"
    addresses = [f"user{i}@lists.interop.test" for i in range(200, 260)]
    listing.write_text("\n".join(addresses) + "\n")
    before = len(postfix.maillog)
    result = run_list(probe_args(dns), listing, "--max-per-host", "1")
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(d["address"] for d in docs) == sorted(addresses)
    for d in docs:
        number = int(d["address"].split("@")[0][4:])
        assert d["verdict"] == ("deliverable" if number % 2 == 0 else "undeliverable"), d
    sessions = sessions_in(
        maillog_until(postfix, before, lambda log: sum(n for _, n in sessions_in(log)) >= 61)
    )
    assert sum(n for _, n in sessions) == 61  # every address once, and one catch-all check
    assert max(n - ok for ok, n in sessions) <= 9, sessions
    assert max(n for _, n in sessions) > 9, sessions  # accepted RCPTs do not end a session
    assert len(sessions) <= 5, sessions  # 61 RCPTs, 31 refused: 4 sessions, maybe 5


def test_a_list_against_postfix(
    postfix: PostfixInstance, dns: ThreadedFakeDNS, tmp_path: Any
) -> None:
    """A list over three domains (one whose first MX is dead): every verdict right, sessions
    carrying several recipients, never more than 9 refused a session, and the JUnit report
    failing exactly the lines whose expectation does not hold."""
    import re
    import xml.etree.ElementTree as ET

    domains = ("lists.interop.test", "other.interop.test", "failover.interop.test")
    lines = []
    for i in range(40):
        address = f"user{i // 3 + 100}@{domains[i % 3]}"
        expected = "deliverable" if (i // 3 + 100) % 2 == 0 else "undeliverable"
        lines.append(f"{address} {expected}")
    lines[5] = lines[5].split()[0] + " deliverable"  # user101@failover: odd, so this fails
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(lines) + "\n")
    junit = tmp_path / "junit.xml"
    before = len(postfix.maillog)
    result = run_list(probe_args(dns), listing, "--junit", str(junit))
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(docs) == 40
    for d in docs:
        number = int(d["address"].split("@")[0][4:])
        assert d["verdict"] == ("deliverable" if number % 2 == 0 else "undeliverable"), d
        if number % 2:
            assert d["reason"] == "mailbox-unknown"
    failover = [d for d in docs if d["domain"] == "failover.interop.test"]
    assert all(d["attempts"][0]["address"] == "127.0.0.42" for d in failover)
    assert result.exit_code == 5
    failed = [
        c.attrib["name"]
        for c in ET.parse(junit).getroot().iter("testcase")
        if c.find("failure") is not None
    ]
    assert failed == [f"{lines[5].split()[0]} (line 6)"]

    sessions = sessions_in(
        maillog_until(postfix, before, lambda log: sum(n for _, n in sessions_in(log)) >= 40)
    )
    assert sessions and sum(n for _, n in sessions) >= 40
    # never more than 9 refused RCPTs a session (Postfix slows down after 10), in Postfix's
    # own count
    assert max(n - ok for ok, n in sessions) <= 9, sessions
    assert len(sessions) < 40 / 3  # several recipients a session
    assert "data=" not in postfix.maillog
    # Postfix's own count of connections open at once from us (anvil, every second):
    # never more than --max-per-host (2) to the server address
    anvil = r"max connection count (\d+) for \(127\.0\.0\.40:2525:"
    peaks = [
        int(n) for n in re.findall(anvil, maillog_until(postfix, before, re.compile(anvil).search))
    ]
    assert peaks and max(peaks) <= 2, peaks


@pytest.fixture(scope="module")
def nsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's nsd serving the same zones as the fake DNS (fixtures/dns/interop), as in
    the lab: a real authoritative server answers the list runs' lookups."""
    from .nsd_rig import NSD, running_nsd

    if NSD is None:
        if os.environ.get("SMTPDIAG_REQUIRE_NSD") == "1":
            pytest.fail("nsd is not installed (SMTPDIAG_REQUIRE_NSD=1): apt-get install nsd")
        pytest.skip("nsd is not installed (apt-get install nsd)")
    with running_nsd(FIXTURES / "dns" / "interop", tmp_path_factory.mktemp("nsd")) as address:
        yield address


@pytest.mark.parametrize("server", ["fake-dns", "nsd"])
def test_a_list_with_the_hard_cases_against_postfix(
    postfix: PostfixInstance,
    dns: ThreadedFakeDNS,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    server: str,
) -> None:
    """Issue 10's hard cases, each a real Postfix listener: one that takes one connection
    from us at a time (the next gets 421 "too many connections"), one that takes two
    connections per 10 s (421 until the period ends: backed off and tried again), a banner
    2 s late, and greylisting by a real postgrey (2 s), with relay-denied addresses;
    the lookups answered by the fake DNS, then by a real nsd. Every verdict right; the
    greylisted addresses cleared by a retry from the schedule."""
    import re

    from .postfix_rig import GREYLIST_DELAY

    resolver = request.getfixturevalue("nsd") if server == "nsd" else "{}:{}".format(*dns.address)
    base = 1000 if server == "nsd" else 0  # new triplets for postgrey on the second run
    domains = ("busy", "rated", "slow", "grey")
    lines = [f"user{base + i}@{d}.interop.test" for d in domains for i in range(30)]
    lines += ["someone@relay.test", "other@relay.test"]
    listing = tmp_path / "hard.txt"
    listing.write_text("\n".join(lines) + "\n")
    before = len(postfix.maillog)
    args = probe_args(dns)
    args[args.index("--resolver") + 1] = resolver
    result = run_list(
        args, listing, "--max-per-host", "3", "--retry-temporary", str(GREYLIST_DELAY + 1)
    )
    docs = {d["address"]: d for d in map(json.loads, result.stdout.splitlines())}
    assert set(docs) == set(lines)
    for address, d in docs.items():
        local, _, domain = address.partition("@")
        if domain == "relay.test":
            assert (d["verdict"], d["reason"]) == ("undeliverable", "relay-denied"), d
            continue
        if int(local[4:]) % 2 == 0:
            assert (d["verdict"], d["reason"]) == ("deliverable", "accepted"), d
        else:
            assert (d["verdict"], d["reason"]) == ("undeliverable", "mailbox-unknown"), d
        if domain == "slow.interop.test":
            banner = d["attempts"][0]["steps"][0]
            assert banner["stage"] == "banner" and banner["elapsed_ms"] >= 1900, banner
        if domain == "grey.interop.test" and d["verdict"] == "deliverable":
            # the first answer was postgrey's 450; the retry after the delay was accepted
            assert [(r["code"], r["enhanced"]) for r in d["retries"]] == [(450, "4.2.0")], d
            assert "cleared" in d["summary"], d["summary"]
    assert result.exit_code == 1  # some undeliverable
    rated = [d for d in docs.values() if d["domain"] == "rated.interop.test"]
    assert any("turned away" in d["summary"] and "421 4.7.0" in d["summary"] for d in rated)
    wanted = ("concurrency limit exceeded", "rate limit exceeded", "Greylisted")
    log = maillog_until(postfix, before, lambda log: all(s in log for s in wanted))
    # three sessions at once were tried, Postfix said 421 to the second, and every address
    # still got its answer (above); anvil never counted more than the 3 we allow
    assert "Connection concurrency limit exceeded" in log
    assert "Connection rate limit exceeded" in log  # 127.0.0.51 said 421 (and we waited)
    assert "Greylisted" in log
    peaks = [
        int(m.group(1))
        for m in re.finditer(r"max connection count (\d+) for \(127\.0\.0\.48:2525:", log)
    ]
    assert max(peaks, default=0) <= 3
    assert "data=" not in log


def test_through_real_proxies_to_postfix(
    postfix: PostfixInstance, dns: ThreadedFakeDNS, tmp_path: Path
) -> None:
    """SOCKS5 (microsocks, with a password), SOCKS4 (Dante) and HTTP CONNECT (tinyproxy) in
    front of the real Postfix: the same verdicts as without, STARTTLS through the tunnel,
    and Postfix logs the proxy's connection, not ours."""
    from tests import proxy_rig

    absent = proxy_rig.missing()
    if absent:
        if proxy_rig.REQUIRED:
            pytest.fail(f"{', '.join(absent)} not installed (SMTPDIAG_REQUIRE_PROXIES=1)")
        pytest.skip(f"{', '.join(absent)} not installed")
    ports = [proxy_rig.free_port() for _ in range(3)]
    urls = [
        f"socks5://probe:s3cret@127.0.0.1:{ports[0]}",
        f"socks4://127.0.0.1:{ports[1]}",
        f"http://127.0.0.1:{ports[2]}",
    ]
    with (
        proxy_rig.microsocks(ports[0], "probe", "s3cret", bind="127.0.0.9"),
        proxy_rig.dante(ports[1], tmp_path),
        proxy_rig.tinyproxy(ports[2], tmp_path),
    ):
        for url in urls:
            code, doc = probe(dns, "--proxy", url, "alice@interop.test")
            assert (code, doc["verdict"]) == (0, "deliverable"), (url, doc["summary"])
            att = doc["attempts"][0]
            assert att["route"] == url.replace("s3cret", "***")
            assert att["tls"] is not None and att["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
            code, doc = probe(dns, "--proxy", url, "nobody@interop.test")
            assert (code, doc["verdict"], doc["blocked_side"]) == (1, "undeliverable", "recipient")
    # microsocks connected from its -b address: that is the client Postfix saw
    assert "connect from unknown[127.0.0.9]" in postfix.maillog


def test_postfix_refusing_the_client_is_the_testers_problem(
    postfix: PostfixInstance, dns: ThreadedFakeDNS
) -> None:
    """Postfix's own client refusal and its anvil rate limit: about us, not the mailbox
    (verdict unknown, blocked_side tester, exit 4); the summary says what to fix here."""
    code, doc = probe(dns, "--server", "127.0.0.46:2525", "alice@interop.test")
    assert (code, doc["verdict"], doc["reason"], doc["blocked_side"]) == (
        4,
        "unknown",
        "client-blocked",
        "tester",
    )
    assert "Client host rejected: Access denied" in replies(doc, "rcpt")[0]["lines"][0]
    assert doc["summary"].startswith("The status of alice@interop.test is unknown")
    # the first recipient of the minute passes, the next is rate-limited by anvil
    args = ("--server", "127.0.0.47:2525", "--no-catch-all")
    first = probe(dns, *args, "alice@interop.test")
    code, doc = probe(dns, *args, "bob@interop.test")
    assert first[1]["verdict"] == "deliverable"
    assert (code, doc["verdict"], doc["reason"], doc["blocked_side"]) == (
        4,
        "unknown",
        "rate-limited",
        "tester",
    )
    assert "too many recipients from 127.0.0.1" in replies(doc, "rcpt")[0]["lines"][0]


def test_dane_against_postfixs_certificate(postfix: PostfixInstance, tmp_path: Path) -> None:
    """DANE against the certificate real Postfix presents: signed zones whose TLSA records
    are made from Postfix's own certificate (one domain) and from another key (a rollover
    not published), on the fake DNS with a test root as trust anchor."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from smtpdiag.core.dane import association
    from smtpdiag.io.tls import chain_facts
    from smtpdiag.testing.certs import make_certificates

    def tlsa_of(pem: Path) -> str:
        der = x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
        data = association(chain_facts([der])[0], 1, 1)
        assert data is not None
        return f"3 1 1 {data.hex()}"

    _, other, _ = make_certificates(tmp_path / "other", ["mx.interop.test"])
    zones = tmp_path / "zones"
    zones.mkdir()
    soa = "@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n"
    (zones / "..zone").write_text("$TTL 300\n" + soa)
    (zones / "dane.interop.test.zone").write_text(
        "$ORIGIN dane.interop.test.\n$TTL 300\n" + soa
        + "ok MX 10 mx\nrolled MX 10 mx2\nmx A 127.0.0.40\nmx2 A 127.0.0.40\n"
        + f"_25._tcp.mx TLSA {tlsa_of(postfix.dir / 'cert.pem')}\n"
        + f"_25._tcp.mx2 TLSA {tlsa_of(other)}\n"
    )  # fmt: skip
    (zones / "behaviour.toml").write_text('[dnssec]\nsign = ["*"]\n')
    with ThreadedFakeDNS.from_directory(zones) as server:
        anchor = tmp_path / "anchor.txt"
        anchor.write_text(server.trust_anchors)
        host, port = server.address
        args = ["probe", "--resolver", f"{host}:{port}", "--port", "2525", "--helo",
                "probe.interop.test", "--transport", "--trust-anchor", str(anchor),
                "--format", "json"]  # fmt: skip
        for address, status in (("a@ok.dane.interop.test", "ok"),
                                ("a@rolled.dane.interop.test", "mismatch")):  # fmt: skip
            doc = json.loads(run_cli([*args, address]).output)
            found = doc["transport"]["dane"]["hosts"][0]
            assert (found["status"], found["tlsa_dnssec"]) == (status, "secure"), found["text"]
            assert doc["attempts"][0]["tls"] is not None  # Postfix did STARTTLS
