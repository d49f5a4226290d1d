"""``smtpdiag doctor [DOMAIN]``: is the problem on this host or network? Orchestration over
the I/O edges: the resolver, outbound port 25 to DOMAIN's MX hosts (greeting and EHLO
only: no MAIL, no RCPT), the address the servers see us as, its reverse DNS (forward-
confirmed, and whether the HELO name resolves to it) and its DNS blocklist listings, with
the auth module's own checks (auth.checks.check_ptr / check_dnsbl).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from smtpdiag.core.model import Attempt
from smtpdiag.core.records import record
from smtpdiag.prober import ProbeOptions, default_helo, parse_resolvers, proxy_config

Status = Literal["ok", "problem", "warning", "skipped"]

#: at most this many MX addresses are tried
MAX_ADDRESSES = 4


@record
class DoctorCheck:
    """One finding: ``id`` (resolver, port25, client-ip, ptr, helo, dnsbl), its status,
    what was seen and what to do next."""

    id: str
    status: Status
    text: str
    advice: str = ""


@record
class DoctorReport:
    domain: str | None
    checks: tuple[DoctorCheck, ...]
    attempts: tuple[Attempt, ...] = ()
    local_ip: str | None = None
    seen_ip: str | None = None
    seen_from: str | None = None  # "public-ip", "ehlo" (the server's EHLO reply quoted it)
    route: str | None = None

    @property
    def exit_code(self) -> int:
        """0: nothing wrong found; 1: a problem on this side; 4: could not check (DNS)."""
        if any(c.id == "resolver" and c.status == "problem" for c in self.checks):
            return 4
        return 1 if any(c.status == "problem" for c in self.checks) else 0


def _texts(lang: str) -> dict[str, str]:
    from smtpdiag.core.datafiles import load

    data = load("smtpdiag.core.data", "doctor")
    return {**data["en"], **(data.get(lang) or {})}


async def run_doctor(domain: str | None, opts: ProbeOptions) -> DoctorReport:
    from smtpdiag.auth.checks import check_dnsbl, check_ptr, default_dnsbls
    from smtpdiag.core.diagnose import port25_blocked
    from smtpdiag.io.dns import DnsConfig, DnsLookup, make_resolver, resolve_mx
    from smtpdiag.io.smtp import SessionOptions, run_session

    t = _texts(opts.lang)
    helo = opts.helo or default_helo()
    resolver = make_resolver(DnsConfig(parse_resolvers(opts.resolvers), opts.dns_timeout))
    lookup = DnsLookup(resolver)
    checks: list[DoctorCheck] = []

    # 1. the resolver
    answer = await lookup(domain or ".", "MX" if domain else "NS")
    if answer.error in ("timeout", "servfail", "error"):
        checks.append(
            DoctorCheck(
                "resolver",
                "problem",
                t["resolver-dead"].format(error=answer.error),
                t["resolver-dead-advice"],
            )
        )
        return DoctorReport(domain, tuple(checks))
    checks.append(DoctorCheck("resolver", "ok", t["resolver-ok"]))

    # 2. outbound port 25 to the domain's MX hosts
    attempts: list[Attempt] = []
    proxy = proxy_config(opts)
    if domain:
        plan = await resolve_mx(resolver, domain, families=opts.families, shuffle=False)
        targets = [(h.host, ip) for h in plan.hosts for ip in h.addresses][:MAX_ADDRESSES]
        session = SessionOptions(
            helo=helo,
            starttls="never",
            timeout=opts.timeout,
            source_address=opts.source_address,
            proxy=proxy,
        )
        deadline = time.monotonic() + opts.deadline
        attempts = list(
            await asyncio.gather(
                *(run_session(h, ip, opts.port, (), session, deadline) for h, ip in targets)
            )
        )
        checks.append(_port25_check(t, domain, attempts, port25_blocked(attempts), opts.port))
    else:
        checks.append(DoctorCheck("port25", "skipped", t["port25-skipped"]))

    # 3. the address the servers see us as
    local = next((a.local_address for a in attempts if a.local_address), None)
    seen, seen_from = opts.public_ip, "public-ip" if opts.public_ip else None
    if seen is None:
        for att in attempts:
            ehlo = next((s for s in att.steps if s.stage == "ehlo" and s.reply), None)
            if ehlo is not None and ehlo.reply is not None:
                quoted = _ehlo_client_ip(ehlo.reply.lines[0] if ehlo.reply.lines else "")
                if quoted:
                    seen, seen_from = quoted, "ehlo"
                    break
    ip = seen or local or opts.source_address
    if ip is None:
        checks.append(
            DoctorCheck("client-ip", "skipped", t["client-unknown"], t["client-unknown-advice"])
        )
    else:
        checks.append(_client_check(t, ip, local, seen, seen_from, proxy is not None))
        # 4. reverse DNS and HELO, 5. blocklists: the auth module's checks
        zones = tuple(opts.dnsbls) if opts.dnsbls is not None else default_dnsbls()
        ptr, *listed = await asyncio.gather(
            check_ptr(lookup, ip, helo), *(check_dnsbl(lookup, ip, z) for z in zones)
        )
        checks.extend(_ptr_checks(t, ip, helo, ptr))
        checks.append(_dnsbl_check(t, ip, listed))
    return DoctorReport(
        domain,
        tuple(checks),
        tuple(attempts),
        local_ip=local,
        seen_ip=seen,
        seen_from=seen_from,
        route=proxy.shown if proxy is not None else None,
    )


def _ehlo_client_ip(line: str) -> str | None:
    """The client address an EHLO greeting quotes ("mx.google.com at your service,
    [192.0.2.9]", Exim's "Hello probe [192.0.2.9]")."""
    import ipaddress
    import re

    for m in re.finditer(r"\[([0-9a-fA-F:.]+)\]", line):
        try:
            return str(ipaddress.ip_address(m.group(1)))
        except ValueError:
            continue
    return None


def _port25_check(
    t: dict[str, str], domain: str, attempts: list[Attempt], blocked: bool, port: int
) -> DoctorCheck:
    if not attempts:
        return DoctorCheck("port25", "warning", t["port25-no-mx"].format(domain=domain))
    greeted = [a for a in attempts if a.steps and a.steps[0].reply is not None]
    if greeted:
        first = greeted[0]
        return DoctorCheck(
            "port25",
            "ok",
            t["port25-ok"].format(
                port=port,
                host=first.host,
                ip=first.address,
                count=len(greeted),
                total=len(attempts),
            ),
        )
    if all(a.error_kind == "proxy" for a in attempts):
        return DoctorCheck(
            "port25",
            "problem",
            t["port25-proxy"].format(error=attempts[0].error),
            t["port25-proxy-advice"],
        )
    if blocked:
        text = t["port25-blocked"].format(count=len(attempts), port=port)
        return DoctorCheck("port25", "problem", text, t["port25-blocked-advice"])
    errors = "; ".join(f"{a.host} [{a.address}]: {a.error}" for a in attempts)
    return DoctorCheck(
        "port25", "warning", t["port25-failed"].format(errors=errors), t["port25-failed-advice"]
    )


def _client_check(
    t: dict[str, str],
    ip: str,
    local: str | None,
    seen: str | None,
    seen_from: str | None,
    proxied: bool,
) -> DoctorCheck:
    import ipaddress

    if seen and local and seen != local:
        return DoctorCheck(
            "client-ip",
            "warning",
            t["client-nat"].format(seen=seen, local=local, how=t[f"seen-{seen_from}"]),
        )
    if seen:
        return DoctorCheck(
            "client-ip", "ok", t["client-seen"].format(ip=seen, how=t[f"seen-{seen_from}"])
        )
    if proxied:
        return DoctorCheck("client-ip", "warning", t["client-proxied"], t["client-unknown-advice"])
    if ipaddress.ip_address(ip).is_private and not ipaddress.ip_address(ip).is_loopback:
        return DoctorCheck(
            "client-ip", "warning", t["client-private"].format(ip=ip), t["client-unknown-advice"]
        )
    return DoctorCheck("client-ip", "ok", t["client-local"].format(ip=ip))


def _ptr_checks(t: dict[str, str], ip: str, helo: str, ptr: Any) -> list[DoctorCheck]:
    out = []
    if ptr.error:
        out.append(DoctorCheck("ptr", "warning", t["ptr-error"].format(ip=ip, error=ptr.error)))
    elif not ptr.names:
        out.append(DoctorCheck("ptr", "problem", t["ptr-none"].format(ip=ip), t["ptr-advice"]))
    elif not ptr.confirmed:
        names = ", ".join(ptr.names)
        out.append(
            DoctorCheck(
                "ptr", "problem", t["ptr-unconfirmed"].format(ip=ip, names=names), t["ptr-advice"]
            )
        )
    else:
        out.append(DoctorCheck("ptr", "ok", t["ptr-ok"].format(ip=ip, name=ptr.confirmed[0])))
    if ptr.helo_matches is False:
        out.append(
            DoctorCheck(
                "helo", "warning", t["helo-mismatch"].format(helo=helo, ip=ip), t["helo-advice"]
            )
        )
    elif ptr.helo_matches:
        out.append(DoctorCheck("helo", "ok", t["helo-ok"].format(helo=helo, ip=ip)))
    return out


def _dnsbl_check(t: dict[str, str], ip: str, results: list[Any]) -> DoctorCheck:
    listed = [r for r in results if r.listed]
    failed = [r for r in results if r.listed is None]
    if listed:
        zones = ", ".join(r.zone for r in listed)
        return DoctorCheck(
            "dnsbl", "problem", t["dnsbl-listed"].format(ip=ip, zones=zones), t["dnsbl-advice"]
        )
    if failed and len(failed) == len(results):
        return DoctorCheck("dnsbl", "warning", t["dnsbl-failed"].format(ip=ip))
    return DoctorCheck("dnsbl", "ok", t["dnsbl-ok"].format(ip=ip, count=len(results) - len(failed)))
