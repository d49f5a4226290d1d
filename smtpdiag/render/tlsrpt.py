"""A TLS report (RFC 8460) as text and as JSON (pure)."""

from __future__ import annotations

from typing import Any

from smtpdiag.core.model import SCHEMA_VERSION
from smtpdiag.core.tlsrpt import TlsReport
from smtpdiag.render.text import Style, escape, plain, ui


def report_dict(report: TlsReport) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "tls_report": {
            "organization": report.organization,
            "report_id": report.report_id,
            "start": report.start,
            "end": report.end,
            "contact": report.contact,
            "failures": report.failures,
            "policies": [
                {
                    "policy_type": p.policy_type,
                    "policy_domain": p.policy_domain,
                    "mx_hosts": list(p.mx_hosts),
                    "successes": p.successes,
                    "failures": p.failures,
                    "failures_by_mx": dict(p.per_mx),
                    "details": [
                        {
                            "result_type": f.result_type,
                            "count": f.count,
                            "sending_ip": f.sending_ip,
                            "mx": f.mx,
                            "receiving_ip": f.receiving_ip,
                            "detail": f.detail,
                            "title": f.title,
                            "meaning": f.meaning,
                            "fix": f.fix,
                        }
                        for f in p.details
                    ],
                }
                for p in report.policies
            ],
        },
    }


def render_report(report: TlsReport, style: Style = plain, lang: str = "en") -> str:
    t = ui(lang)
    out = [
        style(
            t["tlsrpt_head"].format(
                org=escape(report.organization), start=escape(report.start), end=escape(report.end)
            ),
            "head",
        ),
        style(f"  report-id {escape(report.report_id)}", "dim"),
    ]
    for p in report.policies:
        total = p.successes + p.failures
        role = "ok" if not p.failures else "bad"
        out.append("")
        out.append(
            style(
                t["tlsrpt_policy"].format(
                    type=escape(p.policy_type),
                    domain=escape(p.policy_domain),
                    ok=p.successes,
                    failed=p.failures,
                    total=total,
                ),
                role,
            )
        )
        if p.mx_hosts:
            out.append(style("    mx: " + escape(", ".join(p.mx_hosts)), "dim"))
        for mx, count in p.per_mx:
            out.append(f"    {escape(mx)}: {t['tlsrpt_failed'].format(count=count)}")
        for f in p.details:
            ip = f"[{f.receiving_ip}]" if f.receiving_ip else ""
            where = " ".join(x for x in (f.mx, ip) if x)
            line = f"  - {escape(f.result_type)}: {escape(f.title)}, {f.count} session(s)"
            out.append(style(f"{line}  {escape(where)}", "warn"))
            out.append(f"      {escape(f.meaning)}")
            out.append(f"      -> {escape(f.fix)}")
            if f.detail:
                out.append(style(f"      ({escape(f.detail)})", "dim"))
    return "\n".join(out) + "\n"
