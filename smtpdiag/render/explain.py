"""Renderers for ``explain`` and ``compare``: text (the reference-page layout) and JSON."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from smtpdiag.core import catalog
from smtpdiag.core.classify import PatternInfo
from smtpdiag.core.explanation import (
    Card,
    Comparison,
    Explanation,
    MessageExplanation,
    RecipientExplanation,
)
from smtpdiag.core.model import SCHEMA_VERSION, Classification
from smtpdiag.render.text import Style, escape, plain, ui

if TYPE_CHECKING:
    from smtpdiag.core.bounce import AuthVerdict


def card_dict(c: Card) -> dict[str, Any]:
    return dataclasses.asdict(c)


def explanation_dict(e: Explanation, lang: str) -> dict[str, Any]:
    cls = e.classification
    return {
        "schema": SCHEMA_VERSION,
        "lang": lang,
        "input": e.input,
        "kind": e.kind,
        "code": e.code,
        "enhanced": e.enhanced,
        "text": e.text,
        "stage": e.stage,
        "reason": cls.reason,
        "confidence": cls.confidence,
        "evidence": cls.evidence,
        "rule": cls.rule,
        "title": e.title,
        "meaning": e.meaning,
        "provider": None if e.pattern is None else dataclasses.asdict(e.pattern),
        "known": e.known,
        "cards": [card_dict(c) for c in e.cards],
    }


def comparison_dict(c: Comparison, lang: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "lang": lang,
        "title": c.title,
        "intro": c.intro,
        "codes": [card_dict(c.a), card_dict(c.b)],
        "differences": list(c.differences),
        "which_applies_when": list(c.which),
        "learn_more": list(c.learn_more),
    }


def _sections(card: Card, cat: catalog.Catalog, style: Style) -> list[str]:
    """The reference page's three sections of one code: description, when, how to fix."""
    out: list[str] = []
    for field in ("description", "when", "fix"):
        out.extend([style(cat.heading(field), "head"), "", getattr(card, field), ""])
    return out


def _card_lines(c: Card, lang: str, style: Style, with_title: bool = True) -> list[str]:
    cat = catalog.load(lang)
    out: list[str] = []
    if with_title:
        prefix = "SMTP " if c.kind == "basic" else ""
        out.append(style(f"{prefix}{c.key} {c.title}", "head") + f"  ({c.class_name})")
        out.append("")
    out.extend(_sections(c, cat, style))
    out.append(f"{cat.heading('actor')}: {c.actor_text}")
    out.append(f"{cat.heading('retry')}: {c.retry}")
    out.append(f"{cat.heading('reference')}: {c.rfc}")
    return out


def _reason_lines(
    t: dict[str, str],
    cls: Classification,
    title: str,
    meaning: str,
    pattern: PatternInfo | None,
    style: Style,
) -> list[str]:
    """The reason, its title and confidence, the evidence, and the meaning (unless a
    provider pattern's explanation follows)."""
    out = [
        style(f"{t['classified_as']}: {cls.reason}", "warn")
        + f"  {title}  ({t['confidence']}: {cls.confidence})",
        f"{t['evidence']}: {escape(cls.evidence)}",
    ]
    if meaning and pattern is None:
        out.append(meaning)
    return out


def render_explanation(e: Explanation, lang: str = "en", style: Style = plain) -> str:
    t = ui(lang)
    cls = e.classification
    out: list[str] = []
    if e.kind == "text":
        shown = f"{e.code} {e.text}" if e.code is not None else (e.text or "")
        out.append(style(f"{t['reply']}: ", "head") + escape(_shorten(shown)))
        if e.code is not None or e.enhanced:
            code = " ".join(str(x) for x in (e.code, e.enhanced) if x is not None)
            out.append(f"{t['code']}: {code}")
        out.append(f"{t['stage']}: {e.stage or t['stage_unknown']}")
        out.extend(_reason_lines(t, cls, e.title, e.meaning, e.pattern, style))
        if e.pattern is not None:
            out.append("")
            out.append(style(f"{t['known_pattern']} ({e.pattern.provider})", "head"))
            out.append(e.pattern.explanation)
            out.append(f"{t['remedy']}: {e.pattern.remedy}")
            out.append(f"{t['source']}: {e.pattern.source}")
    elif not e.known:
        key = e.enhanced or str(e.code)
        out.append(t["no_entry"].format(code=key))
        if e.kind == "basic" and e.code is not None:
            out.append(t["not_a_code"].format(code=e.code))
    for c in e.cards:
        if out:
            out.append("")
        out.extend(_card_lines(c, lang, style))
    if e.kind != "text" and e.known:
        out.append(f"{t['classified_as']}: {cls.reason}")
    return "\n".join(out).rstrip() + "\n"


def render_comparison(c: Comparison, lang: str = "en", style: Style = plain) -> str:
    cat = catalog.load(lang)
    t = cat.data.get("templates", {})
    out = [style("SMTP", "dim"), "", style(c.title, "head"), "", c.intro, ""]
    for card in (c.a, c.b):
        out.append(
            style(str(t.get("section", "{code}")).format(code=card.key, title=card.title), "head")
        )
        out.append("")
        out.extend(_sections(card, cat, style))
    out.append(style(cat.heading("differences"), "head"))
    out.append("")
    for i, diff in enumerate(c.differences, 1):
        out.append(f"{i}. {diff}")
    out.append("")
    out.append(style(cat.heading("which"), "head"))
    out.append("")
    out.append(" ".join(c.which))
    out.append("")
    out.append(style(cat.heading("learn_more"), "head"))
    out.append("")
    out.extend(c.learn_more)
    return "\n".join(out) + "\n"


def _shorten(text: str, width: int = 400) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# -- whole bounce messages ---------------------------------------------------------------


def _verdict_dict(v: AuthVerdict) -> dict[str, Any]:
    return dataclasses.asdict(v)


def _verdicts_text(verdicts: tuple[AuthVerdict, ...]) -> str:
    parts = []
    for v in verdicts:
        detail = f" ({v.detail})" if v.detail else ""
        by = f" by {v.authserv_id}" if v.authserv_id else ""
        parts.append(f"{v.method}={v.result}{detail}{by}")
    return escape("; ".join(parts))


def recipient_dict(r: RecipientExplanation) -> dict[str, Any]:
    rc = r.recipient
    cls = r.classification
    return {
        "address": rc.address,
        "original_recipient": rc.original_recipient,
        "action": rc.action,
        "status": rc.status,
        "remote_mta": rc.remote_mta,
        "diagnostic": rc.diagnostic,
        "diagnostic_type": rc.diagnostic_type,
        "last_attempt_date": rc.last_attempt,
        "will_retry_until": rc.will_retry_until,
        "text": rc.text or None,
        "found_in": rc.source,
        "code": r.code,
        "enhanced": r.enhanced,
        "stage": r.stage,
        "reply": r.reply,
        "reason": cls.reason,
        "confidence": cls.confidence,
        "evidence": cls.evidence,
        "rule": cls.rule,
        "title": r.title,
        "meaning": r.meaning,
        "expired": r.expired,
        "provider": None if r.pattern is None else dataclasses.asdict(r.pattern),
        "auth": [_verdict_dict(v) for v in r.auth],
        "cards": [card_dict(c) for c in r.cards],
    }


def message_dict(m: MessageExplanation, lang: str) -> dict[str, Any]:
    b = m.bounce
    o = b.original
    return {
        "schema": SCHEMA_VERSION,
        "lang": lang,
        "input": "message",
        "kind": b.kind,
        "format": b.format,
        "reason": m.reason,
        "subject": b.subject,
        "from": b.from_,
        "date": b.date,
        "reporting_mta": b.reporting_mta,
        "arrival_date": b.arrival_date,
        "received_from_mta": b.received_from_mta,
        "forwarded": b.forwarded,
        "original": None
        if o is None
        else {
            "from": o.from_,
            "to": o.to,
            "subject": o.subject,
            "date": o.date,
            "message_id": o.message_id,
            "return_path": o.return_path,
            "found_in": o.source,
            "auth": [_verdict_dict(v) for v in o.auth],
            "dkim_domains": list(o.dkim_domains),
        },
        "auth_failures": [_verdict_dict(v) for v in m.auth_failures],
        "recipients": [recipient_dict(r) for r in m.recipients],
        "notes": list(b.notes),
    }


def _indent(lines: list[str], prefix: str = "   ") -> list[str]:
    return [f"{prefix}{line}" if line else "" for line in lines]


def _compact_card(c: Card, lang: str, style: Style) -> list[str]:
    cat = catalog.load(lang)
    prefix = "SMTP " if c.kind == "basic" else ""
    return [
        style(f"{prefix}{c.key} {c.title}", "head") + f"  ({c.class_name})",
        f"  {cat.heading('description')}: {c.description}",
        f"  {cat.heading('fix')}: {c.fix}",
        f"  {cat.heading('actor')}: {c.actor_text}",
    ]


def render_message(m: MessageExplanation, lang: str = "en", style: Style = plain) -> str:
    t = ui(lang)
    b = m.bounce
    out: list[str] = [style(t.get(f"msg_kind_{b.kind}", b.kind), "head")]
    facts = [f"{t['msg_format']}: {b.format}"]
    if b.reporting_mta:
        facts.append(f"{t['msg_reported_by']}: {escape(b.reporting_mta)}")
    if b.arrival_date:
        facts.append(f"{t['msg_arrived']}: {escape(b.arrival_date)}")
    out.append("  ".join(facts))
    if b.forwarded:
        out.append(f"({t['msg_forwarded']})")
    for label, value in (("msg_subject", b.subject), ("msg_from", b.from_), ("msg_date", b.date)):
        if value:
            out.append(f"{t[label]}: {escape(value)}")
    o = b.original
    if o is not None:
        out.append("")
        out.append(style(f"{t['msg_returned']}:", "head"))
        for label, value in (
            ("From", o.from_),
            ("To", o.to),
            ("Subject", o.subject),
            ("Date", o.date),
            ("Message-ID", o.message_id),
        ):
            if value:
                out.append(f"  {label}: {escape(value)}")
        if o.auth:
            out.append(f"  {t['msg_original_auth']}: {_verdicts_text(o.auth)}")
    for note in b.notes:
        out.append(f"{t['msg_note']}: {escape(note)}")
    if m.recipients:
        out.append("")
        out.append(style(t["msg_recipients"].format(count=len(m.recipients)), "head"))
    for i, r in enumerate(m.recipients, 1):
        out.append("")
        out.extend(_recipient_lines(i, r, lang, style))
    return "\n".join(out).rstrip() + "\n"


def _recipient_lines(i: int, r: RecipientExplanation, lang: str, style: Style) -> list[str]:
    t = ui(lang)
    rc = r.recipient
    cls = r.classification
    action = t.get(f"msg_action_{rc.action}", rc.action or "") if rc.action else ""
    what = ", ".join(x for x in (action, rc.status) if x)
    role = "bad" if rc.action in (None, "failed") else ("warn" if rc.action == "delayed" else "ok")
    out = [style(f"{i}. {escape(rc.address)}", role) + (f"  ({what})" if what else "")]
    body: list[str] = []
    if rc.original_recipient and rc.original_recipient.lower() != rc.address.lower():
        body.append(f"{t['msg_original_recipient']}: {escape(rc.original_recipient)}")
    if rc.remote_mta:
        body.append(f"{t['msg_remote_mta']}: {escape(rc.remote_mta)}")
    diagnostic = rc.diagnostic or _flat_text(rc.text)
    body.append(
        f"{t['msg_diagnostic']}: {escape(_shorten(diagnostic, 600))}"
        if diagnostic
        else t["msg_no_diagnostic"]
    )
    dates = []
    if rc.last_attempt:
        dates.append(f"{t['msg_last_attempt']}: {escape(rc.last_attempt)}")
    if rc.will_retry_until:
        dates.append(f"{t['msg_retry_until']}: {escape(rc.will_retry_until)}")
    if dates:
        body.append("; ".join(dates))
    if r.stage:
        body.append(f"{t['stage']}: {r.stage}")
    body.extend(_reason_lines(t, cls, r.title, r.meaning, r.pattern, style))
    if r.expired:
        body.append(t["msg_expired"])
    if r.auth:
        body.append(style(t["msg_auth_tie"].format(verdicts=_verdicts_text(r.auth)), "warn"))
    if r.pattern is not None:
        body.append(f"{t['known_pattern']} ({escape(r.pattern.provider)}): {r.pattern.explanation}")
        body.append(f"{t['remedy']}: {r.pattern.remedy}")
        body.append(style(f"{t['source']}: {r.pattern.source}", "dim"))
    for c in r.cards:
        body.extend(_compact_card(c, lang, style))
    out.extend(_indent(body))
    return out


def _flat_text(text: str) -> str:
    return " ".join(line.strip() for line in text.split("\n") if line.strip())
