"""A small fake authoritative DNS server (UDP + TCP) for demos and tests.

Zones are ordinary zone files named ``<origin>.zone`` in one directory (the root zone is
``..zone``); an optional ``behaviour.toml`` next to them injects faults (dropped queries,
SERVFAIL, UDP truncation) and can have zones DNSSEC-signed at load time::

    timeout = ["slow.example."]      # no reply at all, any qtype
    servfail = ["broken.example."]   # rcode SERVFAIL
    truncate_udp_over = 512          # bigger UDP answers get TC=1 (client retries over TCP)

    [dnssec]                         # optional; every key is optional
    sign = ["*"]                     # zones to sign ("*": all of them); others stay unsigned
    no_ds = ["island.test."]         # signed, but the parent zone holds no DS for it
    bogus = ["_25._tcp.mx.bogus.test./TLSA"]  # "owner/TYPE": that rrset's RRSIG is corrupted
    expired = ["old.test."]          # every signature of the zone expired in the past
    nsec3 = ["hashed.test."]         # authenticated denial with NSEC3 instead of NSEC
    ad = false                       # true: AD on answers made only of secure data

Signing (fresh ECDSAP256SHA256 keys at every start; see :mod:`smtpdiag.testing.dnssec`)
puts each signed child's DS (and a delegation NS if missing) into its signed parent zone;
the DS and DNSKEY of each signed zone without a signed parent are the trust anchors
(:attr:`FakeDNSServer.trust_anchors`). With DNSSEC signing the server answers:

* queries with the DO bit: RRSIGs beside every answer rrset, and for NXDOMAIN/NODATA the
  SOA plus the NSEC/NSEC3 records (signed) proving the denial, as RFC 4035 §3.1.3 and
  RFC 5155 §7.2 describe, wildcard answers and wildcard NODATA included. Without DO no
  RRSIG, NSEC or NSEC3 record is sent unless the qtype asks for it (RRSIG returns all the
  signatures at the name);
* DS at the apex of a served zone from the parent served zone (with its denial when it
  has no DS); DNSKEY from the zone's apex;
* ``ad = true``: the AD flag, for queries with DO or AD, when every rrset of the answer
  and authority sections is signed in a zone whose chain of trust from an anchor is
  intact (signed, not expired, DS present and not bogus all the way up) and not listed
  in ``bogus``, as a validating resolver would. Never otherwise.

Not supported: referrals (a delegation to a zone that is not served is answered as
data, unsigned), NSEC3 opt-out, DNAME, more than one key per zone, key rollovers.

Run it by hand with ``python -m smtpdiag.testing.dns_server DIRECTORY --port 5300``;
``--write-anchor FILE`` writes the trust anchors, ``--export-signed OUTDIR`` writes the
signed zones (``<origin>.zone`` with ``$ORIGIN``) and ``trust-anchor.txt`` for a real
server such as nsd, then exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import struct
import threading
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Literal, Self, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rrset
import dns.zone
from dns.rdtypes.ANY.CNAME import CNAME

from smtpdiag.core.records import record
from smtpdiag.testing.dnssec import (
    Denial,
    DNSSECConfig,
    default_soa,
    parse_config,
    sign_zones,
    zone_filename,
    zone_text,
)

__all__ = [
    "Behaviour",
    "DNSSECConfig",
    "FakeDNSServer",
    "ThreadedFakeDNS",
    "export_signed",
    "load_behaviour",
    "load_directory",
    "load_zones",
]

Transport = Literal["udp", "tcp"]
MAX_CNAME_HOPS = 8
TCP_IDLE_TIMEOUT = 10.0
_WILDCARD = dns.name.Name((b"*",))
_IN = dns.rdataclass.IN


@record
class Behaviour:
    """Fault injection: which names time out or SERVFAIL, the UDP truncation threshold,
    and which zones are DNSSEC-signed (and broken)."""

    timeout: frozenset[dns.name.Name] = frozenset()
    servfail: frozenset[dns.name.Name] = frozenset()
    truncate_udp_over: int = 512
    dnssec: DNSSECConfig = DNSSECConfig()

    @classmethod
    def of(
        cls,
        timeout: Iterable[str] = (),
        servfail: Iterable[str] = (),
        truncate_udp_over: int = 512,
        dnssec: DNSSECConfig | None = None,
    ) -> Behaviour:
        """Build from textual names (relative names are made absolute)."""
        return cls(
            frozenset(map(dns.name.from_text, timeout)),
            frozenset(map(dns.name.from_text, servfail)),
            truncate_udp_over,
            dnssec or DNSSECConfig(),
        )


def load_behaviour(path: str | Path) -> Behaviour:
    """Parse a ``behaviour.toml`` file; unknown keys or wrong types raise ``ValueError``."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    unknown = set(data) - {"timeout", "servfail", "truncate_udp_over", "dnssec"}
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}")
    lists: dict[str, list[str]] = {}
    for key in ("timeout", "servfail"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{path}: {key!r} must be a list of domain names")
        lists[key] = value
    limit = data.get("truncate_udp_over", 512)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 12:
        raise ValueError(f"{path}: 'truncate_udp_over' must be an integer >= 12")
    dnssec = parse_config(data.get("dnssec", {}), f"{path}: [dnssec]")
    return Behaviour.of(lists["timeout"], lists["servfail"], limit, dnssec)


def load_zones(directory: str | Path) -> dict[dns.name.Name, dns.zone.Zone]:
    """Load every ``<origin>.zone`` file in *directory*, keyed by absolute origin."""
    zones: dict[dns.name.Name, dns.zone.Zone] = {}
    for path in sorted(Path(directory).glob("*.zone")):
        zone = dns.zone.from_file(str(path), origin=path.stem, relativize=False, check_origin=False)
        assert zone.origin is not None
        if zone.origin in zones:
            raise ValueError(f"{path}: zone {zone.origin} is defined twice")
        zones[zone.origin] = zone
    return zones


def load_directory(
    directory: str | Path,
) -> tuple[dict[dns.name.Name, dns.zone.Zone], Behaviour]:
    """Load the zones of *directory* plus its ``behaviour.toml`` (defaults if absent)."""
    toml = Path(directory) / "behaviour.toml"
    return load_zones(directory), load_behaviour(toml) if toml.is_file() else Behaviour()


@record
class _Result:
    rcode: dns.rcode.Rcode
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    cname_target: dns.name.Name | None = None
    #: Every rrset of answer + authority is signed, in a secure zone, and not bogus.
    secure: bool = False


class _ServedZone:
    """A zone plus precomputed lookup data (existing names incl. empty non-terminals)."""

    def __init__(
        self,
        zone: dns.zone.Zone,
        secure: bool = False,
        bogus: frozenset[tuple[dns.name.Name, dns.rdatatype.RdataType]] = frozenset(),
    ) -> None:
        assert zone.origin is not None
        self.zone = zone
        self.origin: dns.name.Name = zone.origin
        #: Whether the zone's chain of trust is intact (see dnssec.SignedZones.secure).
        self.secure = secure
        self.bogus = bogus
        self.denial = Denial.of(zone)
        self.hidden = frozenset() if self.denial is None else self.denial.hidden  # NSEC3 owners
        self.existing: set[dns.name.Name] = {self.origin}
        for name in zone.nodes:
            if name in self.hidden:
                continue
            while name != self.origin and name.is_subdomain(self.origin):
                self.existing.add(name)
                name = name.parent()
        self.cuts = frozenset(
            name
            for name, node in zone.nodes.items()
            if name != self.origin and node.get_rdataset(_IN, dns.rdatatype.NS) is not None
        )
        # zone files may omit the SOA: synthesize one for negative answers
        soa = zone.get_rdataset(self.origin, dns.rdatatype.SOA) or default_soa(self.origin)
        rdata = soa[0]
        assert isinstance(rdata, dns.rdtypes.ANY.SOA.SOA)
        self.soa = soa
        # RFC 2308 §3: the negative-answer SOA TTL is capped by its MINIMUM field.
        self.soa_ttl = min(soa.ttl, rdata.minimum)

    def _node(self, name: dns.name.Name) -> tuple[dns.node.Node, dns.name.Name] | None:
        """The node for *name*, or the matching wildcard node (RFC 1034 §4.3.3), with its
        owner name in the zone."""
        node = None if name in self.hidden else self.zone.get_node(name)
        if node is not None:
            return node, name
        if name in self.existing:
            return None
        wildcard = _WILDCARD.concatenate(self.encloser(name))
        node = self.zone.get_node(wildcard)
        return None if node is None else (node, wildcard)

    def encloser(self, name: dns.name.Name) -> dns.name.Name:
        """The closest encloser of *name*: its longest existing ancestor (or itself)."""
        while name not in self.existing:
            name = name.parent()
        return name

    def below_cut(self, name: dns.name.Name) -> bool:
        """Whether *name* is strictly below a delegation point (glue, occluded data)."""
        while name != self.origin and name.is_subdomain(self.origin):
            name = name.parent()
            if name in self.cuts:
                return True
        return False

    def lookup(
        self, name: dns.name.Name, qtype: dns.rdatatype.RdataType, dnssec: bool = False
    ) -> _Result:
        """Answer *qtype* at *name*; owner names use the caller's spelling of *name*.

        With *dnssec* (the query's DO bit) RRSIGs and denial proofs are added."""
        out = _Sections(self, dnssec)
        found = self._node(name)
        if found is None:
            out.add_soa()
            if name in self.existing:
                out.add_proof(name, lambda denial: denial.nodata(name))
                return out.result(dns.rcode.NOERROR)
            encloser = self.encloser(name)
            out.add_proof(name, lambda denial: denial.nxdomain(name, encloser))
            return out.result(dns.rcode.NXDOMAIN)
        node, owner = found
        wildcard = owner is not name  # _node returns *name* itself unless it used a wildcard
        if qtype == dns.rdatatype.RRSIG:  # asked for explicitly: every signature at the name
            rdatasets = [rds for rds in node.rdatasets if rds.rdtype == dns.rdatatype.RRSIG]
        elif qtype == dns.rdatatype.ANY:
            hide = {dns.rdatatype.RRSIG} if dnssec else _DNSSEC_ONLY
            rdatasets = [rds for rds in node.rdatasets if rds.rdtype not in hide]
        else:
            found_rds = node.get_rdataset(_IN, qtype)
            if found_rds is None and qtype != dns.rdatatype.CNAME:
                found_rds = node.get_rdataset(_IN, dns.rdatatype.CNAME)
            rdatasets = [] if found_rds is None else [found_rds]
        if not rdatasets:
            out.add_soa()
            if wildcard:
                encloser = owner.parent()
                out.add_proof(name, lambda denial: denial.wildcard_nodata(name, encloser))
            else:
                out.add_proof(name, lambda denial: denial.nodata(name))
            return out.result(dns.rcode.NOERROR)
        for rds in rdatasets:
            out.add(out.answer, name, owner, rds, signed=qtype != dns.rdatatype.RRSIG)
        if wildcard:
            encloser = owner.parent()
            out.add_proof(name, lambda denial: denial.wildcard_answer(name, encloser))
        cname = rdatasets[0][0]
        if isinstance(cname, CNAME) and qtype not in (dns.rdatatype.CNAME, dns.rdatatype.ANY):
            return out.result(dns.rcode.NOERROR, cname.target)
        return out.result(dns.rcode.NOERROR)


_DNSSEC_ONLY = frozenset({dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3})
_Proof = list[tuple[dns.name.Name, dns.rdatatype.RdataType]]


class _Sections:
    """Collects one lookup's answer and authority rrsets and whether all are secure."""

    def __init__(self, zone: _ServedZone, dnssec: bool) -> None:
        self.zone = zone
        self.dnssec = dnssec
        self.answer: list[dns.rrset.RRset] = []
        self.authority: list[dns.rrset.RRset] = []
        self.secure = True

    def add(
        self,
        section: list[dns.rrset.RRset] | None,
        shown: dns.name.Name,
        owner: dns.name.Name,
        rds: dns.rdataset.Rdataset,
        ttl: int | None = None,
        signed: bool = True,
    ) -> None:
        """Add *rds* (at *owner* in the zone) to *section* as *shown*, and its RRSIG under
        DO; a None *section* only accounts for its security."""
        ttl = rds.ttl if ttl is None else ttl
        node = self.zone.zone.nodes.get(owner)
        sigs = None
        if signed and node is not None:
            sigs = node.get_rdataset(_IN, dns.rdatatype.RRSIG, rds.rdtype)
        if section is not None:
            section.append(dns.rrset.from_rdata_list(shown, ttl, list(rds)))
            if self.dnssec and sigs:
                section.append(dns.rrset.from_rdata_list(shown, ttl, list(sigs)))
        self.secure = (
            self.secure
            and bool(sigs)
            and self.zone.secure
            and (owner, rds.rdtype) not in self.zone.bogus
        )

    def add_soa(self) -> None:
        origin = self.zone.origin
        self.add(self.authority, origin, origin, self.zone.soa, self.zone.soa_ttl)

    def add_proof(self, name: dns.name.Name, proof: Callable[[Denial], _Proof]) -> None:
        """Add (under DO) the NSEC/NSEC3 records that *proof* picks for *name*."""
        denial = self.zone.denial
        if denial is None or self.zone.below_cut(name):
            self.secure = False
            return
        for owner, rdtype in proof(denial):
            rds = self.zone.zone.nodes[owner].get_rdataset(_IN, rdtype)
            assert rds is not None
            self.add(self.authority if self.dnssec else None, owner, owner, rds)

    def result(self, rcode: dns.rcode.Rcode, target: dns.name.Name | None = None) -> _Result:
        return _Result(rcode, self.answer, self.authority, target, self.secure)


class _Responder:
    """Pure DNS logic: turns a parsed query into a response message."""

    def __init__(
        self, zones: Mapping[dns.name.Name, dns.zone.Zone], dnssec: DNSSECConfig | None = None
    ) -> None:
        secure: frozenset[dns.name.Name] = frozenset()
        bogus: frozenset[tuple[dns.name.Name, dns.rdatatype.RdataType]] = frozenset()
        #: The trust anchors of the signed zones as zone-file text ("" if none).
        self.trust_anchors = ""
        if dnssec is not None and dnssec != DNSSECConfig():
            signed = sign_zones(zones, dnssec)
            zones, secure, bogus = signed.zones, signed.secure, signed.bogus
            self.trust_anchors = signed.anchor_text
        self.zones = {
            origin: _ServedZone(zone, origin in secure, bogus) for origin, zone in zones.items()
        }

    def find_zone(self, name: dns.name.Name) -> _ServedZone | None:
        """The served zone with the longest origin containing *name*."""
        while True:
            if name in self.zones:
                return self.zones[name]
            if name == dns.name.root or name == dns.name.empty:
                return None
            name = name.parent()

    def zone_for(self, name: dns.name.Name, qtype: dns.rdatatype.RdataType) -> _ServedZone | None:
        """The zone answering *qtype* at *name*: DS at an apex comes from the parent zone."""
        zone = self.find_zone(name)
        at_apex = zone is not None and name == zone.origin and len(name) > 1
        if at_apex and qtype == dns.rdatatype.DS:
            return self.find_zone(name.parent()) or zone
        return zone

    def resolve(
        self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, dnssec: bool = False
    ) -> _Result:
        """Look *qname* up, following CNAMEs inside served zones (bounded, loop-safe)."""
        zone = self.zone_for(qname, qtype)
        if zone is None:
            return _Result(dns.rcode.REFUSED)
        answer: list[dns.rrset.RRset] = []
        authority: list[dns.rrset.RRset] = []
        secure = True
        seen = {qname}
        name = qname
        while True:
            result = zone.lookup(name, qtype, dnssec)
            rcode = result.rcode
            if rcode == dns.rcode.NXDOMAIN and name in self.zones and zone.origin != name:
                rcode = dns.rcode.NOERROR  # DS asked of a parent that lacks the child's name
            answer += result.answer
            authority += result.authority
            secure = secure and result.secure
            target = result.cname_target
            if target is None:
                return _Result(rcode, answer, authority, secure=secure)
            next_zone = self.zone_for(target, qtype)
            if next_zone is None or target in seen or len(seen) > MAX_CNAME_HOPS:
                return _Result(dns.rcode.NOERROR, answer, authority, secure=secure)
            seen.add(target)
            zone, name = next_zone, target

    def respond(self, query: dns.message.Message, behaviour: Behaviour) -> dns.message.Message:
        """Build the authoritative response to *query* (applies SERVFAIL behaviour)."""
        response = dns.message.make_response(query, recursion_available=True)
        response.flags |= dns.flags.AA | (query.flags & dns.flags.CD)
        dnssec = query.edns >= 0 and bool(query.ednsflags & dns.flags.DO)
        if dnssec:
            response.want_dnssec(True)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        qtype = dns.rdatatype.RdataType.make(question.rdtype)
        if question.name in behaviour.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif question.rdclass != _IN:
            response.set_rcode(dns.rcode.REFUSED)
        elif dns.rdatatype.is_metatype(qtype) and qtype != dns.rdatatype.ANY:
            response.set_rcode(dns.rcode.NOTIMP)  # AXFR, IXFR, OPT, ...
        else:
            result = self.resolve(question.name, qtype, dnssec)
            response.set_rcode(result.rcode)
            response.answer = list(result.answer)
            response.authority = list(result.authority)
            wants_ad = dnssec or bool(query.flags & dns.flags.AD)
            if (
                behaviour.dnssec.ad
                and wants_ad
                and result.secure
                and result.authority + result.answer
            ):
                response.flags |= dns.flags.AD
        return response


class FakeDNSServer:
    """Authoritative fake DNS server on one port for both UDP and TCP (asyncio)."""

    def __init__(
        self,
        zones: Mapping[dns.name.Name, dns.zone.Zone],
        behaviour: Behaviour | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.behaviour = behaviour or Behaviour()
        self.host = host
        self.port = port
        #: Every parsed query, in arrival order: (qname, qtype, 'udp' | 'tcp').
        self.queries: list[tuple[str, str, str]] = []
        self._responder = _Responder(zones, self.behaviour.dnssec)
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None
        self._connections: set[asyncio.Task[object]] = set()

    @classmethod
    def from_directory(cls, directory: str | Path, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Serve the zones (and ``behaviour.toml``) found in *directory*."""
        zones, behaviour = load_directory(directory)
        return cls(zones, behaviour, host, port)

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the server listens on (UDP and TCP); only valid once started."""
        if self._address is None:
            raise RuntimeError("server is not running")
        return self._address

    @property
    def trust_anchors(self) -> str:
        """DS and DNSKEY lines (zone-file text) of the signed zones without a signed parent
        zone; empty when nothing is signed. Keys are new every time a server is built."""
        return self._responder.trust_anchors

    def handle(self, wire: bytes, transport: Transport) -> bytes | None:
        """Process one DNS message; return the reply bytes, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # malformed, TSIG without keyring, ...: ignore like a real server
            return None
        if query.flags & dns.flags.QR:
            return None
        if len(query.question) == 1:
            question = query.question[0]
            qtype = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((question.name.to_text(), qtype, transport))
            if question.name in self.behaviour.timeout:
                return None
        response = self._responder.respond(query, self.behaviour)
        try:
            wire = response.to_wire(max_size=65535)
        except dns.exception.TooBig:
            response.answer, response.authority = [], []
            response.set_rcode(dns.rcode.SERVFAIL)
            wire = response.to_wire(max_size=65535)
        limit = self.behaviour.truncate_udp_over
        if query.edns >= 0:
            limit = min(limit, max(query.payload, 512))
        if transport == "udp" and len(wire) > limit:
            response.answer, response.authority, response.additional = [], [], []
            response.flags |= dns.flags.TC
            wire = response.to_wire(max_size=65535)
        return wire

    async def start(self) -> None:
        """Bind UDP and TCP (same port) and start serving."""
        if self._address is not None:
            raise RuntimeError("server already started")
        loop = asyncio.get_running_loop()
        udp_sock, tcp_sock = _bind_pair(self.host, self.port)
        try:
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _UDPProtocol(self), sock=udp_sock
            )
            self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock)
        except BaseException:
            if self._udp is not None:
                self._udp.close()
            self._udp = None
            udp_sock.close()
            tcp_sock.close()
            raise
        host, port = udp_sock.getsockname()[:2]
        self._address = (str(host), int(port))

    async def stop(self) -> None:
        """Stop listening and close open TCP connections."""
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await asyncio.sleep(0)  # let just-accepted connections register themselves
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._tcp.wait_closed()
        self._udp = self._tcp = self._address = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """RFC 1035 §4.2.2 framing; several queries per connection; idle timeout."""
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while True:
                header = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
                (length,) = struct.unpack("!H", header)
                data = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE_TIMEOUT)
                reply = self.handle(data, "tcp")
                if reply is not None:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: FakeDNSServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # not a subclass on 3.11

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        reply = self.server.handle(data, "udp")
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        """ICMP errors (client went away) are irrelevant for a fake server."""


def _bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """Bind a UDP and a TCP socket on the same port (a free one when *port* is 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    error: OSError | None = None
    for _ in range(50 if port == 0 else 1):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            udp.bind((host, port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, udp.getsockname()[1]))
        except OSError as exc:
            udp.close()
            tcp.close()
            error = exc
            continue
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp
    assert error is not None
    raise error


class ThreadedFakeDNS:
    """:class:`FakeDNSServer` running in a background thread with its own event loop.

    For synchronous callers (e.g. tests that run ``asyncio.run`` in the main thread).
    """

    def __init__(
        self,
        zones: Mapping[dns.name.Name, dns.zone.Zone],
        behaviour: Behaviour | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.server = FakeDNSServer(zones, behaviour, host, port)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @classmethod
    def from_directory(cls, directory: str | Path, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Serve the zones (and ``behaviour.toml``) found in *directory*."""
        zones, behaviour = load_directory(directory)
        return cls(zones, behaviour, host, port)

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address

    @property
    def queries(self) -> list[tuple[str, str, str]]:
        return self.server.queries

    @property
    def trust_anchors(self) -> str:
        """See :attr:`FakeDNSServer.trust_anchors`."""
        return self.server.trust_anchors

    def start(self) -> None:
        """Start the thread and block until the server is listening."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="fake-dns", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error

    def stop(self) -> None:
        """Stop the server and join the thread (idempotent)."""
        if self._thread is None:
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            try:
                loop.run_until_complete(self.server.start())
            except BaseException as exc:  # handed over to start() in the caller's thread
                self._error = exc
                return
            self._loop = loop
            self._ready.set()
            loop.run_forever()
            loop.run_until_complete(self.server.stop())
        finally:
            self._loop = None
            self._ready.set()
            loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def export_signed(directory: str | Path, outdir: str | Path) -> str:
    """Write the zones of *directory*, signed as its ``behaviour.toml`` says, to
    ``<outdir>/<origin>.zone`` (with ``$ORIGIN``) plus ``<outdir>/trust-anchor.txt``;
    return the trust anchor text."""
    zones, behaviour = load_directory(directory)
    signed = sign_zones(zones, behaviour.dnssec)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    for origin, zone in sorted(signed.zones.items()):
        (out / zone_filename(origin)).write_text(zone_text(zone), encoding="utf-8")
    (out / "trust-anchor.txt").write_text(signed.anchor_text, encoding="utf-8")
    return signed.anchor_text


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point: serve a zone directory until interrupted."""
    parser = argparse.ArgumentParser(description="Fake authoritative DNS server (UDP+TCP).")
    parser.add_argument("directory", help="directory with <origin>.zone files [+ behaviour.toml]")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5300, help="0 picks a free port")
    parser.add_argument(
        "--write-anchor",
        metavar="FILE",
        help="write the DNSSEC trust anchors (DS and DNSKEY lines) to FILE before serving",
    )
    parser.add_argument(
        "--export-signed",
        metavar="OUTDIR",
        help="write the zones, signed, as OUTDIR/<origin>.zone plus OUTDIR/trust-anchor.txt "
        "(for a real server such as nsd), then exit without serving",
    )
    args = parser.parse_args(argv)
    if args.export_signed is not None:
        anchors = export_signed(args.directory, args.export_signed)
        if args.write_anchor is not None:
            Path(args.write_anchor).write_text(anchors, encoding="utf-8")
        print(f"signed zones of {args.directory} written to {args.export_signed}", flush=True)
        return

    async def serve() -> None:
        server = FakeDNSServer.from_directory(args.directory, args.host, args.port)
        if args.write_anchor is not None:
            Path(args.write_anchor).write_text(server.trust_anchors, encoding="utf-8")
        async with server:
            host, port = server.address
            print(f"fake DNS serving {args.directory} on {host}:{port} (udp+tcp)", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
