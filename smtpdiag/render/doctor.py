"""`smtpdiag doctor`: its report as text and as JSON (pure)."""

from __future__ import annotations

from typing import Any

from smtpdiag.core.model import SCHEMA_VERSION
from smtpdiag.render.text import Style, escape, plain

_MARK = {
    "ok": ("ok", "ok"),
    "problem": ("!!", "bad"),
    "warning": ("??", "warn"),
    "skipped": ("--", "dim"),
}


def doctor_dict(report: Any) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "doctor": True,
        "domain": report.domain,
        "exit_code": report.exit_code,
        "local_ip": report.local_ip,
        "seen_ip": report.seen_ip,
        "seen_from": report.seen_from,
        "route": report.route,
        "checks": [
            {"id": c.id, "status": c.status, "text": c.text, "advice": c.advice or None}
            for c in report.checks
        ],
        "connections": [
            {
                "host": a.host,
                "address": a.address,
                "port": a.port,
                "greeting": a.steps[0].reply.text if a.steps and a.steps[0].reply else None,
                "error": a.error,
                "error_kind": a.error_kind,
                "elapsed_ms": a.elapsed_ms,
            }
            for a in report.attempts
        ],
    }


def render_doctor(report: Any, style: Style = plain) -> str:
    out = []
    for check in report.checks:
        mark, role = _MARK[check.status]
        out.append(style(f"[{mark}] {check.id:<9} {escape(check.text)}", role))
        if check.advice and check.status in ("problem", "warning", "skipped"):
            out.append(f"              -> {escape(check.advice)}")
    for a in report.attempts:
        greeting = a.steps[0].reply.text.splitlines()[0] if a.steps and a.steps[0].reply else ""
        what = escape(greeting or a.error or "")
        out.append(style(f"     {escape(a.host)} [{a.address}]:{a.port}  {what}", "dim"))
    return "\n".join(out) + "\n"
