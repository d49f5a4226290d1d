"""Renderers for the authentication report: JSON objects and a text block."""

from __future__ import annotations

import dataclasses
from typing import Any

from smtpdiag.auth.findings import AuthReport, Finding
from smtpdiag.auth.spf import SpfResult
from smtpdiag.render.text import Style, escape, plain


def spf_dict(s: SpfResult | None, evaluated: bool) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "result": s.result if evaluated else None,
        "domain": s.domain,
        "ip": s.ip if evaluated else None,
        "sender": s.sender,
        "record": s.record,
        "mechanism": s.mechanism if evaluated else None,
        "explanation": s.explanation if evaluated else None,
        "lookups": s.lookups,
        "void_lookups": s.void_lookups,
        "include_costs": [{"domain": d, "lookups": n} for d, n in s.include_costs],
        "trace": [
            {
                "domain": t.domain,
                "term": t.term,
                "depth": t.depth,
                "matched": t.matched,
                "queries": list(t.queries),
                "note": t.note,
            }
            for t in s.trace
        ],
        "problems": list(s.problems),
        "error": s.error,
        "evaluated": evaluated,
    }


def auth_dict(
    report: AuthReport | None,
    finding: Finding | None = None,
    built: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The ``auth`` object of the JSON; ``built``: :func:`report_dict` of ``report``, if
    the caller has it."""
    if report is None:
        return None
    base = built if built is not None else _report_dict(report)
    return {**base, "finding": None if finding is None else dataclasses.asdict(finding)}


#: the last reports rendered (kept with the report itself, so an id is never reused)
_BUILT: dict[int, tuple[AuthReport, dict[str, Any]]] = {}


def report_dict(report: AuthReport) -> dict[str, Any]:
    """:func:`auth_dict` without the finding, built once per report: a list run attaches
    one report to every refusal it explains."""
    hit = _BUILT.get(id(report))
    if hit is not None and hit[0] is report:
        return hit[1]
    built = _report_dict(report)
    if len(_BUILT) >= 64:
        _BUILT.pop(next(iter(_BUILT)))
    _BUILT[id(report)] = (report, built)
    return built


def _report_dict(report: AuthReport) -> dict[str, Any]:
    return {
        "domain": report.domain,
        "spf_domain": report.spf_domain,
        "sender": report.sender,
        "ip": report.ip,
        "helo": report.helo,
        "spf": spf_dict(report.spf, report.spf_evaluated),
        "dmarc": None
        if report.dmarc is None
        else {
            **{
                k: v
                for k, v in dataclasses.asdict(report.dmarc).items()
                if k not in ("destinations", "queries", "problems")
            },
            "destinations": [dataclasses.asdict(d) for d in report.dmarc.destinations],
            "problems": list(report.dmarc.problems),
        },
        "dkim": [dataclasses.asdict(k) | {"tags": dict(k.tags)} for k in report.dkim],
        "ptr": None if report.ptr is None else dataclasses.asdict(report.ptr),
        "dnsbl": [dataclasses.asdict(b) for b in report.dnsbl],
        "problems": list(report.problems),
        "mta_sts_record": None
        if report.mta_sts is None
        else {
            "found": report.mta_sts.found,
            "id": report.mta_sts.id,
            "problems": list(report.mta_sts.problems),
        },
        "tls_rpt_record": None
        if report.tls_rpt is None
        else {
            "found": report.tls_rpt.found,
            "rua": list(report.tls_rpt.rua),
            "problems": list(report.tls_rpt.problems),
        },
        "dane": _dane(report.dane),
    }


def _dane(dane: Any) -> Any:
    from smtpdiag.render.text import dane_json

    return dane_json(dane)


def _t(lang: str) -> dict[str, str]:
    from smtpdiag.core import catalog

    base = catalog.load("en").data.get("auth", {})
    own = catalog.load(lang).data.get("auth", {}) if lang != "en" else {}
    return {**base, **own}


def render_auth(
    report: AuthReport, style: Style = plain, finding: Finding | None = None, lang: str = "en"
) -> list[str]:
    t = _t(lang)
    out: list[str] = []
    s = report.spf
    if s is not None:
        if report.spf_evaluated:
            head = t["spf_head"].format(result=s.result, sender=s.sender, ip=s.ip)
            role = {"pass": "ok", "none": "warn", "neutral": "warn"}.get(s.result, "bad")
        else:
            head = t["spf_unevaluated"].format(domain=s.domain)
            role = "head"
        out.append(style(escape(head), role))
        out.append(f"  {t['record']}: {escape(s.record) if s.record else t['none']}")
        if report.spf_evaluated and s.mechanism:
            out.append(f"  {t['decided_by']}: {escape(s.mechanism)}")
        if s.explanation:
            out.append(f"  {t['explanation']}: {escape(s.explanation)}")
        out.append("  " + t["lookups"].format(lookups=s.lookups, void=s.void_lookups))
        for step in s.trace:
            if step.term == "(record)":
                continue
            mark = t["match"] if step.matched else t["no_match"]
            line = f"    {'  ' * step.depth}{escape(step.domain)}: {escape(step.term)} -> {mark}"
            out.append(style(line, "dim"))
        for p in s.problems:
            out.append(style(f"  ! {escape(p)}", "warn"))
    d = report.dmarc
    if d is not None:
        if d.record:
            head = t["dmarc_head"].format(
                location=d.location, policy=d.policy, source=d.policy_source
            )
            out.append(style(escape(head), "head"))
            out.append(f"  {t['record']}: {escape(d.record)}")
            alignment = t["dmarc_alignment"].format(dkim=d.alignment_dkim, spf=d.alignment_spf)
            out.append("  " + alignment + (f"; {t['testing_mode']}" if d.testing else ""))
        else:
            out.append(style(escape(t["dmarc_none"].format(domain=d.domain)), "warn"))
        for p in d.problems:
            out.append(style(f"  ! {escape(p)}", "warn"))
    for k in report.dkim:
        if k.found:
            size = t["bits"].format(type=k.key_type, bits=k.bits) if k.bits else f"{k.key_type}"
            state = t["revoked"] if k.revoked else size
            out.append(
                f"DKIM {escape(k.name)}: {state}" + (f" {t['testing']}" if k.testing else "")
            )
            for p in k.problems:
                out.append(style(f"  ! {escape(p)}", "warn"))
        elif k.error:
            out.append(style(f"DKIM {escape(k.name)}: {k.error}", "warn"))
    for p in report.problems:
        out.append(style(f"! {escape(p)}", "warn"))
    if report.ptr is not None:
        ptr = report.ptr
        names = ", ".join(ptr.names) or t["none"]
        state = t["fcrdns_yes"] if ptr.confirmed else t["fcrdns_no"]
        out.append(escape(t["ptr_head"].format(ip=ptr.ip, names=names, state=state)))
        for p in ptr.problems:
            out.append(style(f"  ! {escape(p)}", "warn"))
    for b in report.dnsbl:
        if b.listed:
            meaning = "; ".join(f"{a} {m}" for a, m in zip(b.answers, b.meanings, strict=False))
            line = t["listed"].format(name=b.name, zone=b.zone, meaning=meaning)
            out.append(style(escape(line), "bad"))
            if b.text:
                out.append(f"  {escape(b.text)}")
            if b.delist:
                out.append(f"  {t['delisting']}: {b.delist}")
        elif b.listed is None:
            out.append(style(escape(f"{b.name} ({b.zone}): {b.error}"), "warn"))
        else:
            out.append(style(escape(t["not_listed"].format(name=b.name, zone=b.zone)), "dim"))
    out.extend(_transport_records(report, style, t, lang))
    return out


def _transport_records(report: AuthReport, style: Style, t: dict[str, str], lang: str) -> list[str]:
    """The MTA-STS and TLS-RPT records (smtpdiag auth; a probe's report has none)."""
    out: list[str] = []
    sts, rpt = report.mta_sts, report.tls_rpt
    if sts is not None:
        if not sts.found:
            out.append(style(t["sts_none"], "dim"))
        elif sts.problems:
            out.append(style("MTA-STS: " + escape("; ".join(sts.problems)), "bad"))
        else:
            out.append(escape(t["sts_ok"].format(id=sts.id)))
    if rpt is not None:
        if not rpt.found:
            out.append(style(t["rpt_none"], "dim"))
        elif rpt.problems:
            out.append(style("TLS-RPT: " + escape("; ".join(rpt.problems)), "bad"))
        else:
            out.append(escape(t["rpt_ok"].format(rua=", ".join(rpt.rua))))
    if report.dane is not None:
        from smtpdiag.render.text import dane_lines, ui

        out.extend(dane_lines(report.dane, style, ui(lang), indent=""))
    return out


def auth_summary(report: AuthReport, lang: str = "en") -> str:
    """One line when the report explains nothing: what was checked, for the record."""
    t = _t(lang)
    parts = []
    s = report.spf
    if s is not None and report.spf_evaluated:
        parts.append(t["spf_head"].format(result=s.result, sender=s.sender, ip=s.ip))
    if report.dmarc is not None:
        d = report.dmarc
        parts.append(f"DMARC p={d.policy}" if d.record else t["summary_no_dmarc"])
    listed = [b.name for b in report.dnsbl if b.listed]
    unchecked = [b for b in report.dnsbl if b.listed is None]
    if listed:
        parts.append(t["summary_listed"].format(names=", ".join(listed)))
    elif report.dnsbl and len(unchecked) == len(report.dnsbl):
        parts.append(t["summary_unqueried"])
    elif report.dnsbl:
        parts.append(t["summary_clean"].format(count=len(report.dnsbl) - len(unchecked)))
    return escape(t["summary"].format(parts="; ".join(parts)))
