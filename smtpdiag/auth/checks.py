"""Why was I rejected? SPF, DMARC, DKIM, reverse DNS and blocklists for one sender and
one sending IP, run concurrently over one DNS cache, and tied to a rejection.

The evaluation logic lives in :mod:`smtpdiag.auth.spf`, :mod:`smtpdiag.auth.dmarc` and
:mod:`smtpdiag.auth.dkim` (pure, over an injected query function); this module runs them and
holds the report. :func:`attribute` (pure) says which finding explains a rejection.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from typing import Any

from smtpdiag.auth import dkim, dmarc, spf
from smtpdiag.auth.findings import AuthReport, DnsblResult, Finding, PtrReport, attribute
from smtpdiag.auth.spf import Query, SpfResult
from smtpdiag.core.datafiles import load as load_data

__all__ = [
    "AuthReport", "DnsblResult", "Finding", "PtrReport", "attribute", "check_auth", "run_auth",
]  # fmt: skip

#: a documentation address used to walk an SPF record when no --ip was given
_PLACEHOLDER_IP = "192.0.2.255"


def default_dnsbls() -> tuple[str, ...]:
    return tuple(str(item["zone"]) for item in load_data("smtpdiag.core.data", "dnsbl")["list"])


def _dnsbl_info(zone: str) -> dict[str, object]:
    for item in load_data("smtpdiag.core.data", "dnsbl")["list"]:
        if str(item["zone"]).lower() == zone.lower():
            return dict(item)
    return {}


def reverse_name(ip: str, zone: str) -> str:
    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        return ".".join(reversed(str(addr).split("."))) + "." + zone
    return ".".join(reversed(addr.exploded.replace(":", ""))) + "." + zone


async def check_dnsbl(query: Query, ip: str, zone: str) -> DnsblResult:
    info = _dnsbl_info(zone)
    name = str(info.get("name", zone))
    delist = str(info["delist"]) if "delist" in info else None
    qname = reverse_name(ip, zone)
    answer = await query(qname, "A")
    if answer.failed:
        return DnsblResult(zone, name, None, error=f"DNS {answer.error}", delist=delist)
    if not answer.values:
        return DnsblResult(zone, name, False, delist=delist)
    codes = info.get("codes", {})
    assert isinstance(codes, dict)
    answers = tuple(str(v) for v in answer.values)
    refused = [a for a in answers if a.startswith("127.255.255.")]
    meanings = tuple(str(codes.get(a, "listed")) for a in answers)
    if refused and len(refused) == len(answers):
        return DnsblResult(
            zone,
            name,
            None,
            answers,
            meanings,
            delist=delist,
            error=f"{name} refused the query: {meanings[0]}",
        )
    txt = await query(qname, "TXT")
    text = None
    if txt.values:
        v = txt.values[0]
        text = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    return DnsblResult(zone, name, True, answers, meanings, text[:300] if text else None, delist)


async def check_ptr(query: Query, ip: str, helo: str | None) -> PtrReport:
    addr = ipaddress.ip_address(ip)
    answer = await query(addr.reverse_pointer, "PTR")
    problems: list[str] = []
    if answer.failed:
        return PtrReport(ip, (), (), helo, None, (), f"DNS {answer.error} looking up PTR")
    names = tuple(str(v).rstrip(".") for v in answer.values)[:10]
    rtype = "A" if addr.version == 4 else "AAAA"
    confirmed: list[str] = []
    for name in names:
        forward = await query(name, rtype)
        if any(_same(str(a), addr) for a in forward.values):
            confirmed.append(name)
    if not names:
        problems.append(f"{ip} has no PTR record: many receivers reject mail from it")
    elif not confirmed:
        problems.append(
            f"PTR of {ip} ({', '.join(names)}) does not resolve back to {ip} (no FCrDNS)"
        )
    helo_matches = None
    if helo and names:
        helo_matches = helo.lower().rstrip(".") in {n.lower() for n in confirmed}
        if not helo_matches:
            problems.append(f"the EHLO name {helo} is not the IP's reverse DNS name")
    return PtrReport(ip, names, tuple(confirmed), helo, helo_matches, tuple(problems))


def _same(text: str, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(text) == addr
    except ValueError:
        return False


def spf_identity(domain: str, mail_from: str | None, helo: str) -> tuple[str, str]:
    """(sender, domain) checked by SPF: MAIL FROM's domain, postmaster@HELO for <>, or
    postmaster@DOMAIN when no MAIL FROM was given at all."""
    if mail_from is None:
        return f"postmaster@{domain}", domain
    return spf.identity(mail_from, helo)


async def run_auth(
    query: Query,
    domain: str,
    ip: str | None = None,
    mail_from: str | None = None,
    helo: str = "",
    selectors: Sequence[str] = (),
    dnsbl_zones: Sequence[str] | None = None,
    common_selectors: bool = True,
    budget: float = 60.0,
) -> AuthReport:
    """Everything about sending as ``mail_from`` (or for ``domain``) from ``ip``, within
    ``budget`` seconds in all."""
    sender, spf_domain = spf_identity(domain, mail_from, helo)
    dkim_domain = domain
    chosen = list(dict.fromkeys([*selectors, *(dkim.COMMON_SELECTORS if common_selectors else ())]))
    zones = tuple(dnsbl_zones) if dnsbl_zones is not None else default_dnsbls()

    async def nothing() -> None:
        return None

    spf_task = spf.check_host(
        query, ip or _PLACEHOLDER_IP, spf_domain, sender, helo, timeout=budget * 0.8
    )
    dmarc_task = dmarc.discover(query, domain)
    dkim_tasks = [dkim.probe_selector(query, dkim_domain, s) for s in chosen]
    ptr_task = check_ptr(query, ip, helo or None) if ip else nothing()
    bl_tasks = [check_dnsbl(query, ip, z) for z in zones] if ip else []
    gathered = asyncio.gather(spf_task, dmarc_task, ptr_task, *dkim_tasks, *bl_tasks)
    try:
        spf_result, dmarc_report, ptr_report, *rest = await asyncio.wait_for(gathered, budget)
    except TimeoutError:
        gathered.cancel()
        return AuthReport(
            domain,
            spf_domain,
            sender,
            ip,
            helo,
            None,
            False,
            None,
            (),
            None,
            (),
            (f"the checks did not finish within {budget:g}s (DNS too slow)",),
        )
    keys = tuple(k for k in rest[: len(dkim_tasks)] if isinstance(k, dkim.DkimKey))
    found_keys = tuple(k for k in keys if k.found or k.error) or ()
    lists = tuple(r for r in rest[len(dkim_tasks) :] if isinstance(r, DnsblResult))
    problems: list[str] = []
    if not any(k.found for k in keys):
        problems.append(
            f"no DKIM key found for {dkim_domain} under {len(chosen)} common selectors; "
            "give yours with --dkim-selector"
        )
    assert isinstance(spf_result, SpfResult)
    return AuthReport(
        domain=domain,
        spf_domain=spf_domain,
        sender=sender,
        ip=ip,
        helo=helo,
        spf=spf_result,
        spf_evaluated=ip is not None,
        dmarc=dmarc_report if isinstance(dmarc_report, dmarc.DmarcReport) else None,
        dkim=found_keys,
        ptr=ptr_report if isinstance(ptr_report, PtrReport) else None,
        dnsbl=lists,
        problems=tuple(problems),
    )


async def check_auth(
    domain: str,
    *,
    ip: str | None = None,
    mail_from: str | None = None,
    helo: str = "",
    resolvers: Sequence[str] = (),
    dns_timeout: float = 5.0,
    dkim_selectors: Sequence[str] = (),
    dnsbls: Sequence[str] | None = None,
    common_selectors: bool = True,
    dane: bool = True,
    dnssec: str = "validate",
    trust_anchor: str | None = None,
    lang: str = "en",
) -> AuthReport:
    """The public API behind ``smtpdiag auth``: SPF, DMARC, DKIM, reverse DNS and blocklists
    for sending as ``mail_from`` (default ``postmaster@domain``) from ``ip``; the domain's
    MTA-STS and TLS-RPT records; and with ``dane``, its MX hosts' TLSA records with their
    DNSSEC status (``dnssec`` and ``trust_anchor`` as for a probe; texts in ``lang``).

    Every argument is checked before any DNS query (:class:`smtpdiag.UsageError`, naming
    the argument); DNS failures are data in the report, never exceptions.
    """
    from smtpdiag.core.errors import UsageError
    from smtpdiag.io.dns import DnsConfig, DnsLookup, make_resolver
    from smtpdiag.prober import parse_resolvers

    for name, value in (("domain", domain), ("mail_from", mail_from or ""), ("helo", helo)):
        if any(c in "\r\n\0" for c in value) or len(value) > 1024:
            raise UsageError(f"{name} {value[:60]!r}: contains CR, LF or NUL, or is too long", name)
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            raise UsageError(f"ip {ip!r} is not an IP address", "ip") from None
    if not 0 < dns_timeout <= 3600:
        raise UsageError(
            f"dns_timeout {dns_timeout}: must be more than 0 and at most 3600 seconds",
            "dns_timeout",
        )
    from smtpdiag.prober import ProbeOptions, check_options

    opts = ProbeOptions(
        resolvers=tuple(resolvers),
        dns_timeout=dns_timeout,
        dnssec=dnssec,  # type: ignore[arg-type]  # checked next
        trust_anchor=trust_anchor,
        lang=lang,
    )
    check_options(opts)  # --dnssec and --trust-anchor, before any query
    resolver = make_resolver(DnsConfig(parse_resolvers(resolvers), dns_timeout))
    lookup = DnsLookup(resolver)
    name = domain.rstrip(".").lower() if domain.isascii() else domain
    dane_task = asyncio.ensure_future(_dane(resolver, name, opts)) if dane else None
    report, sts, rpt = await asyncio.gather(
        run_auth(
            lookup,
            name,
            ip=ip,
            mail_from=mail_from,
            helo=helo,
            selectors=dkim_selectors,
            dnsbl_zones=dnsbls,
            common_selectors=common_selectors,
        ),
        lookup(f"_mta-sts.{name}", "TXT"),
        lookup(f"_smtp._tls.{name}", "TXT"),
    )
    from smtpdiag.core import mtasts, tlsrpt
    from smtpdiag.core.records import evolve

    return evolve(
        report,
        mta_sts=mtasts.parse_record(sts.texts),
        tls_rpt=tlsrpt.parse_record(rpt.texts),
        dane=await dane_task if dane_task is not None else None,
    )


async def _dane(resolver: Any, domain: str, opts: Any) -> Any:
    """The domain's MX hosts' TLSA records, DNSSEC-checked; no session, so a usable record
    is reported as not matched against a certificate (``smtpdiag probe --transport`` does)."""
    from smtpdiag.io.dns import resolve_mx
    from smtpdiag.prober import dane_checker, dane_report, fetch_dane

    try:
        plan = await resolve_mx(resolver, domain, shuffle=False)
    except (ValueError, UnicodeError):  # a name DNS cannot hold: nothing to look up
        return None
    if plan.source not in ("mx", "implicit") or not plan.hosts:
        return None
    data = load_data("smtpdiag.core.data", "transport")
    texts = {**data["en"], **(data.get(opts.lang) or {})}
    fetched = await fetch_dane(dane_checker(opts), domain, plan, 25, 4 * opts.dns_timeout)
    return dane_report(domain, fetched, (), texts, "auto")
