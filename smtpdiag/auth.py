"""Why was I rejected? SPF, DMARC, DKIM, reverse DNS and blocklists for one sender and
one sending IP, run concurrently over one DNS cache, and tied to a rejection.

The evaluation logic lives in :mod:`smtpdiag.spf`, :mod:`smtpdiag.dmarc` and
:mod:`smtpdiag.dkim` (pure, over an injected query function); this module runs them and
holds the report. :func:`attribute` (pure) says which finding explains a rejection.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import dkim, dmarc, spf
from .datafiles import load as load_data
from .model import Reason
from .spf import Query, SpfResult

#: a documentation address used to walk an SPF record when no --ip was given
_PLACEHOLDER_IP = "192.0.2.255"


@dataclass(frozen=True)
class PtrReport:
    ip: str
    names: tuple[str, ...]  # PTR names
    confirmed: tuple[str, ...]  # names whose A/AAAA lead back to the IP (FCrDNS)
    helo: str | None
    helo_matches: bool | None
    problems: tuple[str, ...]
    error: str | None = None


@dataclass(frozen=True)
class DnsblResult:
    zone: str
    name: str
    listed: bool | None  # None: the lookup failed
    answers: tuple[str, ...] = ()
    meanings: tuple[str, ...] = ()
    text: str | None = None
    delist: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class AuthReport:
    domain: str  # the domain the report is about (DMARC/DKIM)
    spf_domain: str
    sender: str
    ip: str | None
    helo: str
    spf: SpfResult | None
    spf_evaluated: bool  # False: no IP, the record was only walked and checked
    dmarc: dmarc.DmarcReport | None
    dkim: tuple[dkim.DkimKey, ...]
    ptr: PtrReport | None
    dnsbl: tuple[DnsblResult, ...]
    problems: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Finding:
    """The cause a report gives for a rejection."""

    reason: Reason
    text: str
    source: str  # "spf", "dmarc", "ptr" or "dnsbl"


def default_dnsbls() -> tuple[str, ...]:
    return tuple(str(item["zone"]) for item in load_data("smtpdiag.data", "dnsbl")["list"])


def _dnsbl_info(zone: str) -> dict[str, object]:
    for item in load_data("smtpdiag.data", "dnsbl")["list"]:
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


# -- tying a report to a rejection (pure) -----------------------------------------------------

#: reasons of a reply that an SPF failure can explain
_SPF_EXPLAINS = {"auth-failed", "policy", "sender-rejected", "unknown", "spam"}
_LIST_EXPLAINS = {"client-blocked", "policy", "bad-reputation", "unknown", "spam"}
_PTR_EXPLAINS = {"ptr-required", "policy", "client-blocked", "unknown"}


def _spf_finding(report: AuthReport, reply: str) -> Finding | None:
    s = report.spf
    if s is None or not report.spf_evaluated:
        return None
    where = f"{reply}: " if reply else ""
    if s.result in ("fail", "softfail"):
        missed = [
            t.term
            for t in s.trace
            if t.depth == 0
            and t.term != "(record)"
            and not t.matched
            and not t.term.startswith("redirect")
        ]
        how = ""
        if missed and s.mechanism:
            how = f" — {', '.join(missed[:4])} did not match, {s.mechanism} did"
        elif s.mechanism:
            how = f" — {s.mechanism} matched"
        ip_term = f"ip4:{s.ip}" if ":" not in s.ip else f"ip6:{s.ip}"
        return Finding(
            "auth-failed",
            f"{where}SPF for {s.domain} is {s.result} for {s.ip}{how}. Add {ip_term} to the "
            f"record of {s.domain}, or send through a host it authorises.",
            "spf",
        )
    if s.result == "permerror":
        costs = ""
        if s.include_costs and "more than 10" in (s.error or ""):
            costs = " Lookups by include: " + ", ".join(f"{d} {n}" for d, n in s.include_costs)
            costs += "."
        return Finding(
            "auth-failed",
            f"{where}the SPF record of {s.domain} is broken (permerror: {s.error}); receivers "
            f"treat it as a failure. Fix the record.{costs}",
            "spf",
        )
    return None


def _dmarc_finding(report: AuthReport, reply: str) -> Finding | None:
    d = report.dmarc
    s = report.spf
    if d is None or d.policy not in ("reject", "quarantine"):
        return None
    if s is not None and report.spf_evaluated and s.result == "pass":
        return None
    where = f"{reply}: " if reply else ""
    return Finding(
        "auth-failed",
        f"{where}{d.domain} publishes DMARC p={d.policy} ({d.location}) and the message is not "
        "authenticated: SPF must pass for an aligned MAIL FROM domain or a DKIM signature of "
        f"{d.domain} must verify.",
        "dmarc",
    )


def _dnsbl_finding(report: AuthReport, reply: str) -> Finding | None:
    listed = [b for b in report.dnsbl if b.listed]
    if not listed:
        return None
    first = listed[0]
    where = f"{reply}: " if reply else ""
    more = f" (and {len(listed) - 1} more lists)" if len(listed) > 1 else ""
    meaning = f" ({first.answers[0]}: {first.meanings[0]})" if first.answers else ""
    delist = f" Delisting: {first.delist}" if first.delist else ""
    return Finding(
        "client-blocked",
        f"{where}{report.ip} is listed on {first.name}{meaning}{more}.{delist}",
        "dnsbl",
    )


def _ptr_finding(report: AuthReport, reply: str) -> Finding | None:
    p = report.ptr
    if p is None or p.error or p.confirmed:
        return None
    where = f"{reply}: " if reply else ""
    return Finding(
        "ptr-required",
        f"{where}{p.problems[0]}. Ask whoever runs {p.ip} (your "
        "ISP or cloud provider) to set a PTR record that resolves back to it.",
        "ptr",
    )


def attribute(report: AuthReport, reply_reason: str, reply_brief: str = "") -> Finding | None:
    """The finding that explains a rejection of reason ``reply_reason``, if any.

    The reply's own wording chooses where to look first: a PTR complaint is checked
    against reverse DNS, a blocklist complaint against the blocklists, anything else
    against SPF, then DMARC, blocklists and reverse DNS.
    """
    order = [_spf_finding, _dmarc_finding, _dnsbl_finding, _ptr_finding]
    if reply_reason == "ptr-required":
        order = [_ptr_finding, _spf_finding, _dnsbl_finding]
    elif reply_reason in ("client-blocked", "bad-reputation"):
        order = [_dnsbl_finding, _ptr_finding, _spf_finding]
    allowed = {
        _spf_finding: _SPF_EXPLAINS,
        _dmarc_finding: {"auth-failed"},
        _dnsbl_finding: _LIST_EXPLAINS,
        _ptr_finding: _PTR_EXPLAINS,
    }
    for check in order:
        if reply_reason not in allowed[check]:
            continue
        found = check(report, reply_brief)
        if found is not None:
            return found
    return None
