"""Renderers for the authentication report: JSON objects and a text block."""

from __future__ import annotations

import dataclasses
from typing import Any

from .auth import AuthReport, Finding
from .render import Style, escape, plain
from .spf import SpfResult


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


def auth_dict(report: AuthReport | None, finding: Finding | None = None) -> dict[str, Any] | None:
    if report is None:
        return None
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
        "finding": None if finding is None else dataclasses.asdict(finding),
    }


def render_auth(
    report: AuthReport, style: Style = plain, finding: Finding | None = None
) -> list[str]:
    out: list[str] = []
    s = report.spf
    if s is not None:
        if report.spf_evaluated:
            head = f"SPF {s.result} for {s.sender} from {s.ip}"
            role = {"pass": "ok", "none": "warn", "neutral": "warn"}.get(s.result, "bad")
        else:
            head = f"SPF record of {s.domain} (not evaluated: give --ip)"
            role = "head"
        out.append(style(head, role))
        out.append(f"  record: {escape(s.record) if s.record else '(none)'}")
        if report.spf_evaluated and s.mechanism:
            out.append(f"  decided by: {escape(s.mechanism)}")
        if s.explanation:
            out.append(f"  explanation: {escape(s.explanation)}")
        out.append(f"  DNS-querying terms: {s.lookups}/10, void lookups: {s.void_lookups}/2")
        for t in s.trace:
            if t.term == "(record)":
                continue
            mark = "match" if t.matched else "no match"
            line = f"    {'  ' * t.depth}{escape(t.domain)}: {escape(t.term)} -> {mark}"
            out.append(style(line, "dim"))
        for p in s.problems:
            out.append(style(f"  ! {escape(p)}", "warn"))
    d = report.dmarc
    if d is not None:
        if d.record:
            out.append(style(f"DMARC {d.location}: p={d.policy} (from {d.policy_source}=)", "head"))
            out.append(f"  record: {escape(d.record)}")
            out.append(
                f"  alignment: DKIM {d.alignment_dkim}, SPF {d.alignment_spf}"
                + ("; testing mode" if d.testing else "")
            )
        else:
            out.append(style(f"DMARC: no record for {d.domain}", "warn"))
        for p in d.problems:
            out.append(style(f"  ! {escape(p)}", "warn"))
    if report.dkim:
        for k in report.dkim:
            if k.found:
                size = f"{k.key_type} {k.bits} bits" if k.bits else f"{k.key_type}"
                state = "REVOKED" if k.revoked else size
                out.append(f"DKIM {k.name}: {state}" + (" (testing)" if k.testing else ""))
                for p in k.problems:
                    out.append(style(f"  ! {escape(p)}", "warn"))
            elif k.error:
                out.append(style(f"DKIM {k.name}: {k.error}", "warn"))
    for p in report.problems:
        out.append(style(f"! {escape(p)}", "warn"))
    if report.ptr is not None:
        ptr = report.ptr
        names = ", ".join(ptr.names) or "(none)"
        ok = "forward-confirmed" if ptr.confirmed else "NOT forward-confirmed"
        out.append(f"Reverse DNS of {ptr.ip}: {escape(names)} ({ok})")
        for p in ptr.problems:
            out.append(style(f"  ! {escape(p)}", "warn"))
    for b in report.dnsbl:
        if b.listed:
            meaning = "; ".join(f"{a} {m}" for a, m in zip(b.answers, b.meanings, strict=False))
            out.append(style(f"LISTED on {b.name} ({b.zone}): {meaning}", "bad"))
            if b.text:
                out.append(f"  {escape(b.text)}")
            if b.delist:
                out.append(f"  delisting: {b.delist}")
        elif b.listed is None:
            out.append(style(f"{b.name} ({b.zone}): {b.error}", "warn"))
        else:
            out.append(style(f"not listed on {b.name} ({b.zone})", "dim"))
    return out


def auth_summary(report: AuthReport) -> str:
    """One line when the report explains nothing: what was checked, for the record."""
    parts = []
    s = report.spf
    if s is not None and report.spf_evaluated:
        parts.append(f"SPF {s.result} for {s.sender} from {s.ip}")
    if report.dmarc is not None:
        d = report.dmarc
        parts.append(f"DMARC p={d.policy}" if d.record else "no DMARC record")
    listed = [b.name for b in report.dnsbl if b.listed]
    unchecked = [b for b in report.dnsbl if b.listed is None]
    if listed:
        parts.append(f"listed on {', '.join(listed)}")
    elif report.dnsbl and len(unchecked) == len(report.dnsbl):
        parts.append("blocklists could not be queried")
    elif report.dnsbl:
        parts.append(f"on none of {len(report.dnsbl) - len(unchecked)} blocklists checked")
    return "auth checks (none explains this refusal): " + "; ".join(parts)
