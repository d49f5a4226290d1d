"""The auth report and what explains a rejection: data types and pure logic.

:mod:`smtpdiag.auth.checks` runs the checks (over DNS) and fills an :class:`AuthReport`; this
module holds the report's types and :func:`attribute`, which says which finding explains a
refused reply. No I/O here, so the core (model, renderers) can name these types.
"""

from __future__ import annotations

from dataclasses import field

from smtpdiag.auth import dkim, dmarc
from smtpdiag.auth.spf import SpfResult
from smtpdiag.core.dane import DaneReport
from smtpdiag.core.model import Reason
from smtpdiag.core.mtasts import StsRecord
from smtpdiag.core.records import record
from smtpdiag.core.tlsrpt import RptRecord


@record
class PtrReport:
    ip: str
    names: tuple[str, ...]  # PTR names
    confirmed: tuple[str, ...]  # names whose A/AAAA lead back to the IP (FCrDNS)
    helo: str | None
    helo_matches: bool | None
    problems: tuple[str, ...]
    error: str | None = None


@record
class DnsblResult:
    zone: str
    name: str
    listed: bool | None  # None: the lookup failed
    answers: tuple[str, ...] = ()
    meanings: tuple[str, ...] = ()
    text: str | None = None
    delist: str | None = None
    error: str | None = None


@record
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
    # smtpdiag auth only (not a probe's refusal report): the transport-security records
    mta_sts: StsRecord | None = None
    tls_rpt: RptRecord | None = None
    dane: DaneReport | None = None  # the MX hosts' TLSA records, DNSSEC-checked


@record
class Finding:
    """The cause a report gives for a rejection."""

    reason: Reason
    text: str
    source: str  # "spf", "dmarc", "ptr" or "dnsbl"


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
