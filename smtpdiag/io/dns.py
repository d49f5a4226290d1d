"""DNS edge: MX resolution with dnspython's async resolver.

Every query has a timeout; every failure (NXDOMAIN, SERVFAIL, timeout) comes back
as data in the :class:`MxPlan`, never as an exception.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

import smtpdiag.io.dnsfeatures  # noqa: F401  (first: dnspython's feature probe)

# isort: split
import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdatatype
import dns.resolver

from smtpdiag.core.dnstypes import Answer
from smtpdiag.core.errors import UsageError
from smtpdiag.core.model import MxHost, MxPlan, Reason
from smtpdiag.core.records import record

#: More MX hosts than this are not resolved or tried (a hostile zone can list hundreds).
MAX_MX_HOSTS = 20
#: Addresses kept per host.
MAX_ADDRESSES = 8


@record
class DnsConfig:
    """Which resolvers to ask and how long to wait for each query."""

    nameservers: tuple[tuple[str, int], ...] = ()  # empty: the system's resolvers
    timeout: float = 5.0


def make_resolver(config: DnsConfig) -> dns.asyncresolver.Resolver:
    """A resolver for ``config``. Raises UsageError if no resolver is configured."""
    if config.nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(host, port) for host, port in config.nameservers
        ]
    else:
        try:
            resolver = dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            raise UsageError(
                "no DNS resolver configured on this machine (/etc/resolv.conf): pass --resolver IP"
            ) from None
    resolver.timeout = config.timeout
    resolver.lifetime = config.timeout
    resolver.cache = dns.resolver.Cache()
    return resolver


@record
class LookupResult:
    """Answer of one query: records as text, or an error kind and message."""

    records: tuple[str, ...] = ()
    error_kind: str | None = None  # "nxdomain", "nodata", "timeout", "servfail", "error"
    error: str | None = None


async def lookup(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> LookupResult:
    """Query ``name``/``rdtype``; never raises."""
    try:
        answer = await resolver.resolve(name, rdtype, search=False)
    except dns.resolver.NXDOMAIN:
        return LookupResult(error_kind="nxdomain", error=f"{name} does not exist (NXDOMAIN)")
    except dns.resolver.NoAnswer:
        return LookupResult(error_kind="nodata", error=f"{name} has no {rdtype} records")
    except dns.resolver.LifetimeTimeout:
        return LookupResult(
            error_kind="timeout",
            error=f"DNS timeout: no answer for {name} {rdtype} within {resolver.lifetime:g}s",
        )
    except dns.resolver.NoNameservers as exc:
        detail = _servfail_detail(exc)
        return LookupResult(
            error_kind="servfail", error=f"DNS failure for {name} {rdtype}: {detail}"
        )
    except dns.exception.DNSException as exc:
        return LookupResult(error_kind="error", error=f"DNS error for {name} {rdtype}: {exc}")
    except (OSError, ValueError) as exc:
        return LookupResult(error_kind="error", error=f"DNS error for {name} {rdtype}: {exc}")
    return LookupResult(records=tuple(rr.to_text() for rr in answer))


def _servfail_detail(exc: dns.resolver.NoNameservers) -> str:
    errors = exc.kwargs.get("errors") or []
    parts = []
    for err in errors[:3]:
        # (server, tcp, port, error, answer)
        server, answer = err[0], err[4] if len(err) > 4 else None
        rcode = ""
        if answer is not None:
            try:
                rcode = dns.rcode.to_text(answer.rcode())
            except Exception:  # pragma: no cover - defensive
                rcode = ""
        parts.append(f"{server} answered {rcode or err[3]}")
    return "; ".join(parts) or "all servers failed (SERVFAIL)"


async def resolve_addresses(
    resolver: dns.asyncresolver.Resolver, host: str, families: Sequence[int]
) -> tuple[tuple[str, ...], str | None, str | None]:
    """A and AAAA of ``host``: (addresses, error, error_kind)."""
    types = [t for t, fam in (("A", 4), ("AAAA", 6)) if fam in families]
    results = await asyncio.gather(*(lookup(resolver, host, t) for t in types))
    addresses: list[str] = []
    for res in results:
        addresses.extend(res.records)
    if addresses:
        return tuple(addresses[:MAX_ADDRESSES]), None, None
    kinds = {r.error_kind for r in results}
    if "nxdomain" in kinds:
        return (), f"{host} does not exist (NXDOMAIN)", "nxdomain"
    for res in results:
        if res.error_kind in ("timeout", "servfail", "error"):
            return (), res.error, res.error_kind
    fams = " or ".join(types)
    return (), f"{host} has no {fams} records", "nodata"


async def resolve_mx(
    resolver: dns.asyncresolver.Resolver,
    domain: str,
    *,
    families: Sequence[int] = (4, 6),
    shuffle: bool = True,
    rng: random.Random | None = None,
) -> MxPlan:
    """The hosts to try for ``domain`` (A-label form), in the order RFC 5321 §5.1 gives."""
    res = await lookup(resolver, domain, "MX")
    if res.error_kind == "nxdomain":
        return MxPlan("none", (), f"{domain} does not exist (NXDOMAIN)", "domain-unknown")
    if res.error_kind in ("timeout", "servfail", "error"):
        return MxPlan("none", (), res.error, "dns-failure")
    if res.error_kind == "nodata":
        # RFC 5321 §5.1: no MX records -> the domain itself is the implicit MX
        addresses, error, kind = await resolve_addresses(resolver, domain, families)
        if kind in ("timeout", "servfail", "error"):
            return MxPlan("implicit", (MxHost(domain, None, (), error),), error, "dns-failure")
        if not addresses:
            return MxPlan(
                "none",
                (),
                f"{domain} has no MX records and no address records: it cannot receive mail",
                "no-mail-accepted",
            )
        return MxPlan("implicit", (MxHost(domain, None, addresses),))

    records: list[tuple[int, str]] = []
    for text in res.records:
        pref_text, _, exchange = text.partition(" ")
        try:
            pref = int(pref_text)
        except ValueError:
            continue
        records.append((pref, exchange.rstrip(".").lower() if exchange != "." else "."))
    if any(exchange == "." for _, exchange in records):
        if len(records) == 1:
            return MxPlan(
                "null",
                (MxHost(".", records[0][0], ()),),
                f"{domain} publishes a null MX (RFC 7505): it accepts no mail",
                "no-mail-accepted",
            )
        # RFC 7505 §3: a null MX must be the only MX; ignore it among others
        records = [r for r in records if r[1] != "."]
    rng = rng or random.Random()
    if shuffle:
        rng.shuffle(records)
    records.sort(key=lambda r: r[0])  # stable: equal preferences stay shuffled
    note = None
    if len(records) > MAX_MX_HOSTS:
        note = f"{domain} lists {len(records)} MX records; only the first {MAX_MX_HOSTS} are used"
        records = records[:MAX_MX_HOSTS]
    resolved = await asyncio.gather(
        *(resolve_addresses(resolver, exchange, families) for _, exchange in records)
    )
    hosts = tuple(
        MxHost(exchange, pref, addresses, error)
        for (pref, exchange), (addresses, error, _) in zip(records, resolved, strict=True)
    )
    return MxPlan("mx", hosts, note, None)


async def resolve_server(
    resolver: dns.asyncresolver.Resolver, host: str, families: Sequence[int]
) -> MxPlan:
    """The plan for ``--server HOST``: the host itself, no MX lookup."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return MxPlan("server-option", (MxHost(host, None, (str(ip),)),))
    addresses, error, kind = await resolve_addresses(resolver, host, families)
    plan_kind: Reason | None = None
    if kind in ("timeout", "servfail", "error") or not addresses:
        plan_kind = "dns-failure"
    return MxPlan("server-option", (MxHost(host, None, addresses, error),), error, plan_kind)


class DnsLookup:
    """Typed DNS queries for the auth checks, with one in-run cache.

    Calling it as ``await lookup(name, rdtype)`` returns an :class:`smtpdiag.auth.spf.Answer`;
    concurrent and repeated queries for the same name and type share one answer.
    Never raises.
    """

    def __init__(self, resolver: dns.asyncresolver.Resolver) -> None:
        self.resolver = resolver
        self._cache: dict[tuple[str, str], asyncio.Future[Answer]] = {}
        self.count = 0

    async def __call__(self, name: str, rdtype: str) -> Answer:
        key = (name.lower().rstrip("."), rdtype.upper())
        cached = self._cache.get(key)
        if cached is None:
            cached = asyncio.ensure_future(self._query(key[0], key[1]))
            self._cache[key] = cached
        return await asyncio.shield(cached)

    async def _query(self, name: str, rdtype: str) -> Answer:
        self.count += 1
        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, UnicodeError, ValueError):
            return Answer(error="nxdomain")  # a name that cannot exist in DNS
        try:
            answer = await self.resolver.resolve(qname, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            return Answer(error="nxdomain")
        except dns.resolver.NoAnswer:
            return Answer(error="nodata")
        except dns.resolver.LifetimeTimeout:
            return Answer(error="timeout")
        except dns.resolver.NoNameservers:
            return Answer(error="servfail")
        except (dns.exception.DNSException, OSError, ValueError):
            return Answer(error="error")
        values: list[bytes | str] = []
        for rr in answer:
            if rdtype == "TXT":
                values.append(b"".join(rr.strings))
            elif rdtype in ("A", "AAAA"):
                values.append(rr.address)
            elif rdtype == "MX":
                values.append(f"{rr.preference} {rr.exchange.to_text(omit_final_dot=True)}")
            else:
                values.append(rr.to_text().rstrip("."))
        return Answer(values=tuple(values))


def make_fetch(config: DnsConfig, *, trust_ad: bool = False) -> Any:
    """A DNSSEC query function for :mod:`smtpdiag.dnssec`: ``await fetch(name, rdtype)``
    gives the whole response message (answer, authority, flags), or a string saying why
    there is none. EDNS with DO; CD set for our own validation (so a validating resolver
    in the way hands over bogus data too), AD set instead for ``--dnssec trust-ad``.
    UDP, then TCP when truncated; each server in turn, within ``config.timeout``."""
    import dns.asyncquery
    import dns.flags
    import dns.message

    servers = [
        (ns.address, ns.port)
        for ns in make_resolver(config).nameservers
        if isinstance(ns, dns.nameserver.Do53Nameserver)
    ]

    async def fetch(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Any:
        query = dns.message.make_query(name, rdtype, want_dnssec=True, payload=1232)
        query.flags |= dns.flags.AD if trust_ad else dns.flags.CD
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.timeout
        problem = "no DNS server configured"
        for host, port in servers:
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                response, _ = await dns.asyncquery.udp_with_fallback(
                    query, host, timeout=left, port=port
                )
            except dns.exception.Timeout:
                problem = f"DNS timeout: no answer for {name} {rdtype.name}"
                continue
            except (dns.exception.DNSException, OSError, ValueError, EOFError) as exc:
                problem = f"DNS error for {name} {rdtype.name}: {exc}"
                continue
            return response
        if loop.time() >= deadline and problem == "no DNS server configured":
            problem = f"DNS timeout: no answer for {name} {rdtype.name} within {config.timeout:g}s"
        return problem

    return fetch
