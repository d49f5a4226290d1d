"""A small fake authoritative DNS server (UDP + TCP) for demos and tests.

Zones are ordinary zone files named ``<origin>.zone`` in one directory; an optional
``behaviour.toml`` next to them injects faults (dropped queries, SERVFAIL, UDP truncation)::

    timeout = ["slow.example."]      # no reply at all, any qtype
    servfail = ["broken.example."]   # rcode SERVFAIL
    truncate_udp_over = 512          # bigger UDP answers get TC=1 (client retries over TCP)

Run it by hand with ``python -m smtpdiag.testing.dns_server DIRECTORY --port 5300``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import struct
import threading
import tomllib
from collections.abc import Iterable, Mapping, Sequence
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

__all__ = [
    "Behaviour",
    "FakeDNSServer",
    "ThreadedFakeDNS",
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
    """Fault injection: which names time out or SERVFAIL, and the UDP truncation threshold."""

    timeout: frozenset[dns.name.Name] = frozenset()
    servfail: frozenset[dns.name.Name] = frozenset()
    truncate_udp_over: int = 512

    @classmethod
    def of(
        cls, timeout: Iterable[str] = (), servfail: Iterable[str] = (), truncate_udp_over: int = 512
    ) -> Behaviour:
        """Build from textual names (relative names are made absolute)."""
        return cls(
            frozenset(map(dns.name.from_text, timeout)),
            frozenset(map(dns.name.from_text, servfail)),
            truncate_udp_over,
        )


def load_behaviour(path: str | Path) -> Behaviour:
    """Parse a ``behaviour.toml`` file; unknown keys or wrong types raise ``ValueError``."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    unknown = set(data) - {"timeout", "servfail", "truncate_udp_over"}
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
    return Behaviour.of(lists["timeout"], lists["servfail"], limit)


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


class _ServedZone:
    """A zone plus precomputed lookup data (existing names incl. empty non-terminals)."""

    def __init__(self, zone: dns.zone.Zone) -> None:
        assert zone.origin is not None
        self.zone = zone
        self.origin: dns.name.Name = zone.origin
        self.existing: set[dns.name.Name] = {self.origin}
        for name in zone.nodes:
            while name != self.origin and name.is_subdomain(self.origin):
                self.existing.add(name)
                name = name.parent()
        soa = zone.get_rdataset(self.origin, dns.rdatatype.SOA)
        if soa is None:  # zone files may omit the SOA: synthesize one for negative answers
            ns = dns.name.Name((b"ns",)).concatenate(self.origin)  # works for the root too
            host = dns.name.Name((b"hostmaster",)).concatenate(self.origin)
            text = f"{ns} {host} 1 3600 600 86400 60"
            soa = dns.rdataset.from_rdata(60, dns.rdata.from_text(_IN, dns.rdatatype.SOA, text))
        rdata = soa[0]
        assert isinstance(rdata, dns.rdtypes.ANY.SOA.SOA)
        # RFC 2308 §3: the negative-answer SOA TTL is capped by its MINIMUM field.
        self.soa = dns.rrset.from_rdata_list(self.origin, min(soa.ttl, rdata.minimum), [rdata])

    def negative(self, rcode: dns.rcode.Rcode) -> _Result:
        """NXDOMAIN/NODATA with the zone's SOA in the authority section."""
        return _Result(rcode, authority=[self.soa])

    def _node(self, name: dns.name.Name) -> dns.node.Node | None:
        """The node for *name*, or the matching wildcard node (RFC 1034 §4.3.3)."""
        node = self.zone.get_node(name)
        if node is not None or name in self.existing:
            return node
        encloser = name.parent()
        while encloser not in self.existing:
            encloser = encloser.parent()
        return self.zone.get_node(_WILDCARD.concatenate(encloser))

    def lookup(self, name: dns.name.Name, qtype: dns.rdatatype.RdataType) -> _Result:
        """Answer *qtype* at *name*; owner names use the caller's spelling of *name*."""
        node = self._node(name)
        if node is None:
            exists = name in self.existing
            return self.negative(dns.rcode.NOERROR if exists else dns.rcode.NXDOMAIN)
        if qtype == dns.rdatatype.ANY:
            rdatasets = list(node.rdatasets)
        else:
            found = node.get_rdataset(_IN, qtype)
            if found is None and qtype != dns.rdatatype.CNAME:
                found = node.get_rdataset(_IN, dns.rdatatype.CNAME)
            rdatasets = [] if found is None else [found]
        if not rdatasets:
            return self.negative(dns.rcode.NOERROR)
        answer = [dns.rrset.from_rdata_list(name, rds.ttl, list(rds)) for rds in rdatasets]
        cname = rdatasets[0][0]
        if isinstance(cname, CNAME) and qtype not in (dns.rdatatype.CNAME, dns.rdatatype.ANY):
            return _Result(dns.rcode.NOERROR, answer, cname_target=cname.target)
        return _Result(dns.rcode.NOERROR, answer)


class _Responder:
    """Pure DNS logic: turns a parsed query into a response message."""

    def __init__(self, zones: Mapping[dns.name.Name, dns.zone.Zone]) -> None:
        self.zones = {origin: _ServedZone(zone) for origin, zone in zones.items()}

    def find_zone(self, name: dns.name.Name) -> _ServedZone | None:
        """The served zone with the longest origin containing *name*."""
        while True:
            if name in self.zones:
                return self.zones[name]
            if name == dns.name.root or name == dns.name.empty:
                return None
            name = name.parent()

    def resolve(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> _Result:
        """Look *qname* up, following CNAMEs inside served zones (bounded, loop-safe)."""
        zone = self.find_zone(qname)
        if zone is None:
            return _Result(dns.rcode.REFUSED)
        answer: list[dns.rrset.RRset] = []
        seen = {qname}
        name = qname
        while True:
            result = zone.lookup(name, qtype)
            answer += result.answer
            target = result.cname_target
            if target is None:
                return _Result(result.rcode, answer, result.authority)
            next_zone = self.find_zone(target)
            if next_zone is None or target in seen or len(seen) > MAX_CNAME_HOPS:
                return _Result(dns.rcode.NOERROR, answer)
            seen.add(target)
            zone, name = next_zone, target

    def respond(self, query: dns.message.Message, behaviour: Behaviour) -> dns.message.Message:
        """Build the authoritative response to *query* (applies SERVFAIL behaviour)."""
        response = dns.message.make_response(query, recursion_available=True)
        response.flags |= dns.flags.AA
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
            result = self.resolve(question.name, qtype)
            response.set_rcode(result.rcode)
            response.answer = list(result.answer)
            response.authority = list(result.authority)
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
        self._responder = _Responder(zones)
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


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point: serve a zone directory until interrupted."""
    parser = argparse.ArgumentParser(description="Fake authoritative DNS server (UDP+TCP).")
    parser.add_argument("directory", help="directory with <origin>.zone files [+ behaviour.toml]")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5300, help="0 picks a free port")
    args = parser.parse_args(argv)

    async def serve() -> None:
        async with FakeDNSServer.from_directory(args.directory, args.host, args.port) as server:
            host, port = server.address
            print(f"fake DNS serving {args.directory} on {host}:{port} (udp+tcp)", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
