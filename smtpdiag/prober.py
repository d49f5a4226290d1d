"""Async orchestration of a probe: resolve, connect in order, hold the session, diagnose."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import os
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any, Literal

from smtpdiag.core.addresses import normalize_domain, parse_address, parse_host_port
from smtpdiag.core.errors import UsageError
from smtpdiag.core.model import (
    Address,
    Attempt,
    ClientView,
    Diagnosis,
    MxHost,
    MxPlan,
    ProbeResult,
    Step,
)
from smtpdiag.core.records import evolve, record
from smtpdiag.io.smtp import Recipient, SessionOptions, StartTls, run_session

if TYPE_CHECKING:
    from smtpdiag.auth.findings import AuthReport, Finding
    from smtpdiag.core.proxyurl import ProxyConfig


@record
class ProbeOptions:
    """Everything that shapes a probe. The defaults are the CLI's defaults."""

    mail_from: str = ""
    helo: str | None = None  # None: this host's FQDN
    port: int = 25
    starttls: StartTls = "auto"
    timeout: float = 30.0  # per step
    deadline: float = 120.0  # whole probe of one address
    resolvers: tuple[str, ...] = ()  # "IP" or "IP:PORT"; empty: the system resolver
    dns_timeout: float = 5.0
    server: str | None = None  # "HOST[:PORT]": skip the MX lookup
    families: tuple[int, ...] = (4, 6)
    source_address: str | None = None
    public_ip: str | None = None  # the address the world sees us as (behind NAT)
    proxy: str | None = None  # socks5://, socks5h://, socks4://, socks4a://, http:// URL
    transport: bool = False  # MTA-STS, DANE, TLS-RPT (also run when TLS decided the verdict)
    dnssec: Literal["validate", "trust-ad"] = "validate"  # how DANE's DNSSEC is judged
    trust_anchor: str | None = None  # DS/DNSKEY file for "validate"; None: the root KSK
    mta_sts_port: int = field(default=443, repr=False)  # the policy host's port (test rigs)
    catch_all: bool = True
    pipelining: bool = True  # RFC 2920, when the server offers it
    all_mx: bool = False
    shuffle: bool = True
    ca_file: str | None = None
    lang: str = "en"
    auth: bool = False  # run the SPF/DMARC/DKIM/PTR/DNSBL report even when nothing is refused
    dkim_selectors: tuple[str, ...] = ()
    dnsbls: tuple[str, ...] | None = None  # None: the default lists
    max_per_host: int = 2  # connections open at once to one server address
    # lists (probe_many, probe_stream, the CLI with several addresses):
    concurrency: int = 50  # sessions open at once in all
    rcpts_per_session: int = 50  # the most recipients one session carries
    #: refused RCPTs after which a session ends (the rest go to another): 9 stays under
    #: Postfix's smtpd_soft_error_limit of 10, past which it sleeps before every reply
    refusals_per_session: int = 9
    rate: float | None = None  # addresses a second per domain (None: no limit)
    retry_temporary: tuple[float, ...] = ()  # waits before retrying a "try later" result
    seed: int | None = field(default=None, repr=False)  # for reproducible shuffles in tests


def parse_resolvers(values: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """``["127.0.0.1:5353", "::1"]`` -> ``(("127.0.0.1", 5353), ("::1", 53))``."""
    import ipaddress

    out = []
    for value in values:
        host, port = parse_host_port(value, 53)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise UsageError(
                f"resolvers {value!r}: give an IP address, not a name", "resolvers"
            ) from None
        out.append((host, port))
    return tuple(out)


def default_helo() -> str:
    """This host's FQDN. A name without a dot (often just "localhost" on containers and CI
    runners) is refused by common policies (Postfix reject_non_fqdn_helo_hostname) before
    the mailbox is even checked, so it becomes "<name>.localdomain"; use --helo to send
    the name the server expects."""
    try:
        name = normalize_domain(socket.getfqdn())[0]
    except UsageError:
        name = "localhost"
    return name if "." in name else f"{name}.localdomain"


def check_options(opts: ProbeOptions) -> None:
    """Raise :class:`UsageError` (naming the field) for values a probe cannot run with.
    Everything is checked here, before any DNS query or connection."""
    if not 0 < opts.port < 65536:
        raise UsageError(f"port {opts.port}: must be from 1 to 65535", "port")
    for name, value in (
        ("timeout", opts.timeout),
        ("dns_timeout", opts.dns_timeout),
        ("deadline", opts.deadline),
    ):
        if not value > 0 or value > 3600:
            raise UsageError(f"{name} {value}: must be more than 0 and at most 3600 seconds", name)
    if opts.dnssec not in ("validate", "trust-ad"):
        raise UsageError(f"dnssec {opts.dnssec!r}: use validate or trust-ad", "dnssec")
    if opts.trust_anchor is not None:
        from smtpdiag.dnssec import load_anchors

        load_anchors(opts.trust_anchor)  # a file that cannot be used fails here, before I/O
    if opts.starttls not in ("auto", "require", "never"):
        raise UsageError(f"starttls {opts.starttls!r}: use auto, require or never", "starttls")
    if opts.helo is not None:
        try:
            normalize_domain(opts.helo)
        except UsageError:
            if not (opts.helo.startswith("[") and opts.helo.endswith("]")):
                raise UsageError(
                    f"helo {opts.helo!r}: give a host name (or an address literal like "
                    "[192.0.2.1])",
                    "helo",
                ) from None
    if opts.mail_from:
        try:
            parse_address(opts.mail_from)
        except UsageError as exc:
            raise UsageError(f"mail_from: {exc}", "mail_from") from None
    if opts.source_address:
        import ipaddress

        try:
            ipaddress.ip_address(opts.source_address)
        except ValueError:
            raise UsageError(
                f"source_address {opts.source_address!r}: give an IP address", "source_address"
            ) from None
    if opts.proxy:
        from smtpdiag.core.proxyurl import parse_proxy

        parse_proxy(opts.proxy)
    if opts.public_ip:
        import ipaddress

        try:
            ipaddress.ip_address(opts.public_ip)
        except ValueError:
            raise UsageError(
                f"public_ip {opts.public_ip!r}: give an IP address", "public_ip"
            ) from None
    if not opts.families or not set(opts.families) <= {4, 6}:
        raise UsageError("families: give 4, 6 or both (-4 and -6 together leave none)", "families")
    if not 1 <= opts.max_per_host <= 100:
        raise UsageError(f"max_per_host {opts.max_per_host}: must be from 1 to 100", "max_per_host")
    if not 1 <= opts.concurrency <= 1000:
        raise UsageError(f"concurrency {opts.concurrency}: must be from 1 to 1000", "concurrency")
    if not 1 <= opts.rcpts_per_session <= 100:
        raise UsageError(
            f"rcpts_per_session {opts.rcpts_per_session}: must be from 1 to 100",
            "rcpts_per_session",
        )
    if not 1 <= opts.refusals_per_session <= 100:
        raise UsageError(
            f"refusals_per_session {opts.refusals_per_session}: must be from 1 to 100",
            "refusals_per_session",
        )
    if opts.rate is not None and not 0 < opts.rate <= 100_000:
        raise UsageError(f"rate {opts.rate}: must be more than 0 a second", "rate")
    if len(opts.retry_temporary) > 20 or any(not 0 <= w <= 86_400 for w in opts.retry_temporary):
        raise UsageError(
            "retry_temporary: at most 20 waits, each from 0 to 86400 seconds", "retry_temporary"
        )
    from smtpdiag.core.catalog import available_languages

    if opts.lang not in available_languages():
        raise UsageError(
            f"lang {opts.lang!r}: not a catalog language (have: "
            f"{', '.join(available_languages())})",
            "lang",
        )
    parse_resolvers(opts.resolvers)
    if opts.server is not None:
        parse_host_port(opts.server, opts.port)


def _as_ip(host: str) -> str | None:
    import ipaddress

    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def random_local_part() -> str:
    """A local part that no real mailbox has, for the catch-all check."""
    return f"smtpdiag-nonexistent-{os.urandom(6).hex()}"  # secrets.token_hex, minus its imports


_warming: threading.Thread | None = None


def _warm_up(lang: str, tls: bool) -> None:
    """Load what a probe needs only after its session (the classifier and its data, the
    catalog, the renderers, the TLS certificate reader) in the background, while the
    session waits on the network: on a slow link this start-up cost is hidden."""
    global _warming
    if _warming is not None:
        return

    def load() -> None:
        try:
            from smtpdiag.core import catalog, classify
            from smtpdiag.render import text  # noqa: F401

            classify.classify(250, None, "Ok", "rcpt")
            catalog.load(lang)
            if tls:
                import smtpdiag.io.tls  # noqa: F401
        finally:
            sys.setswitchinterval(interval)

    # a short switch interval: the session's thread gets the interpreter back within
    # 1 ms when a reply arrives, instead of 5
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    # not a daemon: the interpreter waits for it at exit (it only imports, ~0.1 s); a
    # daemon thread stopped in the middle of importing a Rust extension (cryptography)
    # aborts the process with "FATAL: exception not rethrown"
    _warming = threading.Thread(target=load, name="smtpdiag-warm-up", daemon=False)
    _warming.start()


async def probe(
    address: str | Address, options: ProbeOptions | None = None, **kwargs: object
) -> ProbeResult:
    """Probe one address: the async API behind ``smtpdiag probe``.

    ``options`` or keyword arguments (the fields of :class:`ProbeOptions`) shape the
    probe. Server replies, refusals and timeouts are in the result; only bad input
    raises (:class:`smtpdiag.UsageError`).
    """
    opts = _options(options, kwargs)
    check_options(opts)
    addr = address if isinstance(address, Address) else parse_address(address)
    return await _probe(addr, opts)


def _options(options: ProbeOptions | None, fields: dict[str, object]) -> ProbeOptions:
    opts = options or ProbeOptions()
    known = {f.name for f in dataclasses.fields(ProbeOptions)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise UsageError(
            f"unknown option {unknown[0]!r}: the options are ProbeOptions' fields "
            f"({', '.join(sorted(known - {'seed'}))})",
            unknown[0],
        )
    return dataclasses.replace(opts, **fields) if fields else opts  # type: ignore[arg-type]


async def probe_many(
    addresses: Sequence[str | Address],
    options: ProbeOptions | None = None,
    **kwargs: object,
) -> list[ProbeResult]:
    """Probe a list of addresses; results keep the input order (see :func:`probe_stream`)."""
    results: list[ProbeResult | None] = [None] * len(addresses)
    async for index, result in _stream(addresses, options, kwargs):
        results[index] = result
    return [r for r in results if r is not None]


async def probe_stream(
    addresses: Sequence[str | Address],
    options: ProbeOptions | None = None,
    **kwargs: object,
) -> AsyncIterator[ProbeResult]:
    """Probe a list of addresses, yielding each result as soon as it is known.

    Addresses that share MX hosts share SMTP sessions (up to ``rcpts_per_session``
    recipients each, until ``refusals_per_session`` of them were refused; ``max_per_host``
    sessions per server address, ``concurrency`` in all); the
    catch-all check runs once per domain; duplicates are probed once and yielded for each
    time they occur. All options are validated, and every address parsed, before any I/O.
    """
    async for _, result in _stream(addresses, options, kwargs):
        yield result


async def _stream(
    addresses: Sequence[str | Address], options: ProbeOptions | None, fields: dict[str, object]
) -> AsyncIterator[tuple[int, ProbeResult]]:
    opts = _options(options, fields)
    check_options(opts)
    parsed = [a if isinstance(a, Address) else parse_address(a) for a in addresses]
    if len(parsed) == 1:  # one address: the single-probe path
        yield 0, await _probe(parsed[0], opts)
        return
    from smtpdiag.batch import Batch

    async for pair in Batch(opts).run(parsed):
        yield pair


class HostLimits:
    """At most ``limit`` connections open at once to any one server address."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sems: dict[str, asyncio.Semaphore] = {}

    def __call__(self, address: str) -> asyncio.Semaphore:
        if address not in self._sems:
            self._sems[address] = asyncio.Semaphore(self.limit)
        return self._sems[address]


def fixed_plan(addr: Address, opts: ProbeOptions) -> MxPlan | None:
    """The plan that needs no DNS: ``--server`` given as an IP, or an address literal
    (``user@[192.0.2.1]``) without ``--server``. None: look it up."""
    if opts.server is not None:
        ip = _as_ip(parse_host_port(opts.server, opts.port)[0])
        return MxPlan("server-option", (MxHost(ip, None, (ip,)),)) if ip is not None else None
    if addr.ip_literal is not None:
        return MxPlan("ip-literal", (MxHost(addr.domain, None, (addr.ip_literal,)),))
    return None


async def _probe(
    addr: Address, opts: ProbeOptions, limits: HostLimits | None = None
) -> ProbeResult:
    started_wall = datetime.datetime.now(datetime.UTC)
    started = time.perf_counter()
    deadline = time.monotonic() + opts.deadline
    helo = opts.helo or default_helo()
    port = opts.port
    lookup: Any = None  # the auth checks' DNS cache, filled ahead when DNS is in use anyway
    prefetch: list[asyncio.Task[Any]] = []
    sts_task: asyncio.Future[Any] | None = None
    if opts.server is not None:
        server_host, port = parse_host_port(opts.server, opts.port)
    fixed = fixed_plan(addr, opts)
    if fixed is not None:
        plan = fixed
    else:
        # dnspython is imported only when DNS is needed (~40 ms of start-up)
        from smtpdiag.io.dns import DnsConfig, make_resolver, resolve_mx, resolve_server

        resolver = make_resolver(DnsConfig(parse_resolvers(opts.resolvers), opts.dns_timeout))
        lookup, prefetch = _prefetch_auth(resolver, opts, helo)
        if opts.transport and opts.server is None and addr.ip_literal is None:
            # the policy's record and file come while the MX work goes on
            sts_task = asyncio.ensure_future(fetch_sts(lookup, addr.domain, opts))
        if opts.server is not None:
            plan = await resolve_server(resolver, server_host, opts.families)
        else:
            import random  # only here: DNS is loaded anyway

            rng = random.Random(opts.seed)
            plan = await resolve_mx(
                resolver, addr.domain, families=opts.families, shuffle=opts.shuffle, rng=rng
            )

    dane_task: asyncio.Future[Any] | None = None
    if sts_task is not None:  # DANE's DNSSEC lookups go on during the sessions
        dane_task = asyncio.ensure_future(
            fetch_dane(dane_checker(opts), addr.domain, plan, port, dane_limit(opts))
        )
    recipients = [Recipient(addr.ascii, needs_smtputf8=addr.needs_smtputf8)]
    if opts.catch_all and addr.ip_literal is None:
        recipients.append(Recipient(f"{random_local_part()}@{addr.domain}", random=True))
    session_opts = SessionOptions(
        helo=helo,
        mail_from=opts.mail_from,
        starttls=opts.starttls,
        timeout=opts.timeout,
        source_address=opts.source_address,
        ca_file=opts.ca_file,
        pipelining=opts.pipelining,
        proxy=proxy_config(opts),
    )
    attempts: list[Attempt] = []
    if plan.source != "null":
        attempts = await _try_hosts(
            plan,
            port,
            recipients,
            session_opts,
            deadline,
            opts.all_mx,
            limits or HostLimits(opts.max_per_host),
            opts.lang,
        )
    from smtpdiag.core.diagnose import diagnose

    diagnosis, catch_all, annotated = diagnose(addr, plan, attempts, opts.lang)
    report = finding = None
    if needs_auth(diagnosis, opts.auth):
        report, finding = await _auth_for(
            diagnosis, annotated, opts, helo, max(1.0, deadline - time.monotonic()), lookup
        )
    for task in prefetch:
        task.cancel()
    diagnosis = settle(with_finding(diagnosis, finding), addr, annotated, opts, finding)
    annotated = tester_attempts(annotated, diagnosis)
    transport = None
    tls_decided = diagnosis.reason in ("tls-required", "tls-failed") or opts.starttls == "require"
    if sts_task is None and tls_decided and lookup is not None and addr.ip_literal is None:
        sts_task = asyncio.ensure_future(fetch_sts(lookup, addr.domain, opts))
        dane_task = asyncio.ensure_future(
            fetch_dane(dane_checker(opts), addr.domain, plan, port, dane_limit(opts))
        )
    if sts_task is not None:
        dane = await dane_task if dane_task is not None else None
        transport = transport_report(
            addr.domain, await sts_task, plan, annotated, opts.lang, dane, opts.starttls
        )
    return ProbeResult(
        address=addr,
        mx=plan,
        attempts=annotated,
        diagnosis=diagnosis,
        catch_all=catch_all,
        started_at=started_wall.isoformat(timespec="seconds"),
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        auth=report,
        finding=finding,
        client=client_view(annotated, opts, diagnosis.deciding),
        transport=transport,
        options=(
            ("helo", helo),
            ("mail_from", opts.mail_from),
            ("port", str(port)),
            ("starttls", opts.starttls),
            ("pipelining", "when offered" if opts.pipelining else "off"),
            ("auth", "always" if opts.auth else "on-refusal"),
        ),
    )


#: reasons of a 4xx reply that sender authentication or reputation can explain
_AUTH_4XX = {
    "policy",
    "auth-failed",
    "client-blocked",
    "bad-reputation",
    "ptr-required",
    "spam",
    "sender-rejected",
}
_STAGE_NAMES = {
    "banner": "the greeting",
    "ehlo": "EHLO",
    "helo": "HELO",
    "mail": "MAIL FROM",
    "rcpt": "RCPT TO",
    "data": "DATA",
    "starttls": "STARTTLS",
}


def needs_auth(diagnosis: Diagnosis, forced: bool) -> bool:
    """Run the auth analyses for every 5xx, every 4xx policy/reputation reply, or --auth."""
    step = diagnosis.deciding
    if forced:
        return True
    if step is None or step.reply is None:
        return False
    klass = step.reply.code // 100
    return klass == 5 or (klass == 4 and diagnosis.reason in _AUTH_4XX)


def _auth_domain(opts: ProbeOptions, helo: str) -> str:
    """The domain the auth checks are about: the MAIL FROM's, else the HELO name."""
    return opts.mail_from.rpartition("@")[2] if opts.mail_from else helo


def _prefetch_auth(resolver: Any, opts: ProbeOptions, helo: str) -> tuple[Any, list[Any]]:
    """Start the sender domain's SPF and DMARC queries while the session runs: a refusal's
    auth checks then find them answered (one shared cache). Only called when DNS is in use
    anyway, so a --server IP probe does not load dnspython for it."""
    from smtpdiag.io.dns import DnsLookup

    lookup = DnsLookup(resolver)
    domain = _auth_domain(opts, helo).rstrip(".").lower()
    if not domain or "." not in domain:
        return lookup, []
    names = [(domain, "TXT"), (f"_dmarc.{domain}", "TXT")]
    return lookup, [asyncio.ensure_future(lookup(n, t)) for n, t in names]


async def _auth_for(
    diagnosis: Diagnosis,
    attempts: Sequence[Attempt],
    opts: ProbeOptions,
    helo: str,
    remaining: float,
    lookup: Any = None,
) -> tuple[AuthReport | None, Finding | None]:
    from smtpdiag.io.dns import DnsConfig, DnsLookup, make_resolver

    if lookup is None:
        try:
            resolver = make_resolver(DnsConfig(parse_resolvers(opts.resolvers), opts.dns_timeout))
        except UsageError:
            return None, None
        lookup = DnsLookup(resolver)
    ip = client_ip(attempts, opts, diagnosis.deciding)
    report = await auth_report(lookup, opts, helo, ip, remaining)
    return report, attribute_refusal(report, diagnosis)


def client_view(
    attempts: Sequence[Attempt], opts: ProbeOptions, deciding: Step | None = None
) -> ClientView:
    """Our address, and the one the servers see: ``--public-ip``, else the client address
    the deciding refusal quotes (when it is not our own, we are behind NAT)."""
    local = next((a.local_address for a in attempts if a.local_address), None)
    local = local or opts.source_address
    if opts.public_ip:
        return ClientView(local, opts.public_ip, "public-ip")
    if deciding is not None:
        from smtpdiag.core.diagnose import quoted_client_ip

        server = next((a.address for a in attempts if any(s is deciding for s in a.steps)), None)
        quoted = quoted_client_ip(deciding.reply, server)
        if quoted is not None:
            return ClientView(local, quoted, "reply")
    return ClientView(local, None)


def client_ip(
    attempts: Sequence[Attempt], opts: ProbeOptions, deciding: Step | None = None
) -> str | None:
    """The address SPF, PTR and the blocklists are asked about: the one the servers see
    (:func:`client_view`), else our own."""
    view = client_view(attempts, opts, deciding)
    return view.seen_ip or view.local_ip


def tester_ips(attempts: Sequence[Attempt], opts: ProbeOptions) -> tuple[str, ...]:
    """Our own addresses, as a refusal could quote them."""
    ips = [a.local_address for a in attempts if a.local_address]
    ips += [ip for ip in (opts.public_ip, opts.source_address) if ip]
    return tuple(dict.fromkeys(ips))


async def fetch_sts(lookup: Any, domain: str, opts: ProbeOptions) -> tuple[Any, Any, Any]:
    """The ``_mta-sts`` TXT record and, when it is sound, the policy file (io/https.py);
    and the ``_smtp._tls`` (TLS-RPT) record."""
    from smtpdiag.core import tlsrpt
    from smtpdiag.core.mtasts import parse_record
    from smtpdiag.io.https import Fetched, fetch_policy

    sts_answer, rpt_answer = await asyncio.gather(
        lookup(f"_mta-sts.{domain}", "TXT"), lookup(f"_smtp._tls.{domain}", "TXT")
    )
    rec = parse_record(sts_answer.texts)
    rpt = tlsrpt.parse_record(rpt_answer.texts)
    host = f"mta-sts.{domain}"
    url = f"https://{host}/.well-known/mta-sts.txt"
    if not rec.found or rec.problems:
        return rec, Fetched(url, None), rpt
    found = await asyncio.gather(lookup(host, "A"), lookup(host, "AAAA"))
    addresses = [str(v) for a in found for v in a.values]
    timeout = min(opts.timeout, 15.0)
    got = await fetch_policy(host, addresses, timeout, opts.ca_file, opts.mta_sts_port)
    return rec, got, rpt


def dane_checker(opts: ProbeOptions) -> Any:
    """``await check(name, rdtype)`` -> :class:`~smtpdiag.core.dane.Validated`, as
    ``opts.dnssec`` says (one validator per run: its cache is shared), and the name of
    what it trusts."""
    import functools

    from smtpdiag.io.dns import DnsConfig, make_fetch

    config = DnsConfig(parse_resolvers(opts.resolvers), opts.dns_timeout)
    if opts.dnssec == "trust-ad":
        from smtpdiag.dnssec import trust_ad_check

        check = functools.partial(trust_ad_check, make_fetch(config, trust_ad=True))
        return check, "trust-ad", "the AD bit of the resolver"
    from smtpdiag.dnssec import Validator, load_anchors

    anchors, label = load_anchors(opts.trust_anchor)
    return Validator(make_fetch(config), anchors).check, "validate", label


def dane_limit(opts: ProbeOptions) -> float:
    """Seconds one DNSSEC-checked answer may take, its chain of trust included: a few
    DNS timeouts, within the probe's deadline."""
    return min(opts.deadline, 4 * opts.dns_timeout)


#: MX hosts whose DANE records are looked up (a hostile zone can list hundreds)
MAX_DANE_HOSTS = 10


async def fetch_dane(
    checker: Any, domain: str, plan: MxPlan, port: int, limit: float = 30.0
) -> Any:
    """DNSSEC-checked lookups for DANE (RFC 7672 §2.2): the domain's MX records, and for
    each MX host its address records and TLSA records at ``_PORT._tcp.HOST`` (when the
    port is not 25 and there are none, ``_25._tcp.HOST`` too). Each answer, with the chain
    of trust behind it, within ``limit`` seconds (else it is ``indeterminate``)."""
    import ipaddress

    from smtpdiag.core.dane import Validated

    validate, mode, anchor = checker

    async def check(name: str, rdtype: str) -> Validated:
        try:
            return await asyncio.wait_for(validate(name, rdtype), limit)
        except TimeoutError:
            why = f"the DNSSEC lookups for {name} {rdtype} did not finish within {limit:g}s"
            return Validated(name, rdtype, "indeterminate", "error", reason=why)

    async def host_records(host: MxHost) -> tuple[str, Any, Any, str]:
        v4 = any(":" not in a for a in host.addresses) or not host.addresses
        address, (tlsa, name) = await asyncio.gather(
            check(host.host, "A" if v4 else "AAAA"), tlsa_lookup(host.host)
        )
        # RFC 7672 §2.2.2: a secure CNAME chain's target is the first TLSA base domain
        if address.target and address.secure:
            expanded, at = await tlsa_lookup(address.target)
            if expanded.found == "answer" or tlsa.found != "answer":
                tlsa, name = expanded, at
        return host.host, address, tlsa, name

    async def tlsa_lookup(base: str) -> tuple[Any, str]:
        """TLSA at ``_PORT._tcp.BASE``; when the port is not 25 and there are none,
        ``_25._tcp.BASE``."""
        name = f"_{port}._tcp.{base}"
        tlsa = await check(name, "TLSA")
        if port != 25 and tlsa.found in ("nxdomain", "nodata"):
            other = await check(f"_25._tcp.{base}", "TLSA")
            if other.found == "answer":
                return other, f"_25._tcp.{base}"
        return tlsa, name

    def is_name(host: str) -> bool:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host != "."
        return False

    hosts = [h for h in plan.hosts if is_name(h.host)][:MAX_DANE_HOSTS]
    mx_lookup = plan.source in ("mx", "implicit")
    results = await asyncio.gather(
        check(domain, "MX") if mx_lookup else asyncio.sleep(0),
        *(host_records(h) for h in hosts),
    )
    return mode, anchor, results[0] if mx_lookup else None, tuple(results[1:])


def dane_report(
    domain: str,
    fetched: Any,
    attempts: Sequence[Attempt],
    texts: dict[str, str],
    starttls: str,
) -> Any:
    """The DANE part of the ``transport`` section: each MX host's records against what
    its live session showed."""
    import datetime

    from smtpdiag.core.dane import evaluate_host, summarize

    mode, anchor, mx, hosts = fetched
    now = datetime.datetime.now(datetime.UTC)
    found = []
    for host, address, tlsa, name in hosts:
        mine = [a for a in attempts if a.host.lower().rstrip(".") == host.lower().rstrip(".")]
        reached = starttls != "never" and any(a.steps and a.steps[0].reply for a in mine)
        tls = next((a.tls for a in mine if a.tls is not None), None)
        found.append(evaluate_host(host, name, address, tlsa, tls, reached, now, texts))
    return summarize(domain, mode, anchor, mx, found, texts)


def transport_report(
    domain: str,
    fetched: tuple[Any, Any, Any],
    plan: MxPlan,
    attempts: Sequence[Attempt],
    lang: str,
    dane: Any = None,
    starttls: str = "auto",
) -> Any:
    """The ``transport`` section: the MTA-STS record and policy against every MX and what
    the live sessions showed of their certificates; DANE's TLSA records against the same."""
    from smtpdiag.core.datafiles import load
    from smtpdiag.core.mtasts import Session, TransportReport, evaluate

    rec, got, rpt = fetched
    data = load("smtpdiag.core.data", "transport")
    texts = {**data["en"], **(data.get(lang) or {})}
    sessions = [
        Session(
            a.host,
            a.tls is not None,
            a.tls.trusted if a.tls is not None else None,
            a.tls.hostname_matches if a.tls is not None else None,
            a.tls.trust_error if a.tls is not None else None,
        )
        for a in attempts
        if a.steps and a.steps[0].reply is not None
    ]
    report = evaluate(
        domain,
        rec,
        got.url,
        got.status,
        got.error,
        got.error_kind,
        got.body,
        [h.host for h in plan.hosts],
        sessions,
        texts,
    )
    dane_part = None if dane is None else dane_report(domain, dane, attempts, texts, starttls)
    return TransportReport(mta_sts=report, tls_rpt=rpt, dane=dane_part)


def proxy_config(opts: ProbeOptions) -> ProxyConfig | None:
    """``opts.proxy`` parsed (it was checked before any I/O)."""
    if not opts.proxy:
        return None
    from smtpdiag.core.proxyurl import parse_proxy

    return parse_proxy(opts.proxy)


def tester_attempts(attempts: Sequence[Attempt], diagnosis: Diagnosis) -> tuple[Attempt, ...]:
    """The attempts, with a refusal of this tester shown as what it is: ``unknown`` (it
    says nothing of the mailbox), as the result's verdict says."""
    if diagnosis.blocked_side != "tester" or diagnosis.verdict != "unknown":
        return tuple(attempts)
    return tuple(
        evolve(a, verdict="unknown") if a.verdict in ("undeliverable", "temporary") else a
        for a in attempts
    )


def with_finding(diagnosis: Diagnosis, finding: Finding | None) -> Diagnosis:
    """The auth checks' explanation of a refusal, as its reason and summary."""
    if finding is None:
        return diagnosis
    return evolve(diagnosis, reason=finding.reason, summary=finding.text)


def settle(
    diagnosis: Diagnosis,
    addr: Address,
    attempts: Sequence[Attempt],
    opts: ProbeOptions,
    finding: Finding | None,
) -> Diagnosis:
    """The final diagnosis: who is blocked (a refusal about us never blames the mailbox;
    see core/data/sides.toml), after :func:`with_finding`."""
    from smtpdiag.core.diagnose import settle_side

    ips = tester_ips(attempts, opts)
    source = finding.source if finding is not None else None
    return settle_side(diagnosis, addr, attempts, opts.lang, source, ips)


async def auth_report(
    lookup: Any, opts: ProbeOptions, helo: str, ip: str | None, remaining: float = 30.0
) -> AuthReport:
    """SPF, DMARC, DKIM, PTR and DNSBL for the sender domain and ``ip``, within budget."""
    from smtpdiag.auth.checks import run_auth

    return await run_auth(
        lookup,
        _auth_domain(opts, helo),
        ip=ip,
        mail_from=opts.mail_from,
        helo=helo,
        selectors=opts.dkim_selectors,
        dnsbl_zones=opts.dnsbls,
        budget=max(1.0, min(30.0, 6 * opts.dns_timeout, remaining)),
    )


def attribute_refusal(report: AuthReport, diagnosis: Diagnosis) -> Finding | None:
    """What in ``report`` explains the refusal that decided ``diagnosis`` (None: no 4xx/5xx
    reply decided it, or nothing in the report explains it)."""
    from smtpdiag.auth.findings import attribute

    step = diagnosis.deciding
    if step is None or step.reply is None or step.reply.code // 100 not in (4, 5):
        return None
    brief = f"{step.reply.code}" + (f" {step.reply.enhanced}" if step.reply.enhanced else "")
    return attribute(
        report, diagnosis.reason, f"{brief} at {_STAGE_NAMES.get(step.stage, step.stage)}"
    )


async def _try_hosts(
    plan: MxPlan,
    port: int,
    recipients: Sequence[Recipient],
    session_opts: SessionOptions,
    deadline: float,
    all_mx: bool,
    limits: HostLimits,
    lang: str = "en",
) -> list[Attempt]:
    from smtpdiag.core.diagnose import attempt_outcome

    def warm() -> None:  # while the first session waits for its greeting
        _warm_up(lang, session_opts.starttls != "never")

    attempts: list[Attempt] = []
    for host in plan.hosts:
        for ip in host.addresses:
            if time.monotonic() >= deadline:
                return attempts
            async with limits(ip):
                attempt = await run_session(
                    host.host, ip, port, recipients, session_opts, deadline, on_connect=warm
                )
            attempts.append(attempt)
            if attempt_outcome(attempt).decisive:
                if not all_mx:
                    return attempts
                break  # --all-mx: one answer per host is enough
    return attempts
