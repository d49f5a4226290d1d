"""SMTP TLS Reporting (RFC 8460), the pure part: the ``_smtp._tls`` TXT record, and the
aggregate reports providers send (JSON, usually gzip'd), summarised per policy and per MX
with each failure type explained from the catalog (core/data/tlsrpt.toml).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from smtpdiag.core.errors import UsageError
from smtpdiag.core.records import record

#: a report bigger than this, once decompressed, is refused (real ones are a few KB)
MAX_REPORT_BYTES = 20 * 1024 * 1024


@record
class RptRecord:
    found: bool
    rua: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


def parse_record(texts: Sequence[str]) -> RptRecord:
    """RFC 8460 §3: exactly one TXT record starting ``v=TLSRPTv1``, with ``rua=`` one or
    more comma-separated ``mailto:`` or ``https:`` URIs."""
    found = [t for t in texts if t.replace(" ", "").startswith("v=TLSRPTv1")]
    if not found:
        return RptRecord(found=False)
    problems: list[str] = []
    if len(found) > 1:
        problems.append(f"{len(found)} v=TLSRPTv1 TXT records: there must be exactly one")
    fields: dict[str, str] = {}
    for part in found[0].split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    rua = tuple(u.strip() for u in fields.get("rua", "").split(",") if u.strip())
    if not rua:
        problems.append("no rua= (where reports go): reporters have nowhere to send them")
    for uri in rua:
        scheme = uri.partition(":")[0].lower()
        if scheme not in ("mailto", "https"):
            problems.append(f"rua {uri!r}: only mailto: and https: are allowed")
        elif scheme == "mailto" and "@" not in uri:
            problems.append(f"rua {uri!r}: a mailto: needs an address")
    return RptRecord(found=True, rua=rua, problems=tuple(problems))


# -- reports ------------------------------------------------------------------------------


@record
class Failure:
    result_type: str
    count: int
    sending_ip: str | None
    mx: str | None
    receiving_ip: str | None
    detail: str | None  # additional-information / failure-reason-code
    title: str
    meaning: str
    fix: str


@record
class PolicyResult:
    policy_type: str  # sts | tlsa | no-policy-found
    policy_domain: str
    mx_hosts: tuple[str, ...]
    successes: int
    failures: int
    details: tuple[Failure, ...]
    per_mx: tuple[tuple[str, int], ...]  # failed sessions by receiving MX


@record
class TlsReport:
    organization: str
    report_id: str
    start: str
    end: str
    contact: str | None
    policies: tuple[PolicyResult, ...]

    @property
    def failures(self) -> int:
        return sum(p.failures for p in self.policies)


def read_report(data: bytes) -> Any:
    """The report's JSON, from plain or gzip'd bytes (UsageError for anything else)."""
    if data[:2] == b"\x1f\x8b":
        import zlib

        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = d.decompress(data, MAX_REPORT_BYTES + 1)
        except zlib.error as exc:
            raise UsageError(f"the TLS report is not valid gzip: {exc}") from None
        if len(data) > MAX_REPORT_BYTES:
            raise UsageError("the TLS report is over 20 MB once decompressed")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"the TLS report is not JSON (RFC 8460 §4): {exc}") from None


@functools.cache
def _catalog(lang: str) -> dict[str, dict[str, str]]:
    from smtpdiag.core.datafiles import load

    data = load("smtpdiag.core.data", "tlsrpt")
    base = data["en"]
    own = data.get(lang) or {}
    return {k: {**v, **own.get(k, {})} for k, v in base.items()}


def explain_result_type(result_type: str, lang: str = "en") -> dict[str, str]:
    table = _catalog(lang)
    return table.get(result_type) or {
        **table["unknown"],
        "title": f"{result_type} ({table['unknown']['title']})",
    }


def summarise(doc: Any, lang: str = "en") -> TlsReport:
    """RFC 8460 §4.4's report as per-policy totals and explained failures."""
    if not isinstance(doc, dict) or "policies" not in doc:
        raise UsageError("not an RFC 8460 TLS report: no 'policies' list")
    date = _dict(doc.get("date-range"))
    policies: list[PolicyResult] = []
    for entry in doc.get("policies") or []:
        if not isinstance(entry, dict):
            continue
        policy = _dict(entry.get("policy"))
        summary = _dict(entry.get("summary"))
        details: list[Failure] = []
        per_mx: dict[str, int] = {}
        for item in entry.get("failure-details") or []:
            if not isinstance(item, dict):
                continue
            kind = str(item.get("result-type", "unknown"))
            count = _int(item.get("failed-session-count"))
            mx = _str(item.get("receiving-mx-hostname"))
            card = explain_result_type(kind, lang)
            extra = item.get("additional-information") or item.get("failure-reason-code")
            details.append(
                Failure(
                    kind,
                    count,
                    _str(item.get("sending-mta-ip")),
                    mx,
                    _str(item.get("receiving-ip")),
                    _str(extra),
                    card["title"],
                    card["meaning"],
                    card["fix"],
                )
            )
            key = mx or _str(item.get("receiving-ip")) or "?"
            per_mx[key] = per_mx.get(key, 0) + count
        policies.append(
            PolicyResult(
                policy_type=str(policy.get("policy-type", "?")),
                policy_domain=str(policy.get("policy-domain", "?")),
                mx_hosts=tuple(str(m) for m in policy.get("mx-host") or []),
                successes=_int(summary.get("total-successful-session-count")),
                failures=_int(summary.get("total-failure-session-count")),
                details=tuple(sorted(details, key=lambda f: -f.count)),
                per_mx=tuple(sorted(per_mx.items(), key=lambda kv: -kv[1])),
            )
        )
    return TlsReport(
        organization=str(doc.get("organization-name", "?")),
        report_id=str(doc.get("report-id", "?")),
        start=str(date.get("start-datetime", "?")),
        end=str(date.get("end-datetime", "?")),
        contact=_str(doc.get("contact-info")),
        policies=tuple(policies),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _str(value: Any) -> str | None:
    return None if value is None else str(value)[:500]
