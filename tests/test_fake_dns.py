"""Tests for the fake authoritative DNS server (smtpdiag.testing.dns_server)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

from smtpdiag.testing.dns_server import (
    Behaviour,
    FakeDNSServer,
    ThreadedFakeDNS,
    load_behaviour,
    load_directory,
    load_zones,
)

ZONE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "dns" / "fakedns-test"
ZONES = load_zones(ZONE_DIR)
BEHAVIOUR = load_behaviour(ZONE_DIR / "behaviour.toml")


def run_with_server(
    test: Callable[[FakeDNSServer], Awaitable[None]], behaviour: Behaviour = BEHAVIOUR
) -> None:
    """Run *test* against a fresh server inside its own event loop."""

    async def main() -> None:
        async with FakeDNSServer(ZONES, behaviour) as server:
            await test(server)

    asyncio.run(main())


def make_resolver(server: FakeDNSServer, lifetime: float = 2.0) -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver(configure=False)
    host, port = server.address
    resolver.nameservers = [host]
    resolver.port = port
    resolver.lifetime = lifetime
    return resolver


async def ask(
    server: FakeDNSServer, name: str, rdtype: str, *, tcp: bool = False
) -> dns.message.Message:
    """Send one raw query (no retry, no chasing) and return the response."""
    host, port = server.address
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return await dns.asyncquery.tcp(query, host, port=port, timeout=2)
    return await dns.asyncquery.udp(query, host, port=port, timeout=2)


def texts(message: dns.message.Message) -> list[str]:
    return sorted(line for rrset in message.answer for line in rrset.to_text().splitlines())


def test_load_zones_and_behaviour() -> None:
    assert set(ZONES) == {
        dns.name.from_text(n) for n in ("example.com.", "sub.example.com.", "other.test.")
    }
    zones, behaviour = load_directory(ZONE_DIR)
    assert set(zones) == set(ZONES)
    assert behaviour == BEHAVIOUR
    assert dns.name.from_text("slow.example.com.") in behaviour.timeout
    assert dns.name.from_text("broken.example.com.") in behaviour.servfail
    assert behaviour.truncate_udp_over == 512


def test_load_behaviour_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "behaviour.toml"
    bad.write_text('timeout = "slow.example."\n')
    with pytest.raises(ValueError, match="timeout"):
        load_behaviour(bad)
    bad.write_text('timeuot = ["slow.example."]\n')
    with pytest.raises(ValueError, match="unknown"):
        load_behaviour(bad)
    assert load_directory(tmp_path / "nothing-here")[1] == Behaviour()


def test_mx_a_aaaa_via_resolver() -> None:
    async def check(server: FakeDNSServer) -> None:
        resolver = make_resolver(server)
        mx = await resolver.resolve("example.com.", "MX")
        assert sorted((r.preference, r.exchange.to_text()) for r in mx) == [
            (10, "mx1.example.com."),
            (20, "mx2.example.com."),
        ]
        assert [r.address for r in await resolver.resolve("mx1.example.com.", "A")] == [
            "127.0.0.10"
        ]
        assert [r.address for r in await resolver.resolve("mx1.example.com.", "AAAA")] == ["::1"]
        # longest origin wins: sub.example.com. is its own zone
        sub = await resolver.resolve("sub.example.com.", "MX")
        assert [r.exchange.to_text() for r in sub] == ["mx.sub.example.com."]

    run_with_server(check)


def test_flags_and_question_case_preserved() -> None:
    async def check(server: FakeDNSServer) -> None:
        response = await ask(server, "MX1.Example.COM.", "A")
        assert response.flags & dns.flags.AA
        assert response.flags & dns.flags.RA
        assert response.question[0].name.to_text() == "MX1.Example.COM."
        assert texts(response) == ["MX1.Example.COM. 300 IN A 127.0.0.10"]

    run_with_server(check)


def test_nxdomain_and_nodata_carry_soa() -> None:
    async def check(server: FakeDNSServer) -> None:
        nx = await ask(server, "nope.example.com.", "A")
        assert nx.rcode() == dns.rcode.NXDOMAIN
        assert [r.to_text() for r in nx.authority] == [
            "example.com. 60 IN SOA ns1.example.com. hostmaster.example.com. "
            "2024010101 3600 600 86400 60"
        ]
        nodata = await ask(server, "mx2.example.com.", "AAAA")
        assert nodata.rcode() == dns.rcode.NOERROR
        assert nodata.answer == []
        assert nodata.authority[0].rdtype == dns.rdatatype.SOA
        ent = await ask(server, "deep.example.com.", "A")  # empty non-terminal
        assert (ent.rcode(), ent.answer) == (dns.rcode.NOERROR, [])
        # other.test. has no SOA in its file: one is synthesized
        synth = await ask(server, "missing.other.test.", "MX")
        assert synth.rcode() == dns.rcode.NXDOMAIN
        assert synth.authority[0].rdtype == dns.rdatatype.SOA
        assert synth.authority[0].name == dns.name.from_text("other.test.")

        resolver = make_resolver(server)
        with pytest.raises(dns.resolver.NXDOMAIN):
            await resolver.resolve("nope.example.com.", "A")
        with pytest.raises(dns.resolver.NoAnswer):
            await resolver.resolve("mx2.example.com.", "AAAA")

    run_with_server(check)


def test_any_returns_all_rdatasets() -> None:
    async def check(server: FakeDNSServer) -> None:
        response = await ask(server, "mx1.example.com.", "ANY")
        assert {rrset.rdtype for rrset in response.answer} == {
            dns.rdatatype.A,
            dns.rdatatype.AAAA,
        }

    run_with_server(check)


def test_cname_chains() -> None:
    async def check(server: FakeDNSServer) -> None:
        chain = await ask(server, "www.example.com.", "A")
        assert texts(chain) == [
            "mx1.example.com. 300 IN A 127.0.0.10",
            "web.example.com. 300 IN CNAME mx1.example.com.",
            "www.example.com. 300 IN CNAME web.example.com.",
        ]
        answer = await make_resolver(server).resolve("www.example.com.", "A")
        assert answer.canonical_name == dns.name.from_text("mx1.example.com.")
        assert [r.address for r in answer] == ["127.0.0.10"]
        # qtype CNAME is answered directly, without chasing
        direct = await ask(server, "www.example.com.", "CNAME")
        assert texts(direct) == ["www.example.com. 300 IN CNAME web.example.com."]
        # chain into another served zone
        cross = await ask(server, "cross.example.com.", "A")
        assert texts(cross) == [
            "cross.example.com. 300 IN CNAME mail.other.test.",
            "mail.other.test. 60 IN A 127.0.0.20",
        ]
        # target outside every served zone: the chain just ends, NOERROR
        gone = await ask(server, "gone.example.com.", "A")
        assert gone.rcode() == dns.rcode.NOERROR
        assert texts(gone) == ["gone.example.com. 300 IN CNAME nothing.example.net."]
        # in-zone target that does not exist: NXDOMAIN (RFC 6604) with the CNAME
        dangling = await ask(server, "dangling.example.com.", "A")
        assert dangling.rcode() == dns.rcode.NXDOMAIN
        assert len(dangling.answer) == 1

    run_with_server(check)


def test_cname_loop_is_bounded() -> None:
    async def check(server: FakeDNSServer) -> None:
        loop = await ask(server, "loop1.example.com.", "A")
        assert loop.rcode() == dns.rcode.NOERROR
        assert texts(loop) == [
            "loop1.example.com. 300 IN CNAME loop2.example.com.",
            "loop2.example.com. 300 IN CNAME loop1.example.com.",
        ]
        with pytest.raises(dns.exception.DNSException):
            await make_resolver(server).resolve("loop1.example.com.", "A")

    run_with_server(check)


def test_wildcard() -> None:
    async def check(server: FakeDNSServer) -> None:
        mx = await ask(server, "Anything.wild.example.com.", "MX")
        assert texts(mx) == ["Anything.wild.example.com. 300 IN MX 5 catchall.example.com."]
        deep = await ask(server, "a.b.wild.example.com.", "A")
        assert texts(deep) == ["a.b.wild.example.com. 300 IN A 127.0.0.13"]
        # a closer name exists: no synthesis (NODATA for it, NXDOMAIN below it)
        exists = await ask(server, "exists.wild.example.com.", "MX")
        assert (exists.rcode(), exists.answer) == (dns.rcode.NOERROR, [])
        below = await ask(server, "x.exists.wild.example.com.", "A")
        assert below.rcode() == dns.rcode.NXDOMAIN
        # names beside the wildcard's parent are unaffected
        assert (await ask(server, "wild2.example.com.", "A")).rcode() == dns.rcode.NXDOMAIN

    run_with_server(check)


def test_refused_servfail_notimp() -> None:
    async def check(server: FakeDNSServer) -> None:
        assert (await ask(server, "example.net.", "A")).rcode() == dns.rcode.REFUSED
        assert (await ask(server, "broken.example.com.", "MX")).rcode() == dns.rcode.SERVFAIL
        host, port = server.address
        notify = dns.message.make_query("example.com.", "SOA")
        notify.set_opcode(dns.opcode.NOTIFY)
        response = await dns.asyncquery.udp(notify, host, port=port, timeout=2)
        assert response.rcode() == dns.rcode.NOTIMP
        with pytest.raises(dns.resolver.NoNameservers):
            await make_resolver(server).resolve("broken.example.com.", "MX")

    run_with_server(check)


def test_timeout_names_get_no_reply() -> None:
    async def check(server: FakeDNSServer) -> None:
        resolver = make_resolver(server, lifetime=0.5)
        with pytest.raises(dns.exception.Timeout):
            await resolver.resolve("slow.example.com.", "MX")
        assert ("slow.example.com.", "MX", "udp") in server.queries

    run_with_server(check)


def test_truncated_udp_then_tcp_retry() -> None:
    async def check(server: FakeDNSServer) -> None:
        udp = await ask(server, "big.example.com.", "TXT")
        assert udp.flags & dns.flags.TC
        assert udp.answer == []
        server.queries.clear()
        answer = await make_resolver(server).resolve("big.example.com.", "TXT")
        strings = [s for rdata in answer for s in rdata.strings]
        assert len(strings) == 16
        assert sum(len(s) for s in strings) > 3800
        assert server.queries == [
            ("big.example.com.", "TXT", "udp"),
            ("big.example.com.", "TXT", "tcp"),
        ]
        # an EDNS client with a large buffer still gets TC: the 512-byte limit applies
        host, port = server.address
        query = dns.message.make_query("big.example.com.", "TXT", use_edns=0, payload=4096)
        edns = await dns.asyncquery.udp(query, host, port=port, timeout=2)
        assert edns.flags & dns.flags.TC

    run_with_server(check)


def test_truncation_threshold_and_edns_payload() -> None:
    async def check(server: FakeDNSServer) -> None:
        host, port = server.address
        plain = await ask(server, "big.example.com.", "TXT")
        assert not plain.flags & dns.flags.TC
        assert len(plain.answer[0]) == 1
        query = dns.message.make_query("big.example.com.", "TXT", use_edns=0, payload=1232)
        small = await dns.asyncquery.udp(query, host, port=port, timeout=2)
        assert small.flags & dns.flags.TC

    run_with_server(check, Behaviour(truncate_udp_over=65535))


def test_several_queries_on_one_tcp_connection() -> None:
    with (
        ThreadedFakeDNS(ZONES, BEHAVIOUR) as server,
        socket.create_connection(server.address, timeout=2) as sock,
    ):
        for name in ("mx1.example.com.", "mx2.example.com.", "nope.example.com."):
            wire = dns.message.make_query(name, "A").to_wire()
            sock.sendall(struct.pack("!H", len(wire)) + wire)
        responses = [dns.message.from_wire(_read_frame(sock)) for _ in range(3)]
        assert [r.rcode() for r in responses] == [
            dns.rcode.NOERROR,
            dns.rcode.NOERROR,
            dns.rcode.NXDOMAIN,
        ]
    assert [q[2] for q in server.queries] == ["tcp"] * 3


def _read_frame(sock: socket.socket) -> bytes:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "connection closed"
            data += chunk
        return data

    (length,) = struct.unpack("!H", exactly(2))
    return exactly(length)


def test_threaded_server_from_sync_code() -> None:
    with ThreadedFakeDNS.from_directory(ZONE_DIR) as server:
        host, port = server.address
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
        resolver.lifetime = 2
        answer = resolver.resolve("example.com.", "MX")
        assert len(answer) == 2

        async def in_main_thread_loop() -> list[str]:
            aresolver = dns.asyncresolver.Resolver(configure=False)
            aresolver.nameservers = [host]
            aresolver.port = port
            result = await aresolver.resolve("mx2.example.com.", "A")
            return [r.address for r in result]

        assert asyncio.run(in_main_thread_loop()) == ["127.0.0.11"]
        assert ("example.com.", "MX", "udp") in server.queries
    with pytest.raises(RuntimeError):
        _ = server.address


def test_malformed_packets_do_not_kill_server() -> None:
    with ThreadedFakeDNS(ZONES) as server:
        garbage = [b"", b"\x00", b"\xff" * 11, b"\x12\x34" + b"\x01" * 40, bytes(range(256))]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for packet in garbage:
                udp.sendto(packet, server.address)
        with socket.create_connection(server.address, timeout=2) as tcp:
            tcp.sendall(b"\x00\x05hello")  # framed garbage: ignored, connection stays usable
            wire = dns.message.make_query("mx1.example.com.", "A").to_wire()
            tcp.sendall(struct.pack("!H", len(wire)) + wire)
            assert dns.message.from_wire(_read_frame(tcp)).rcode() == dns.rcode.NOERROR
        with socket.create_connection(server.address, timeout=2) as tcp:
            tcp.sendall(b"\xff\xff\x00")  # truncated frame, then hang up
        query = dns.message.make_query("mx1.example.com.", "A")
        response = dns.query.udp(query, server.address[0], port=server.address[1], timeout=2)
        assert response.rcode() == dns.rcode.NOERROR
        assert server.queries == [
            ("mx1.example.com.", "A", "tcp"),
            ("mx1.example.com.", "A", "udp"),
        ]


def test_same_port_for_udp_and_tcp() -> None:
    async def check(server: FakeDNSServer) -> None:
        udp = await ask(server, "mx1.example.com.", "A")
        tcp = await ask(server, "mx1.example.com.", "A", tcp=True)
        assert texts(udp) == texts(tcp)
        assert [q[2] for q in server.queries] == ["udp", "tcp"]

    run_with_server(check)
